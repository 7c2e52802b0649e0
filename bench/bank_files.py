"""How long a bank's disbursement round takes for a batch of 10,000 claims, beside one of 1,000
in the same run: the payment batch, the bank file, the bank's result with 1% failures.

    python -m bench.bank_files [--sizes 10000,1000] [--postgres postgresql://...]

On fresh databases (dropped at the end), migrated by the services' start-up, both services run
in this process (the claims service asks the real registry app through httpx.ASGITransport, as
the tests do). The set-up is not what is timed, so it is written the fast way: one unit's
workers by one batch enrolment through the API, their payout accounts and their approved claims
with Postgres COPY (bench/report_fixture.py does the same for the report's million claims).

Then, for each size, each one request through the whole HTTP path of the claims service:

- `POST /api/v1/payouts` of that many claims (one registry lookup per 5,000 members included);
- `GET /api/v1/payouts/{id}/bank-file` as CSV (GB18030) and as XLSX;
- `POST /api/v1/payouts/{id}/bank-result`: a CSV with every line of the file, 1% 失败 (each a
  reversal and a claim back to approved), the rest 成功;
- the same result file again (every line `unchanged`).

Prints one JSON line: seconds per step and size, and per step the ratio of the largest size's
time to the smallest's beside the ratio of their sizes (the cost should grow no faster than the
batch)."""

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from stdnum import luhn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_100k import national_ids  # noqa: E402
from bench.report_fixture import COLUMNS as CLAIM_COLUMNS  # noqa: E402
from services.kit import clock  # noqa: E402
from services.kit.auth import issue_token  # noqa: E402
from services.kit.ids import new_ids  # noqa: E402
from services.kit.settings import DEVELOPMENT_JWT_SECRET  # noqa: E402

DATABASES = {"members": "mutualaid_bench_bank_members", "claims": "mutualaid_bench_bank_claims"}
ADMIN = {"Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, role='admin')}"}
FINANCE = {
    "Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, role='finance', sub='bench')}"
}
FAILURE_EVERY = 100  # 1% of the lines fail


async def fresh_databases(admin_url: str) -> dict[str, str]:
    connection = await asyncpg.connect(admin_url)
    try:
        for name in DATABASES.values():
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = admin_url.rsplit("/", 1)[0]
    return {service: f"{base}/{name}" for service, name in DATABASES.items()}


