"""Crash safety of the split topology, on a stack and a PostgreSQL server of this module's own
(tests/split_stack.py: running_stack, PrivatePostgres), read back straight from the claims
database:

- the claims process SIGKILLed in the middle of a burst of submissions: every acknowledged
  (2xx) claim is stored as answered, nothing is half stored, and a retry with the same
  Idempotency-Key replays or files, never twice;
- the claims process SIGKILLed in the middle of a payment batch: after the restart the whole
  batch exists or none of it, and the same request again pays once;
- PostgreSQL stopped and started under load: clean 503 problem+json meanwhile, never a 500 or
  a hang, and requests succeed again as soon as it is back, without restarting any service."""

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.kit.clock import today
from services.stack.launcher import SplitStack
from tests.cards import card_number
from tests.dates import COVER_START
from tests.split_stack import PrivatePostgres, owner, running_stack
from tests.support import ADMIN, FINANCE, REVIEWER, bearer, plan_body, valid_national_id

pytestmark = pytest.mark.e2e

READ_TIMEOUT_SECONDS = 10  # the gateway's: a 300-claim batch takes well under a second
CLIENT_TIMEOUT_SECONDS = READ_TIMEOUT_SECONDS + 5  # past it, a request "hangs"
LIVE = {"submitted", "pending_review", "needs_info", "approved", "paid"}
_serial = itertools.count(1)


# --- the stack ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(private_postgres: PrivatePostgres) -> PrivatePostgres:
    return private_postgres


@pytest.fixture(scope="module")
def stack(
    postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SplitStack]:
    # One claims process: "the claims process" dies, and nginx, which never holds its only
    # server out after a failure, routes to it again as soon as it is back.
    with running_stack(
        tmp_path_factory.mktemp("crash"),
        kind="crash",
        claims_replicas=1,
        postgres_url=postgres.url,
        rate_per_second=10_000,  # the rate limit is not what these tests are about
        burst=10_000,
        read_timeout_seconds=READ_TIMEOUT_SECONDS,
        registry_timeout_seconds=READ_TIMEOUT_SECONDS - 2,
    ) as stack:
        yield stack


@asynccontextmanager
async def gateway_client(stack: SplitStack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=CLIENT_TIMEOUT_SECONDS, limits=limits
    ) as client:
        yield client


@asynccontextmanager
async def claims_db(stack: SplitStack) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(stack.claims_url)
    try:
        yield connection
    finally:
        await connection.close()


def claims_replicas(stack: SplitStack) -> list[str]:
    return [name for name in stack.service_names if owner(name) == "claims"]


def kill_claims(stack: SplitStack) -> None:
    for name in claims_replicas(stack):
        stack.kill(name)


async def restart_claims(stack: SplitStack, client: httpx.AsyncClient) -> None:
    """Start every claims replica again and wait until the gateway routes to them (nginx
    leaves a replica that refused a connection alone for its fail_timeout, 5 s)."""

    def start() -> None:
        for name in claims_replicas(stack):
            stack.restart(name, wait=False)
        for name in claims_replicas(stack):
            stack.wait_ready(name)

    await asyncio.to_thread(start)
    deadline = time.monotonic() + 10
    while (await client.get("/api/v1/claims?limit=1", headers=ADMIN)).status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not route to claims again"
        await asyncio.sleep(0.2)


async def poll(
    probe: Callable[[], Awaitable[Any]], what: str, within: float = 15.0, interval: float = 0.0
) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(interval)


# --- claims to file -------------------------------------------------------------------------


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, f"{response.request.url}: {response.text}"
    return response.json()


async def new_plan(client: httpx.AsyncClient, auto_approve_limit: str | None) -> tuple[str, str]:
    """A unit and a plan whose caps no test here reaches; claims up to `auto_approve_limit`
    are approved at once (by "system", not by the finance officer who pays them), the others
    wait for a reviewer."""
    unit = created(
        await client.post(
            "/api/v1/units", json={"name": "包头钢铁公司", "insured_headcount": 500}, headers=ADMIN
        )
    )
    body = plan_body(f"CRASH{uuid.uuid4().hex[:6].upper()}-{today().year}")
    body["benefit"]["term_cap_per_share"] = "1000000"
    body["benefit"]["per_stay_cap_per_share"] = "1000000"
    body["auto_approve_limit"] = auto_approve_limit
    plan = created(await client.post("/api/v1/plans", json=body, headers=ADMIN))
    return unit["id"], plan["code"]


