"""How fast a unit of 100,000 workers imports: one CSV upload, one request, on Postgres.

    python bench/import_100k.py [--rows 100000] [--repeat 3] [--credit]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Creates a fresh database (dropped at the end), migrated by the registry's start-up
(services.kit.migrate), starts the registry app in-process and posts a CSV of valid, unique
identity numbers through httpx.ASGITransport (the whole HTTP path: multipart parsing, row
checks, member and enrolment inserts, the JSON answer). Then, for scale, times Postgres COPY
(asyncpg copy_records_to_table) of the very rows the import wrote into scratch tables of the
same shape (indexes, unique and foreign keys included), and the ratio of the two. Prints one
JSON line; with --repeat, the fastest import and the fastest COPY of the runs.

--credit: the unit has paid for every row before the upload (one payment, recorded through
the API, 100.00 more than the rows owe), so the import also allocates that credit to each
new enrolment in the same request (members_api.contributions.ledger): the COPY it is
compared with then writes the allocation rows too (`copy_seconds`), and, for the stricter
reading, `copy_seconds_members_and_enrolments` is the COPY of the other two tables alone."""

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
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

# One per process: two checkouts benchmarking on one server never drop each other's.
DATABASE = f"mutualaid_bench_import_{os.getpid()}"
CREDIT_OVER = Decimal("100.00")
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


async def import_once(url: str, rows: int, credit: bool = False) -> float:
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
            if credit:
                due = Decimal(plan["contribution_per_share"]) * rows
                payment = {
                    "unit_id": unit.json()["id"],
                    "plan_code": "BENCH-2026",
                    "amount": str(due + CREDIT_OVER),
                    "paid_on": str(today),
                    "reference": "BENCH-PAYMENT-1",
                    "method": "bank_transfer",
                }
                paid = await client.post("/api/v1/contributions", json=payment, headers=ADMIN)
                assert paid.status_code == 201, paid.text
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
    answer = response.json()
    totals = answer["totals"]
    assert totals["enrolled"] == totals["created_members"] == rows, totals
    if credit:
        paid_for = answer["contributions"]
        assert paid_for["paid_in_full"] == rows and paid_for["credit"] == str(CREDIT_OVER), paid_for
    return seconds


async def copy_same_rows(url: str, tables: tuple[str, ...] = ("member", "enrollment")) -> float:
    """COPY the rows the import wrote into empty tables of the same shape: columns, indexes,
    unique constraints and the same foreign keys (to unit, plan and the scratch members;
    allocations have none)."""
    connection = await asyncpg.connect(url)
    try:
        records = {}
        for table in tables:
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
        for table in tables[::-1]:
            await connection.execute(f"DROP TABLE IF EXISTS scratch_{table}")
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
    parser.add_argument(
        "--credit",
        action="store_true",
        help="the unit has paid in advance: the import allocates its credit to every row",
    )
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        url = await fresh_database(args.postgres)
        try:
            seconds = await import_once(url, args.rows, args.credit)
            if args.credit:
                plain = await copy_same_rows(url)
                all_three = ("member", "enrollment", "contribution_allocation")
                runs.append((seconds, await copy_same_rows(url, all_three), plain))
            else:
                runs.append((seconds, await copy_same_rows(url)))
        finally:
            await drop_database(args.postgres)
    seconds, copy_seconds = min(run[0] for run in runs), min(run[1] for run in runs)
    result = {
        "rows": args.rows,
        "credit": args.credit,
        "seconds": round(seconds, 3),
        "rows_per_second": round(args.rows / seconds),
        "copy_seconds": round(copy_seconds, 3),
        "copy_rows_per_second": round(args.rows / copy_seconds),
        "import_to_copy_ratio": round(seconds / copy_seconds, 2),
    }
    if args.credit:
        plain = min(run[2] for run in runs)
        result["copy_seconds_members_and_enrolments"] = round(plain, 3)
        result["rate_ratio_to_copy_of_members_and_enrolments"] = round(plain / seconds, 3)
    if args.repeat > 1:
        result["all_runs_seconds"] = [round(run[0], 3) for run in runs]
        result["all_copies_seconds"] = [round(run[1], 3) for run in runs]
    print(json.dumps(result))


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    asyncio.run(main())
