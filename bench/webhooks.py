"""Webhooks' cost, in one run of a few minutes:

    python -m bench.webhooks [--seconds 10] [--members 2000] [--backlog 10000] [--out FILE]

Starts the split topology (services.stack.launcher.SplitStack: registry, one claims process,
nginx) on fresh databases `mutualaid_benchhooks_*` (dropped at the end) and a receiver on
loopback (tests.webhook_receiver: answers 200 to everything), then:

- claim filing (`POST /api/v1/claims` with wrk, bench/wrk/claims.lua, as bench.run) with no
  subscription, then with one subscription to every claim event at the receiver, the same
  run: the ratio of the two rates (target: at least 0.90; the worker shares the claims
  process' CPU with the requests);
- the delivery rate of a backlog: `--backlog` events written to the outbox at once (one
  subscription), the seconds until every delivery is delivered, events per second.

Prints ONE JSON object."""

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.loads import THREADS, figures, wrk
from bench.run import STAY_GAP_DAYS, ensure_tools, seed
from services.kit.auth import issue_token
from services.kit.clock import now, today
from services.kit.ids import new_id, new_ids
from services.kit.settings import DEVELOPMENT_JWT_SECRET
from services.stack.gateway.nginx import GatewaySettings
from services.stack.launcher import SplitStack, free_port, run_async
from tests.claims.support_webhooks import new_secret
from tests.webhook_receiver import WebhookReceiver

TARGET_RATIO = 0.90
PREFIX = "mutualaid_benchhooks"


async def drop_databases(postgres: str) -> None:
    connection = await asyncpg.connect(postgres)
    try:
        for service in ("members", "claims"):
            await connection.execute(f'DROP DATABASE IF EXISTS "{PREFIX}_{service}" WITH (FORCE)')
    finally:
        await connection.close()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def subscribe(claims_url: str, url: str) -> None:
    connection = await asyncpg.connect(_dsn(claims_url))
    try:
        at = now()
        await connection.execute(
            "INSERT INTO webhook_subscription (id, url, events, unit_id, secret, enabled, "
            "created_by, created_role, created_at, updated_at) "
            "VALUES ($1, $2, $3, NULL, $4, true, 'bench', 'admin', $5, $5)",
            new_id("whk"), url, json.dumps(["claim.filed", "claim.approved", "claim.rejected",
            "claim.needs_info", "claim.paid", "claim.payment_returned"]), new_secret(), at,
        )  # fmt: skip
    finally:
        await connection.close()


async def drain(claims_url: str, backlog: int) -> dict[str, Any]:
    """`backlog` events of one claim in the outbox at once; seconds until all delivered."""
    connection = await asyncpg.connect(_dsn(claims_url))
    try:
        await connection.execute("UPDATE webhook_event SET dispatched_at = now()")
        await connection.execute("TRUNCATE webhook_attempt, webhook_delivery")
        claim = await connection.fetchrow("SELECT id, member_id, unit_id FROM claim LIMIT 1")
        at = now()
        payload = json.dumps({"type": "claim.filed", "timestamp": at.isoformat(), "data": {}})
        rows = [
            (
                event_id,
                "claim.filed",
                claim["id"],
                claim["unit_id"],
                claim["member_id"],
                payload,
                at,
            )
            for event_id in new_ids("evt", backlog)
        ]
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "webhook_event",
            records=rows,
            columns=["id", "type", "claim_id", "unit_id", "member_id", "payload", "created_at"],
        )
        while True:
            delivered = await connection.fetchval(
                "SELECT count(*) FROM webhook_delivery WHERE status = 'delivered'"
            )
            if delivered >= backlog or time.perf_counter() - started > 600:
                break
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
    finally:
        await connection.close()
    return {
        "events": backlog,
        "delivered": delivered,
        "seconds": round(seconds, 2),
        "events_per_second": round(delivered / seconds),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_tools("nginx", "wrk")
    run_async(lambda: drop_databases(args.postgres))
    run_dir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-hooks-"))
    receiver = WebhookReceiver()
    receiver.start()
    stack = SplitStack(
        args.postgres,
        run_dir=run_dir,
        port=free_port(),
        database_prefix=PREFIX,
        gateway=GatewaySettings(rate_per_second=1_000_000, burst=1_000_000),
    )
    token = issue_token(DEVELOPMENT_JWT_SECRET, role="admin", sub="bench-admin")
    admin = {"Authorization": f"Bearer {token}"}
    result: dict[str, Any] = {}
    try:
        with stack:
            url = stack.gateway_url
            data = run_async(lambda: seed(url, args.members, 1, admin))
            members_file = run_dir / "members.txt"
            members_file.write_text("\n".join(data["members"]) + "\n")
            day0 = datetime(today().year, 2, 1, tzinfo=UTC)
            next_claim = 0

            def filing(seconds: float) -> dict[str, Any]:
                nonlocal next_claim
                claims_args = [
                    *(str(members_file), data["plan_code"], token, str(next_claim)),
                    *(str(THREADS), str(int(day0.timestamp())), str(STAY_GAP_DAYS)),
                ]
                run = wrk(url + "/api/v1/claims", "claims.lua", seconds, claims_args)
                next_claim += run["requests"] + 1_000
                return figures(run)

            filing(2)  # warm-up
            without = filing(args.seconds)
            run_async(lambda: subscribe(stack.claims_url, f"{receiver.url}/bench"))
            with_one = filing(args.seconds)
            ratio = with_one["requests_per_second"] / without["requests_per_second"]
            result["filing_without_subscriptions"] = without
            result["filing_with_one_subscription"] = with_one
            result["filing_ratio"] = {
                "value": round(ratio, 3),
                "target": TARGET_RATIO,
                "pass": ratio >= TARGET_RATIO,
            }
            time.sleep(3)  # the filing's own deliveries sent
            result["backlog"] = run_async(lambda: drain(stack.claims_url, args.backlog))
    finally:
        receiver.stop()
        run_async(lambda: drop_databases(args.postgres))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