async def new_members(
    client: httpx.AsyncClient, unit_id: str, plan_code: str, count: int
) -> list[str]:
    async def one() -> str:
        member = created(
            await client.post(
                "/api/v1/members",
                json={"national_id": valid_national_id(), "name": "张伟", "unit_id": unit_id},
                headers=ADMIN,
            )
        )
        card = {"account_name": "张伟", "account_number": card_number(), "bank_name": "中国银行"}
        account = await client.put(
            f"/api/v1/members/{member['id']}/payout-account", json=card, headers=ADMIN
        )
        assert account.status_code == 200, account.text
        created(
            await client.post(
                "/api/v1/enrollments",
                json={
                    "member_id": member["id"],
                    "plan_code": plan_code,
                    "shares": 1,
                    "starts_on": str(COVER_START),
                },
                headers=ADMIN,
            )
        )
        return member["id"]

    return list(await asyncio.gather(*(one() for _ in range(count))))


@dataclass(frozen=True)
class Filing:
    """One claim to file: the member's `index`-th stay of the year (stays never overlap)."""

    member_id: str
    plan_code: str
    index: int
    out_of_pocket: str
    key: str
    invoice: str

    @classmethod
    def new(cls, member_id: str, plan_code: str, index: int, out_of_pocket: str) -> "Filing":
        serial = next(_serial)
        return cls(
            member_id,
            plan_code,
            index,
            out_of_pocket,
            key=f"crash-{uuid.uuid4().hex}",
            # As the service keeps them: upper case.
            invoice=f"INV-CRASH-{serial:05d}-{uuid.uuid4().hex[:8].upper()}",
        )

    def body(self) -> dict[str, Any]:
        admitted = COVER_START + timedelta(days=1 + 3 * self.index)
        insurance, self_pay = Decimal("1000.00"), Decimal("100.00")
        total = insurance + Decimal(self.out_of_pocket) + self_pay
        return {
            "member_id": self.member_id,
            "plan_code": self.plan_code,
            "facts": {
                "admitted_on": str(admitted),
                "discharged_on": str(admitted + timedelta(days=1)),
                "hospital": "内蒙古医科大学附属医院",
                "diagnosis_codes": ["K35.8"],
                "invoice_numbers": [self.invoice],
                "total_cost": str(total),
                "insurance_paid": str(insurance),
                "out_of_pocket_in_policy": self.out_of_pocket,
                "self_pay": str(self_pay),
            },
        }

    async def file(self, client: httpx.AsyncClient) -> httpx.Response:
        headers = {**bearer("member", member_id=self.member_id), "Idempotency-Key": self.key}
        return await client.post("/api/v1/claims", json=self.body(), headers=headers)


async def approved_claims(
    client: httpx.AsyncClient, members: int, each: int, *, by_reviewer: bool = False
) -> tuple[list[str], Decimal]:
    """members x each claims, all approved: at once by the plan's auto-approval limit, or by a
    reviewer (never the finance officer who pays them); their ids and the sum of their
    payouts."""
    limit = None if by_reviewer else "100000.00"
    unit_id, plan_code = await new_plan(client, auto_approve_limit=limit)
    member_ids = await new_members(client, unit_id, plan_code, members)
    filings = [
        Filing.new(member_id, plan_code, index, "1500.00")
        for member_id in member_ids
        for index in range(each)
    ]
    gate = asyncio.Semaphore(12)

    async def file(filing: Filing) -> dict[str, Any]:
        async with gate:
            claim = created(await filing.file(client))
            if by_reviewer:
                assert claim["status"] == "pending_review", claim["status"]
                decision = await client.post(
                    f"/api/v1/claims/{claim['id']}/decision",
                    json={"decision": "approve", "reason": "invoices checked"},
                    headers=REVIEWER,
                )
                assert decision.status_code == 200, decision.text
                claim = decision.json()
            return claim

    claims = await asyncio.gather(*(file(f) for f in filings))
    assert {c["status"] for c in claims} == {"approved"}, {c["status"] for c in claims}
    total = sum((Decimal(c["assessment"]["payable"]) for c in claims), Decimal("0.00"))
    return [c["id"] for c in claims], total


# --- what the claims database holds -----------------------------------------------------------