async def drop_databases(admin_url: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        for name in DATABASES.values():
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def card(i: int) -> str:
    body = f"622202{i:012d}"
    return body + luhn.calc_check_digit(body)


async def enrol(client: httpx.AsyncClient, count: int) -> tuple[str, str, list[str]]:
    """A unit, the plan, `count` enrolled workers (one batch request): unit, plan, members."""
    today = clock.today()
    plan = json.loads((Path(__file__).parent.parent / "examples/plan-med-2026.json").read_text())
    plan |= {
        "code": "BANK-BENCH",
        "line": "BANKBENCH",
        "coverage_start": str(today - timedelta(days=100)),
        "coverage_end": str(today + timedelta(days=200)),
        "enrol_from": str(today - timedelta(days=130)),
        "enrol_until": str(today + timedelta(days=30)),
    }
    created = await client.post("/api/v1/plans", json=plan, headers=ADMIN)
    assert created.status_code == 201, created.text
    unit = await client.post(
        "/api/v1/units", json={"name": "代发基准单位", "insured_headcount": count}, headers=ADMIN
    )
    assert unit.status_code == 201, unit.text
    rows = [
        {"national_id": number, "name": f"职工{i}", "shares": 1}
        for i, number in enumerate(national_ids(count, region="150102"))
    ]
    body = {"unit_id": unit.json()["id"], "plan_code": "BANK-BENCH", "rows": rows}
    answer = await client.post("/api/v1/enrollments/batch", json=body, headers=ADMIN)
    assert answer.status_code == 200, answer.text[:1000]
    members = [row["member_id"] for row in answer.json()["results"]]
    assert len(members) == count
    return unit.json()["id"], "BANK-BENCH", members


async def copy_accounts(url: str, members: list[str]) -> None:
    connection = await asyncpg.connect(url)
    try:
        at = clock.now()
        records = [
            (member, f"职工{i}", card(i), "中国工商银行", "呼和浩特新华支行", at, "bench")
            for i, member in enumerate(members)
        ]
        columns = [
            "member_id",
            "account_name",
            "account_number",
            "bank_name",
            "bank_branch",
            "updated_at",
            "updated_by",
        ]
        await connection.copy_records_to_table("payout_account", records=records, columns=columns)
    finally:
        await connection.close()


async def copy_claims(url: str, unit: str, plan: str, members: list[str]) -> list[str]:
    """One approved claim per member (approved yesterday by a reviewer): their ids."""
    ids = new_ids("clm", len(members))
    today, at = clock.today(), clock.now()
    approved_at = at - timedelta(days=1)
    event = today - timedelta(days=20)
    records = [
        (
            claim_id,
            member,
            unit,
            plan,
            "hospital_reimbursement",
            None,
            "approved",
            event,
            event + timedelta(days=5),
            today - timedelta(days=2),
            "{}",
            "{}",
            150_000 + (i % 100) * 1_001,  # 1500.00 to 2490.99 yuan, in fen
            "{}",
            "[]",
            "{}",
            None,
            f"{plan}@1",
            "bench-member",
            "bench-reviewer",
            approved_at,
            None,
            at,
            at,
        )
        for i, (claim_id, member) in enumerate(zip(ids, members, strict=True))
    ]
    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table("claim", records=records, columns=CLAIM_COLUMNS)
        await connection.execute("ANALYZE claim")
    finally:
        await connection.close()
    return ids


def result_file(bank_file: bytes) -> tuple[bytes, int]:
    """The bank's answer to `bank_file`: each line with 状态 and 失败原因, 1% failed."""
    header, *lines = bank_file.decode("gb18030").split("\r\n")
    answered, failures = [f"{header},状态,失败原因"], 0
    for line in lines:
        if not line or line.startswith("合计"):
            continue
        serial = int(line.split(",", 1)[0])
        if serial % FAILURE_EVERY == 0:
            answered.append(f"{line},失败,账户已销户")
            failures += 1
        else:
            answered.append(f"{line},成功,")
    return ("\r\n".join(answered) + "\r\n").encode("gb18030"), failures


async def timed(call: Any) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await call
    return round(time.perf_counter() - started, 3), response


async def one_round(client: httpx.AsyncClient, claim_ids: list[str]) -> dict[str, Any]:
    body = {"claim_ids": claim_ids, "paid_on": str(clock.today()), "reference": "BENCH"}
    pay_s, paid = await timed(client.post("/api/v1/payouts", json=body, headers=FINANCE))
    assert paid.status_code == 201, paid.text[:1000]
    batch = paid.json()["id"]
    path = f"/api/v1/payouts/{batch}"
    csv_s, csv = await timed(client.get(f"{path}/bank-file", headers=FINANCE))
    assert csv.status_code == 200, csv.text[:1000]
    xlsx_s, xlsx = await timed(
        client.get(f"{path}/bank-file", params={"format": "xlsx"}, headers=FINANCE)
    )
    assert xlsx.status_code == 200, xlsx.text[:1000]
    content, failures = result_file(csv.content)
    files = {"file": ("代发结果.csv", content, "text/csv")}
    result_s, result = await timed(client.post(f"{path}/bank-result", files=files, headers=FINANCE))
    assert result.status_code == 200, result.text[:1000]
    totals = result.json()["totals"]
    assert (totals["returned"], totals["settled"]) == (failures, len(claim_ids) - failures), totals
    files = {"file": ("代发结果.csv", content, "text/csv")}
    again_s, again = await timed(client.post(f"{path}/bank-result", files=files, headers=FINANCE))
    assert again.status_code == 200 and again.json()["totals"]["unchanged"] == len(claim_ids)
    return {
        "claims": len(claim_ids),
        "pay_seconds": pay_s,
        "pay_answer_bytes": len(paid.content),
        "bank_file_csv_seconds": csv_s,
        "bank_file_csv_bytes": len(csv.content),
        "bank_file_xlsx_seconds": xlsx_s,
        "bank_file_xlsx_bytes": len(xlsx.content),
        "bank_result_seconds": result_s,
        "bank_result_bytes": len(content),
        "bank_result_failures": failures,
        "bank_result_again_seconds": again_s,
    }


STEPS = (
    "pay_seconds",
    "bank_file_csv_seconds",
    "bank_file_xlsx_seconds",
    "bank_result_seconds",
    "bank_result_again_seconds",
)


async def run(postgres: str, sizes: list[int]) -> dict[str, Any]:
    from claims_api.app import create_app as claims_app
    from claims_api.settings import ClaimsSettings
    from members_api.app import create_app as members_app
    from members_api.settings import MembersSettings

    urls = await fresh_databases(postgres)
    try:
        members = members_app(MembersSettings(database_url=urls["members"], environment="test"))
        claims = claims_app(ClaimsSettings(database_url=urls["claims"], environment="test"))
        claims.state.members_transport = httpx.ASGITransport(app=members)
        async with (
            members.router.lifespan_context(members),
            claims.router.lifespan_context(claims),
        ):
            registry = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=members), base_url="http://m", timeout=600
            )
            async with registry:
                started = time.perf_counter()
                unit, plan, member_ids = await enrol(registry, sum(sizes))
                await copy_accounts(urls["members"], member_ids)
                claim_ids = await copy_claims(urls["claims"], unit, plan, member_ids)
                setup = round(time.perf_counter() - started, 1)
            service = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=claims), base_url="http://c", timeout=600
            )
            rounds, start = [], 0
            async with service:
                for size in sizes:
                    rounds.append(await one_round(service, claim_ids[start : start + size]))
                    start += size
    finally:
        await drop_databases(postgres)
    largest, smallest = (
        max(rounds, key=lambda r: r["claims"]),
        min(rounds, key=lambda r: r["claims"]),
    )
    growth = {
        step: round(largest[step] / smallest[step], 2) if smallest[step] else None for step in STEPS
    }
    return {
        "setup_seconds": setup,
        "rounds": rounds,
        "size_ratio": round(largest["claims"] / smallest["claims"], 2),
        "time_ratio": growth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000", help="batch sizes, in the run's order")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MUTUALAID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(json.dumps(asyncio.run(run(args.postgres, sizes)), ensure_ascii=False))


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    main()
