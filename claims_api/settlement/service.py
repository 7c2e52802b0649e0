"""Claims from settlement data (免申即享): a month of hospital stays in one upload, each row
filed as a claim by the system on the member's behalf (DOMAIN.md, "Claims from settlement
data").

Set-based, like the registry's enrolment import, in the request's one transaction:

0. a replayed Idempotency-Key is answered before anything is read (routes.py), and the
   plan asked of the registry: unknown or of the wrong kind refuses the file (`settled_plan`);
1. the file is read and measured (routes.py), then checked row by row (parsing.py: in a
   worker thread, `settlement_lookup_chunk` rows at a time);
2. the registry is asked who the people are and what covers each stay on its admission day,
   once per chunk of rows as it is parsed, two calls in flight, before any lock or statement
   (`look_up`): the registry down at any chunk is a 503, the plan's rules changed since step 0
   a 409, and nothing is stored;
3. the member/plan locks of every member of the file are taken, in sorted order
   (repository.lock_members_plan): a single filing of one of them waits, and caps hold;
4. what the stored claims say is read in bulk, one query per kind (settlement numbers,
   enrolments' usage, live stays: repository);
5. each row is decided in memory as the single claim would be (checks.py), a member's rows in
   order of admission;
6. the claims, events, invoice numbers and audit events are written in bulk (writing.py),
   DECIDE_CHUNK claims at a time as they are decided (`_decide`), and one audit event
   records the import with its totals.

A dry run does 0 to 2, 4 and 5 (no lock, no Idempotency-Key) and answers the same."""

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from claims_api.audit import audit
from claims_api.claims import repository
from claims_api.coverage_answers import (
    CoverageLookupAnswers,
    CoverageLookupItem,
    CoveredPlan,
    same_rules,
)
from claims_api.members_client import MembersClient
from claims_api.problems import SETTLEMENT_PLAN_KIND
from claims_api.settlement.checks import Assessor, Decision, RowResult, Stored, screen
from claims_api.settlement.parsing import SettlementRow, parse_rows
from claims_api.settlement.results import answer_json, result_of, totals_of
from claims_api.settlement.writing import ImportContext, Writer
from services.kit.auth import Principal
from services.kit.clock import now, today
from services.kit.ids import new_id, new_ids
from services.kit.memory import gc_paused
from services.kit.middleware import current_request_id
from services.kit.uploads import Table

log = structlog.get_logger()

DECIDE_CHUNK = 2_000
"""Claims decided, made and written at a time (step 5 and 6): two chunks' rows in memory."""
LOOKUPS_IN_FLIGHT = 2
"""Coverage look-ups sent at once: the registry's work on one overlaps this process's reading
of another's answer (one process each: more would only queue)."""
SETTLED_KINDS = ("hospital_reimbursement", "daily_allowance")
"""A settlement row is a hospital stay: a plan paying for a diagnosis takes none."""


class Phases:
    """Where an import's time went, in seconds by phase, logged with its totals (the event
    `settlement_import`): parse, lookups (the registry's calls, their answers read), reads
    (locks and the stored claims' queries), checks (screening), engine, rows (the claims'
    rows made), writes (COPY: the time waited for it, the next chunk's engine and rows made
    meanwhile in a worker thread), answer."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        return {f"{name}_seconds": round(value, 3) for name, value in self.seconds.items()}


@dataclass
class Prepared:
    """A file read and checked, with the registry's answer for each row that is valid."""

    plan_code: str
    table: Table
    rows: list[SettlementRow]
    found: dict[int, Any]
    """The registry's answer by line."""
    phases: Phases


async def _ask(
    client: MembersClient, principal: Principal, plan_code: str, rows: list[SettlementRow]
) -> CoverageLookupAnswers:
    items = [CoverageLookupItem(national_id=row.national_id, on=row.admitted_on) for row in rows]
    return await client.coverage_lookup(
        plan_code,
        items,
        authorization=f"Bearer {principal.bearer_token}",
        request_id=current_request_id(),
    )