async def stored_claims(db: asyncpg.Connection, plan_code: str) -> dict[str, asyncpg.Record]:
    """invoice number -> the claim filed with it, its history, its held invoices, its audit."""
    rows = await db.fetch(
        """
        SELECT c.id, c.status, c.payable, c.paid_on,
               ARRAY(SELECT json_array_elements_text(c.facts -> 'invoice_numbers')) AS asked,
               ARRAY(SELECT e.to_status FROM claim_event e
                     WHERE e.claim_id = c.id ORDER BY e.id) AS history,
               ARRAY(SELECT i.invoice_number FROM claim_invoice i
                     WHERE i.claim_id = c.id ORDER BY 1) AS held,
               (SELECT count(*) FROM audit_event a
                 WHERE a.entity = 'claim' AND a.entity_id = c.id
                   AND a.action = 'claim.submit') AS audited
        FROM claim c WHERE c.plan_code = $1
        """,
        plan_code,
    )
    by_invoice: dict[str, asyncpg.Record] = {}
    for row in rows:
        assert len(row["asked"]) == 1, row
        assert row["asked"][0] not in by_invoice, f"two claims hold {row['asked'][0]}"
        by_invoice[row["asked"][0]] = row
    return by_invoice


def assert_whole(row: asyncpg.Record) -> None:
    """A claim is stored with everything its status implies, or not at all."""
    history = list(row["history"])
    assert history and history[0] == "submitted", f"{row['id']}: history {history}"
    assert history[-1] == row["status"], f"{row['id']}: {row['status']} after {history}"
    held = list(row["held"])
    if row["status"] in LIVE:
        assert held == sorted(row["asked"]), f"{row['id']}: holds {held}, asked {row['asked']}"
    else:
        assert held == [], f"{row['id']} is {row['status']} and still holds {held}"
    assert row["audited"] == 1, f"{row['id']}: {row['audited']} claim.submit audit events"


async def idempotency_records(db: asyncpg.Connection, keys: set[str]) -> dict[str, asyncpg.Record]:
    rows = await db.fetch(
        "SELECT key, status_code, response_body FROM idempotency_record WHERE key = ANY($1)",
        list(keys),
    )
    return {row["key"]: row for row in rows}


# --- a burst of submissions -------------------------------------------------------------------


class TestClaimsKilledDuringABurst:
    async def test_every_acknowledged_claim_is_stored_and_nothing_half(
        self, stack: SplitStack
    ) -> None:
        async with gateway_client(stack) as client:
            unit_id, plan_code = await new_plan(client, auto_approve_limit="500.00")
            members = await new_members(client, unit_id, plan_code, 6)
            # Small stays are approved at once, larger ones wait for a reviewer: both kinds of
            # history are in flight when the processes die.
            filings = [
                Filing.new(member, plan_code, index, "1500.00" if index % 2 else "3500.00")
                for member in members
                for index in range(10)
            ]
            answers: dict[str, httpx.Response | Exception] = {}
            unanswered_at_kill: list[int] = []
            gate = asyncio.Semaphore(20)

            async def file(filing: Filing) -> None:
                async with gate:
                    try:
                        answers[filing.key] = await filing.file(client)
                    except httpx.HTTPError as exc:  # the gateway stays up: not expected
                        answers[filing.key] = exc
                acknowledged = sum(
                    1 for a in answers.values() if isinstance(a, httpx.Response) and a.is_success
                )
                if acknowledged >= 10 and not unanswered_at_kill:
                    unanswered_at_kill.append(len(filings) - len(answers))
                    kill_claims(stack)  # SIGKILL, as a crash would

            started = time.monotonic()
            await asyncio.gather(*(file(f) for f in filings))
            assert time.monotonic() - started < CLIENT_TIMEOUT_SECONDS
            assert unanswered_at_kill and unanswered_at_kill[0] > 0, "the kill came too late"

            ok = {
                k: a for k, a in answers.items() if isinstance(a, httpx.Response) and a.is_success
            }
            refused = {k: a for k, a in answers.items() if k not in ok}
            assert ok and refused, {k: getattr(a, "status_code", a) for k, a in answers.items()}
            for answer in refused.values():
                # What the gateway answers for a replica that died or is down: a clean 503.
                assert isinstance(answer, httpx.Response), repr(answer)
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")

            await restart_claims(stack, client)

            by_key = {f.key: f for f in filings}
            async with claims_db(stack) as db:
                stored = await stored_claims(db, plan_code)
                records = await idempotency_records(db, set(by_key))
            for row in stored.values():
                assert_whole(row)
            for key, answer in ok.items():
                assert isinstance(answer, httpx.Response)
                row = stored.get(by_key[key].invoice)
                assert row is not None, f"acknowledged claim {answer.json()['id']} is missing"
                assert (row["id"], row["status"]) == (answer.json()["id"], answer.json()["status"])
            # Each stored claim has its key with the answer that was (or would have been) sent,
            # and no key is left without its claim: they are one transaction.
            stored_keys = {f.key for f in filings if f.invoice in stored}
            assert set(records) == stored_keys
            for key, record in records.items():
                assert record["status_code"] == 201
                assert (
                    json.loads(record["response_body"])["id"] == stored[by_key[key].invoice]["id"]
                )

            # The refused ones, again with the same key: a claim that was stored although its
            # answer was lost is replayed, the others are filed now; none is filed twice.
            retried = await asyncio.gather(*(by_key[key].file(client) for key in refused))
            for key, answer in zip(refused, retried, strict=True):
                body = created(answer)
                earlier = stored.get(by_key[key].invoice)
                if earlier is not None:
                    assert answer.headers.get("idempotent-replayed") == "true"
                    assert body["id"] == earlier["id"]
            async with claims_db(stack) as db:
                final = await stored_claims(db, plan_code)
            assert set(final) == {f.invoice for f in filings}
            for row in final.values():
                assert_whole(row)


