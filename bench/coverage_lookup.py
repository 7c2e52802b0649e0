"""How fast the registry answers the batch coverage look-up: 5,000 items against a registry
of 100,000 workers, on Postgres, beside 5,000 single GET /api/v1/coverage calls in the run.

    python bench/coverage_lookup.py [--members 100000] [--items 5000] [--repeat 3]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Creates a fresh database (dropped at the end), fills it through the registry's own import
(bench/import_100k.py: one unit, every worker enrolled), starts the registry app in-process
and posts POST /api/v1/coverage/lookup through httpx.ASGITransport (the whole HTTP path:
JSON parsing and validation, the two queries, each answer decided, the JSON answer): items
half by identity number, half by member id, 5% naming nobody, each on a random day of the
cover. Then the same items, one GET /api/v1/coverage each (by member id), one after
another. Prints one JSON line: items per second of each, and the batch's rate over the
singles' (`batch_to_single_ratio`); with --repeat, the fastest batch of the runs."""

import argparse
import asyncio
import json
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import import_100k  # noqa: E402
from members_api.app import create_app  # noqa: E402
from members_api.settings import MembersSettings  # noqa: E402

ADMIN = import_100k.ADMIN
PLAN = "BENCH-2026"


async def fill(url: str, members: int) -> None:
    """The registry of `members` workers, each enrolled in BENCH-2026: the import's own."""
    await import_100k.import_once(url, members)


async def workers(url: str) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT id, national_id FROM member ORDER BY id")
        cover = await connection.fetchrow("SELECT starts_on, ends_on FROM enrollment LIMIT 1")
    finally:
        await connection.close()
    workers.cover = (cover["starts_on"], cover["ends_on"])  # type: ignore[attr-defined]
    return [(row["id"], row["national_id"]) for row in rows]


def questions(found: list[tuple[str, str]], count: int, rng: random.Random) -> list[dict]:
    starts_on, ends_on = workers.cover  # type: ignore[attr-defined]
    span = (ends_on - starts_on).days
    items = []
    for n in range(count):
        on = str(starts_on + timedelta(days=rng.randint(0, span)))
        if rng.random() < 0.05:
            items.append({"member_id": f"mbr_nobody{n}", "on": on})
            continue
        member_id, number = rng.choice(found)
        named = {"national_id": number} if n % 2 else {"member_id": member_id}
        items.append({**named, "on": on})
    return items


async def measure(url: str, items: list[dict], by_id: dict[str, str], repeat: int) -> dict:
    app = create_app(MembersSettings(database_url=url, environment="test"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://members", timeout=600
        ) as client:
            body = {"plan_code": PLAN, "items": items}
            batches = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.post("/api/v1/coverage/lookup", json=body, headers=ADMIN)
                batches.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text[:2000]
            results = response.json()["results"]
            assert len(results) == len(items)
            covered = sum(1 for r in results if r["found"] and r["coverage"]["covered"])
            started = time.perf_counter()
            for item in items:
                member_id = item.get("member_id") or by_id[item["national_id"]]
                params = {"member_id": member_id, "plan_code": PLAN, "on": item["on"]}
                single = await client.get("/api/v1/coverage", params=params, headers=ADMIN)
                assert single.status_code in (200, 404), single.text
            singles = time.perf_counter() - started
    batch = min(batches)
    return {
        "items": len(items),
        "found": sum(1 for r in results if r["found"]),
        "covered": covered,
        "batch_seconds": round(batch, 3),
        "batch_items_per_second": round(len(items) / batch),
        "answer_bytes": len(response.content),
        "single_seconds": round(singles, 3),
        "single_items_per_second": round(len(items) / singles),
        "batch_to_single_ratio": round(singles / batch, 1),
        "all_batches_seconds": [round(seconds, 3) for seconds in batches],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="batches; the fastest is reported")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MUTUALAID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    import_100k.DATABASE = f"mutualaid_bench_lookup_{os.getpid()}"
    url = await import_100k.fresh_database(args.postgres)
    try:
        await fill(url, args.members)
        found = await workers(url)
        items = questions(found, args.items, random.Random(16))
        by_number = {number: member_id for member_id, number in found}
        result = {"members": args.members, **await measure(url, items, by_number, args.repeat)}
    finally:
        await import_100k.drop_database(args.postgres)
    print(json.dumps(result))


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    asyncio.run(main())