async def settled_plan(client: MembersClient, principal: Principal, plan_code: str) -> CoveredPlan:
    """The plan, asked of the registry before the file is read: unknown (404) or not one
    that pays for hospital stays (422) refuses the file whatever its rows."""
    plan = (await _ask(client, principal, plan_code, [])).plan
    if plan.kind not in SETTLED_KINDS:
        raise SETTLEMENT_PLAN_KIND.error(
            f"plan {plan_code} is a {plan.kind} plan: settlement data (hospital stays) is "
            "filed under a hospital_reimbursement or daily_allowance plan"
        )
    return plan


async def look_up(
    client: MembersClient,
    principal: Principal,
    plan: CoveredPlan,
    table: Table,
    chunk: int,
) -> Prepared:
    """Steps 1 and 2: no database here. The rows are parsed `chunk` at a time in a worker
    thread, each chunk's people asked as soon as it is parsed, LOOKUPS_IN_FLIGHT calls at
    once: the registry answers one while this process parses the next rows or reads the
    answer before. A row's errors are its own (the file as a whole was checked already).
    Every call must answer on `plan`'s rules (read by `settled_plan`): a change of them
    midway is PLAN_CHANGED, so that no file is assessed on two versions of the rules."""
    phases = Phases()
    started = time.perf_counter()
    plan_code = plan.code

    async def ask(part: list[SettlementRow]) -> CoverageLookupAnswers:
        return await _ask(client, principal, plan_code, part)

    rows: list[SettlementRow] = []
    found: dict[int, Any] = {}
    calls: deque[tuple[list[SettlementRow], asyncio.Task[list[Any]]]] = deque()

    async def read_oldest() -> None:
        part, call = calls.popleft()
        answers = await call
        same_rules(plan, answers.plan)
        for answer in answers.results:
            found[part[answer.index].line] = answer

    unparsed, table.rows = table.rows, []  # each chunk's text let go once parsed
    try:
        while unparsed:
            piece = unparsed[:chunk]
            del unparsed[:chunk]
            with phases.timed("parse"):
                parsed = await run_in_threadpool(parse_rows, piece)
            del piece
            rows.extend(parsed)
            asked = [row for row in parsed if not row.errors]
            if asked:
                if len(calls) >= LOOKUPS_IN_FLIGHT:
                    await read_oldest()
                calls.append((asked, asyncio.ensure_future(ask(asked))))
        while calls:
            await read_oldest()
    finally:
        for _, call in calls:  # the registry down at one call: the others are not waited for
            call.cancel()
    # what the look-ups add to the parsing they overlap
    phases.seconds["lookups"] = time.perf_counter() - started - phases.seconds["parse"]
    return Prepared(plan_code, table, rows, found, phases)


def _members_of(prepared: Prepared) -> list[str]:
    return sorted(
        {
            answer.coverage.member.id
            for answer in prepared.found.values()
            if answer.found and answer.coverage is not None
        }
    )


