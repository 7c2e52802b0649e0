"""How fast a unit of 100,000 workers imports: one CSV upload, one request, on Postgres.

    python bench/import_100k.py [--rows 100000] [--repeat 3]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Creates a fresh database (dropped at the end), migrated by the registry's start-up
(services.kit.migrate), starts the registry app in-process and posts a CSV of valid, unique
identity numbers through httpx.ASGITransport (the whole HTTP path: multipart parsing, row
checks, member and enrolment inserts, the JSON answer). Then, for scale, times Postgres COPY
(asyncpg copy_records_to_table) of the very rows the import wrote into scratch tables of the
same shape (indexes, unique and foreign keys included), and the ratio of the two. Prints one
JSON line; with --repeat, the fastest import and the fastest COPY of the runs."""

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
from stdnum.cn import ric

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from members_api.app import create_app  # noqa: E402
from members_api.settings import MembersSettings  # noqa: E402
from services.kit import clock  # noqa: E402
from services.kit.auth import issue_token  # noqa: E402
from services.kit.settings import DEVELOPMENT_JWT_SECRET  # noqa: E402

DATABASE = "mutualaid_bench_import"
ADMIN = {"Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, role='admin')}"}


def national_ids(count: int, region: str = "440106") -> list[str]:
    """`count` valid, distinct identity numbers: 500 per birth date, from 1970-01-01 on."""
    numbers = []
    for i in range(count):
        birth = date(1970, 1, 1) + timedelta(days=i // 500)
        body = f"{region}{birth:%Y%m%d}{(i % 500) * 2:03d}"
        numbers.append(body + ric.calc_check_digit(body + "0"))
    return numbers


def csv_file(count: int) -> bytes:
    lines = ["身份证号,姓名,手机号,份数"]
    for i, number in enumerate(national_ids(count)):
        lines.append(f"{number},职工{i},139{i:08d},1")
    return ("\n".join(lines) + "\n").encode()


async def fresh_database(admin_url: str) -> str:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()
    return f"{admin_url.rsplit('/', 1)[0]}/{DATABASE}"


async def drop_database(admin_url: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await connection.close()


async def import_once(url: str, rows: int) -> float:
    app = create_app(MembersSettings(database_url=url, environment="test"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://members", timeout=600
        ) as client:
            unit = await client.post(
                "/api/v1/units",
                json={"name": "大型制造企业", "insured_headcount": rows},
                headers=ADMIN,
            )
            today = clock.today()
            plan = json.loads(
                (Path(__file__).parent.parent / "examples/plan-med-2026.json").read_text()
            )
            plan |= {
                "code": "BENCH-2026",
                "line": "BENCH",
                "coverage_start": str(today - timedelta(days=10)),
                "coverage_end": str(today + timedelta(days=300)),
                "enrol_from": str(today - timedelta(days=30)),
                "enrol_until": str(today + timedelta(days=30)),
            }
            created = await client.post("/api/v1/plans", json=plan, headers=ADMIN)
            assert created.status_code == 201, created.text
            body = csv_file(rows)
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/enrollments/import",
                data={"unit_id": unit.json()["id"], "plan_code": "BENCH-2026"},
                files={"file": ("workers.csv", body, "text/csv")},
                headers=ADMIN,
            )
            seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text[:2000]
    totals = response.json()["totals"]
    assert totals["enrolled"] == totals["created_members"] == rows, totals
    return seconds


async def copy_same_rows(url: str) -> float:
    """COPY the rows the import wrote into empty tables of the same shape: columns, indexes,
    unique constraints and the same foreign keys (to unit, plan and the scratch members)."""
    connection = await asyncpg.connect(url)
    try:
        records = {}
        for table in ("member", "enrollment"):
            records[table] = await connection.fetch(f"SELECT * FROM {table} ORDER BY id")
            await connection.execute(f"CREATE TABLE scratch_{table} (LIKE {table} INCLUDING ALL)")
        await connection.execute(
            "ALTER TABLE scratch_member ADD FOREIGN KEY (unit_id) REFERENCES unit (id)"
        )
        await connection.execute(
            "ALTER TABLE scratch_enrollment"
            " ADD FOREIGN KEY (member_id) REFERENCES scratch_member (id),"
            " ADD FOREIGN KEY (plan_code) REFERENCES plan (code),"
            " ADD FOREIGN KEY (unit_id) REFERENCES unit (id)"
        )
        started = time.perf_counter()
        async with connection.transaction():
            for table, rows in records.items():
                await connection.copy_records_to_table(
                    f"scratch_{table}", records=rows, columns=list(rows[0].keys())
                )
        return time.perf_counter() - started
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs on fresh databases; the fastest import and the fastest COPY are reported",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MUTUALAID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        url = await fresh_database(args.postgres)
        try:
            seconds = await import_once(url, args.rows)
            runs.append((seconds, await copy_same_rows(url)))
        finally:
            await drop_database(args.postgres)
    seconds, copy_seconds = min(run[0] for run in runs), min(run[1] for run in runs)
    result = {
        "rows": args.rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(args.rows / seconds),
        "copy_seconds": round(copy_seconds, 3),
        "copy_rows_per_second": round(args.rows / copy_seconds),
        "import_to_copy_ratio": round(seconds / copy_seconds, 2),
    }
    if args.repeat > 1:
        result["all_runs_seconds"] = [round(run[0], 3) for run in runs]
        result["all_copies_seconds"] = [round(run[1], 3) for run in runs]
    print(json.dumps(result))


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    asyncio.run(main())