# --- a payment batch --------------------------------------------------------------------------

# The statements of a payment batch's transaction from its batch row to its commit (the
# idempotency key and the claims' row locks come before: killed there, nothing was written).
BATCH_WRITES = (
    r"^\s*(INSERT INTO (payout_batch|payout_entry|claim_event|audit_event)"
    r"|UPDATE claim SET|UPDATE idempotency_record|SELECT .* FROM payout_entry)"
)


async def batch_writer(db: asyncpg.Connection) -> asyncpg.Record | None:
    """The backend writing a payment batch, if one is between its first write and its commit."""
    return await db.fetchrow(
        """
        SELECT pid, state, wait_event_type, left(query, 80) AS query FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND backend_xid IS NOT NULL AND query ~* $1
        """,
        BATCH_WRITES,
    )


async def backend_gone(db: asyncpg.Connection, pid: int) -> None:
    """PostgreSQL ends the backend of a connection whose client died (rolling its transaction
    back) once it next talks to it."""

    async def gone() -> bool:
        alive = await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
        return alive == 0

    await poll(gone, f"backend {pid} to end", interval=0.02)


@dataclass(frozen=True)
class Batch:
    claim_ids: list[str]
    total: Decimal
    key: str
    reference: str

    def body(self) -> dict[str, Any]:
        return {"claim_ids": self.claim_ids, "paid_on": str(today()), "reference": self.reference}

    async def pay(self, client: httpx.AsyncClient) -> httpx.Response:
        headers = {**FINANCE, "Idempotency-Key": self.key}
        return await client.post("/api/v1/payouts", json=self.body(), headers=headers)

    async def stored(self, db: asyncpg.Connection) -> str | None:
        """The batch's id if all of it is stored, None if none of it is; anything in between
        fails the test."""
        batches = await db.fetch("SELECT id FROM payout_batch WHERE reference = $1", self.reference)
        entries = await db.fetch(
            "SELECT batch_id, claim_id, entry_kind, amount FROM payout_entry"
            " WHERE claim_id = ANY($1)",
            self.claim_ids,
        )
        claims = await db.fetch(
            """
            SELECT c.id, c.status, c.paid_on, c.payable,
                   ARRAY(SELECT e.to_status FROM claim_event e
                         WHERE e.claim_id = c.id ORDER BY e.id) AS history
            FROM claim c WHERE c.id = ANY($1)
            """,
            self.claim_ids,
        )
        audited = await db.fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'payout.create'"
            " AND entity_id = ANY($1)",
            [b["id"] for b in batches],
        )
        key = await db.fetchrow(
            "SELECT status_code, response_body FROM idempotency_record WHERE key = $1", self.key
        )
        assert len(claims) == len(self.claim_ids)
        if not batches:
            assert entries == [], f"{len(entries)} ledger entries without their batch"
            for claim in claims:
                assert claim["status"] == "approved" and claim["paid_on"] is None, dict(claim)
                assert claim["history"][-1] == "approved", dict(claim)
            assert key is None, "the batch's Idempotency-Key is stored without its batch"
            return None
        [batch] = batches
        assert len(entries) == len(self.claim_ids), f"{len(entries)} of {len(self.claim_ids)}"
        assert {e["batch_id"] for e in entries} == {batch["id"]}
        assert {e["entry_kind"] for e in entries} == {"payment"}
        assert sorted(e["claim_id"] for e in entries) == sorted(self.claim_ids)
        assert sum(e["amount"] for e in entries) == sum(c["payable"] for c in claims)
        assert Decimal(sum(e["amount"] for e in entries)) / 100 == self.total  # whole fen
        for claim in claims:
            assert claim["status"] == "paid" and claim["paid_on"] == today(), dict(claim)
            assert claim["history"][-2:] == ["approved", "paid"], dict(claim)
        assert audited == 1
        assert key is not None and key["status_code"] == 201
        answer = json.loads(key["response_body"])
        assert answer["id"] == batch["id"] and Decimal(answer["total"]) == self.total
        return batch["id"]

    async def paid_once_after_retries(
        self, client: httpx.AsyncClient, db: asyncpg.Connection
    ) -> None:
        """The same request again: it replays the stored batch, or pays now if none is stored;
        and once more: a replay. Never a second batch."""
        before = await self.stored(db)
        first = created(await self.pay(client))
        if before is not None:
            assert first["id"] == before
            assert first["total"] and Decimal(first["total"]) == self.total
        assert await self.stored(db) == first["id"]
        again = await self.pay(client)
        assert created(again)["id"] == first["id"]
        assert again.headers.get("idempotent-replayed") == "true"
        assert await self.stored(db) == first["id"]