async def apply(
    session: AsyncSession,
    principal: Principal,
    prepared: Prepared,
    *,
    dry_run: bool,
    source: dict[str, Any],
) -> str:
    """Steps 3 to 6 (3 and 6 not on a dry run); answers the JSON text of the answer.
    `source`: the file's name and SHA-256, kept in the audit event. `prepared` is used up:
    its rows and answers are let go as they are decided."""
    plan_code, rows, phases = prepared.plan_code, prepared.rows, prepared.phases
    row_range = [rows[0].line, rows[-1].line] if rows else None
    members = _members_of(prepared)
    with phases.timed("reads"):
        if not dry_run:
            await repository.lock_members_plan(session, members, plan_code)
        numbers = [r.settlement_number for r in rows if r.settlement_number and not r.errors]
        filed_numbers = await repository.filed_numbers(session, plan_code, numbers)
    with phases.timed("checks"):
        outcomes, candidates = screen(rows, prepared.found, filed_numbers)
    prepared.rows, prepared.found, rows = [], {}, []  # the candidates hold what is still needed
    enrollments = [coverage.cover.enrollment_id for _, coverage in candidates if coverage.cover]
    with phases.timed("reads"):
        stored = Stored(
            usage=await repository.usage_of(session, enrollments),
            filed_numbers=filed_numbers,
            stays=await repository.live_stays(session, plan_code, members),
        )
    assessor = Assessor(stored, today())
    import_id = None if dry_run else new_id("imp")
    at = now()
    writer, context = None, None
    if import_id is not None:
        writer = Writer((await session.connection()).dialect)
        context = ImportContext(
            import_id=import_id,
            plan_code=plan_code,
            filename=source.get("filename"),
            principal=principal,
            request_id=current_request_id(),
            at=at,
            filed_on=today(),
        )
    with gc_paused():
        decided = await _decide(session, assessor, candidates, writer, context, dry_run, phases)
    results = _merge(outcomes, decided)
    totals = totals_of(results)
    if import_id is not None:
        await audit.record(
            session,
            principal,
            action="claim.import",
            entity="claim_import",
            entity_id=import_id,
            after={
                "plan_code": plan_code,
                **source,
                "format": prepared.table.format,
                "encoding": prepared.table.encoding,
                "row_range": row_range,
                "totals": totals,
                "created_at": at.isoformat(),
            },
        )
    header = {
        "import_id": import_id,
        "plan_code": plan_code,
        "dry_run": dry_run,
        "filename": source.get("filename"),
        "format": prepared.table.format,
        "encoding": prepared.table.encoding,
    }
    with phases.timed("answer"):
        answer = await run_in_threadpool(answer_json, header, totals, results)
    log.info("settlement_import", import_id=import_id, **totals, **phases.rounded())
    return answer


async def _decide(
    session: AsyncSession,
    assessor: Assessor,
    candidates: list[Any],
    writer: Writer | None,
    context: ImportContext | None,
    dry_run: bool,
    phases: Phases,
) -> list[RowResult]:
    """Steps 5 and 6, DECIDE_CHUNK claims at a time in the order they are decided: a worker
    thread decides a chunk and makes its rows while the chunk before is written (COPY), so
    that only two chunks' rows are ever held, and Postgres stores one while Python makes the
    next. The claims' ids ascend in that order (their index grows at its end). The results,
    by candidate: each decision's is kept, the decision let go once written."""
    order = assessor.order(candidates)
    ids = iter(new_ids("clm", len(candidates)))
    results: list[Any] = [None] * len(candidates)

    def step(indexes: list[int]) -> list[Any] | None:
        decisions = []
        with phases.timed("engine"):
            for i in indexes:
                row, coverage = candidates[i]
                candidates[i] = None  # its row and the registry's answer are not needed again
                item = assessor.decide(row, coverage, next(ids))
                if isinstance(item, Decision):
                    decisions.append(item)
                    item = result_of(item, dry_run)
                results[i] = item
        if writer is None:
            return None
        assert context is not None
        with phases.timed("rows"):
            return writer.prepare(decisions, context)

    chunks = [order[start : start + DECIDE_CHUNK] for start in range(0, len(order), DECIDE_CHUNK)]
    ahead = None
    for index, chunk in enumerate(chunks):
        with phases.timed("engine_and_rows_waited"):
            made = await (ahead or run_in_threadpool(step, chunk))
        ahead = None
        if index + 1 < len(chunks):
            ahead = asyncio.ensure_future(run_in_threadpool(step, chunks[index + 1]))
        if writer is not None:
            try:
                with phases.timed("writes"):
                    await writer.write(session, made)
            except BaseException:
                if ahead is not None:  # its thread runs on: let it end before the answer
                    await asyncio.wait([ahead])
                raise
        del made
    return results


def _merge(outcomes: list[RowResult | None], decided: list[RowResult]) -> list[RowResult]:
    """The results in the file's order: the screened ones, and the decided in their places."""
    later = iter(decided)
    return [next(later) if outcome is None else outcome for outcome in outcomes]