async def approved_batch(
    client: httpx.AsyncClient, members: int, each: int, *, by_reviewer: bool = False
) -> Batch:
    claim_ids, total = await approved_claims(client, members, each, by_reviewer=by_reviewer)
    tag = uuid.uuid4().hex[:12]
    return Batch(claim_ids, total, key=f"crash-pay-{tag}", reference=f"BANK-CRASH-{tag}")


def assert_not_acknowledged(response: httpx.Response) -> None:
    """The gateway's answer for a replica that died while it held the request."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


class TestClaimsKilledDuringAPaymentBatch:
    async def test_killed_while_the_batch_is_written_it_is_all_or_nothing(
        self, stack: SplitStack
    ) -> None:
        """300 claims in one batch; SIGKILL as soon as PostgreSQL shows the batch's writes
        under way (between its first write and its commit)."""
        async with gateway_client(stack) as client, claims_db(stack) as db:
            batch = await approved_batch(client, members=30, each=10)
            paying = asyncio.create_task(batch.pay(client))

            async def writing() -> asyncpg.Record | None:
                assert not paying.done(), f"the batch ended before the kill: {paying.result()}"
                return await batch_writer(db)

            writer = await poll(writing, "the batch's writes")
            kill_claims(stack)
            assert_not_acknowledged(await paying)
            await backend_gone(db, writer["pid"])
            await restart_claims(stack, client)

            await batch.stored(db)  # all or nothing
            await batch.paid_once_after_retries(client, db)

    async def test_killed_with_everything_written_but_not_committed_nothing_is_paid(
        self, stack: SplitStack
    ) -> None:
        """The worst moment, made certain: the batch row, every entry, every claim's change are
        written and the transaction waits (on a lock this test holds on the audit log) just
        before its commit when the process dies."""
        async with (
            gateway_client(stack) as client,
            claims_db(stack) as db,
            claims_db(stack) as blocker,
        ):
            batch = await approved_batch(client, members=4, each=10, by_reviewer=True)
            holding = blocker.transaction()
            await holding.start()
            await blocker.execute("LOCK TABLE audit_event IN SHARE MODE")
            try:
                paying = asyncio.create_task(batch.pay(client))

                async def waiting() -> asyncpg.Record | None:
                    assert not paying.done(), paying.result()
                    return await db.fetchrow(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_event%'"
                    )

                writer = await poll(waiting, "the batch to wait on the audit log", interval=0.01)
                written = await db.fetch(
                    "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                    " WHERE l.pid = $1 AND l.mode = 'RowExclusiveLock' AND l.granted",
                    writer["pid"],
                )
                assert {"payout_batch", "payout_entry", "claim_event", "claim"} <= {
                    row["relname"] for row in written
                }
                kill_claims(stack)
                assert_not_acknowledged(await paying)
            finally:
                await holding.rollback()
            await backend_gone(db, writer["pid"])
            await restart_claims(stack, client)

            assert await batch.stored(db) is None
            await batch.paid_once_after_retries(client, db)


# --- PostgreSQL restarted under load ----------------------------------------------------------


@dataclass
class Outcome:
    kind: str
    started: float
    ended: float
    status: int | None = None
    content_type: str = ""
    text: str = ""
    error: str = ""


class TestPostgresRestart:
    async def test_requests_get_clean_503s_meanwhile_and_succeed_once_it_is_back(
        self, stack: SplitStack, postgres: PrivatePostgres
    ) -> None:
        async with gateway_client(stack) as client:
            unit_id, plan_code = await new_plan(client, auto_approve_limit="500.00")
            members = await new_members(client, unit_id, plan_code, 4)
            claim = created(await Filing.new(members[0], plan_code, 0, "1500.00").file(client))
            pids = {name: stack.processes[name].pid for name in stack.service_names}
            stays = {member: itertools.count(1) for member in members}
            outcomes: list[Outcome] = []
            stopping = asyncio.Event()

            def request(kind: str, member: str) -> Awaitable[httpx.Response]:
                if kind == "coverage":
                    params = {"member_id": member, "plan_code": plan_code, "on": str(today())}
                    return client.get("/api/v1/coverage", params=params, headers=ADMIN)
                if kind == "claim":
                    return client.get(f"/api/v1/claims/{claim['id']}", headers=ADMIN)
                filing = Filing.new(member, plan_code, next(stays[member]), "1500.00")
                return filing.file(client)

            async def load(worker: int) -> None:
                kinds = itertools.cycle(["coverage", "claim", "submit"])
                for turn in itertools.count():
                    if stopping.is_set():
                        return
                    kind, member = next(kinds), members[(worker + turn) % len(members)]
                    outcome = Outcome(kind, time.monotonic(), 0.0)
                    try:
                        response = await request(kind, member)
                        outcome.status = response.status_code
                        outcome.content_type = response.headers.get("content-type", "")
                        outcome.text = response.text[:300]
                    except httpx.HTTPError as exc:  # a hang past the timeout, a reset
                        outcome.error = repr(exc)
                    outcome.ended = time.monotonic()
                    outcomes.append(outcome)

            def since(moment: float) -> list[Outcome]:
                return [o for o in outcomes if o.started > moment]

            async def healthz(status: int) -> bool:
                answers = [await client.get(f"/healthz/{s}") for s in ("members", "claims")]
                return all(a.status_code == status for a in answers)

            workers = [asyncio.create_task(load(n)) for n in range(6)]
            try:
                await poll(
                    lambda: _true(len([o for o in outcomes if o.status == 201]) >= 3), "load"
                )
                await asyncio.to_thread(postgres.stop)
                stopped = time.monotonic()
                try:
                    await poll(lambda: healthz(503), "/healthz to answer 503", interval=0.05)
                    await poll(lambda: _true(len(since(stopped)) >= 12), "requests meanwhile")
                finally:
                    restarting = time.monotonic()
                    await asyncio.to_thread(postgres.start)
                back = time.monotonic()
                await poll(lambda: _true(len(since(back)) >= 30), "requests afterwards")
            finally:
                stopping.set()
                await asyncio.gather(*workers)
            assert await healthz(200)

        # Never a 500, never a hang: a 2xx, or the clean 503 of a database that is away.
        for outcome in outcomes:
            assert not outcome.error, outcome
            assert outcome.ended - outcome.started < READ_TIMEOUT_SECONDS, outcome
            if outcome.status not in (200, 201):
                assert outcome.status == 503, outcome
                assert outcome.content_type.startswith("application/problem+json"), outcome
        meanwhile = [o for o in since(stopped) if o.ended < restarting]
        assert meanwhile and {o.status for o in meanwhile} == {503}, meanwhile
        # Back: every request succeeds at once, on the same processes (none restarted).
        afterwards = since(back)
        assert [o for o in afterwards if o.status not in (200, 201)] == []
        assert {o.kind for o in afterwards} == {"coverage", "claim", "submit"}
        assert {name: stack.processes[name].pid for name in stack.service_names} == pids
        assert all(stack.processes[name].running for name in stack.service_names)


async def _true(value: bool) -> bool:
    return value
