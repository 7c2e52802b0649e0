"""How fast a month of settlement data files its claims: 100,000 rows in one upload to
POST /api/v1/claims/import, on Postgres, against COPY of the claims it wrote.

    python -m bench.settlement_import [--rows 100000] [--postgres postgresql://...] [--out FILE]

Starts the split topology (services.stack.launcher.SplitStack: the registry and one claims
process as uvicorn processes on loopback) on fresh databases (dropped at the end), fills the
registry through its own enrolment import, and builds a settlement CSV (Chinese headers, the
insurer's eleven columns) with the mix a union's month has:

- 90% of the rows are enrolled workers' stays: most covered, 5% of all rows in the waiting
  period (enrolled three weeks ago), and 8,000 workers with three large stays each, the
  third over the plan's term cap;
- 7% are workers of another plan (not enrolled in this one), 3% numbers the registry does not
  know;
- 1% were filed already: an earlier upload of those 1,000 rows, sent before the measured one.

The measured upload goes straight to the claims process's port (the gateway's buffering aside)
with admin's token; the claims process asks the registry (POST /api/v1/coverage/lookup, 5,000
people a call), decides each row and writes the claims. Then, for scale, Postgres COPY
(asyncpg copy_records_to_table) of the very claims that upload wrote, with their events and
invoice numbers, into scratch tables of the same shape (indexes, unique and foreign keys
included): `rate_ratio_to_copy` is COPY's seconds over the import's (target 0.25 or more).
`copy_seconds_with_audit` adds the audit events the import also writes, one per claim.
Resident memory of both processes is read from /proc every 10 ms during the upload
(`rss_*`); `registry_lookup_ms` sums the registry's own durations of its look-ups (its request
log); `phases_seconds` is the claims process's own split of the import's time (its log).
Prints one JSON line."""

import argparse
import csv
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.document_uploads import RssSampler, drop_databases_of, resident_mib  # noqa: E402
from bench.import_100k import national_ids  # noqa: E402
from claims_api.settlement.parsing import CHINESE as SETTLEMENT_HEADERS
from claims_api.settlement.parsing import FIELDS as SETTLEMENT_FIELDS
from services.kit import clock  # noqa: E402
from services.kit.auth import issue_token  # noqa: E402
from services.kit.settings import DEVELOPMENT_JWT_SECRET  # noqa: E402
from services.stack.launcher import SplitStack, free_port, run_async  # noqa: E402

PREFIX = f"mutualaid_bench_settlement_{os.getpid()}"
ADMIN = {"Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, role='admin')}"}
TARGET_RATIO = 0.25
WAITING_DAYS = 30
HEADERS = tuple(SETTLEMENT_HEADERS[field] for field in SETTLEMENT_FIELDS)
HOSPITALS = ("内蒙古自治区人民医院", "呼和浩特市第一医院", "包头市中心医院", "赤峰市医院")
DIAGNOSES = ("K35.8", "J18.9", "I21.9", "S72.0", "K80.2;K81.0", "N20.0")


def plan_body(code: str, start: date, today: date) -> dict[str, Any]:
    """A hospital plan whose cover started 240 days ago: 30 days' waiting, auto-approval up
    to 5,000 yuan, 10,000 a stay and 20,000 a term per share (three large stays exceed it)."""
    return {
        "code": code,
        "line": code.rsplit("-", 1)[0],
        "name": f"Bench settlement plan {code}",
        "kind": "hospital_reimbursement",
        "coverage_start": str(start),
        "coverage_end": str(start + timedelta(days=364)),
        "enrol_from": str(today - timedelta(days=30)),
        "enrol_until": str(today + timedelta(days=30)),
        "contribution_per_share": "36.00",
        "max_shares": 3,
        "waiting_days": WAITING_DAYS,
        "auto_approve_limit": "5000.00",
        "benefit": {
            "kind": "hospital_reimbursement",
            "threshold": "1000",
            "bands": [{"above": "0", "ratio": "0.5"}, {"above": "5000", "ratio": "0.6"}],
            "per_stay_cap_per_share": "10000",
            "term_cap_per_share": "20000",
        },
    }


class People:
    """Who the rows are about, by group; the sizes follow from --rows (100,000: 8,000 with
    three stays, 61,000 with one, 5,000 waiting, 7,000 of another plan, 3,000 unknown)."""

    def __init__(self, rows: int) -> None:
        self.heavy = rows * 8 // 100  # three stays each: 24% of the rows
        self.waiting = rows * 5 // 100
        self.other_plan = rows * 7 // 100
        self.unknown = rows * 3 // 100
        self.single = rows - 3 * self.heavy - self.waiting - self.other_plan - self.unknown
        count = self.heavy + self.single + self.waiting + self.other_plan + self.unknown
        numbers = national_ids(count, region="150102")
        start = 0
        self.groups: dict[str, list[tuple[str, str]]] = {}
        for group in ("heavy", "single", "waiting", "other_plan", "unknown"):
            size = getattr(self, group)
            self.groups[group] = [
                (number, f"职工{start + i}")
                for i, number in enumerate(numbers[start : start + size])
            ]
            start += size


def workers_csv(people: list[tuple[str, str]]) -> bytes:
    lines = ["身份证号,姓名,份数"] + [f"{number},{name},1" for number, name in people]
    return ("\n".join(lines) + "\n").encode()


def split(total_fen: int, rng: random.Random) -> tuple[str, str, str, str]:
    """A bill's total and its parts (统筹支付, 政策范围内自付, 自费), adding up exactly."""
    insurance = total_fen * rng.randint(30, 60) // 100
    self_pay = total_fen * rng.randint(0, 15) // 100
    in_policy = total_fen - insurance - self_pay
    return tuple(str(Decimal(fen) / 100) for fen in (total_fen, insurance, in_policy, self_pay))  # type: ignore[return-value]


def stay_row(
    person: tuple[str, str],
    admitted: date,
    days: int,
    total_fen: int,
    serial: int,
    rng: random.Random,
) -> list[str]:
    total, insurance, in_policy, self_pay = split(total_fen, rng)
    return [
        person[0],
        person[1],
        rng.choice(HOSPITALS),
        str(admitted),
        str(admitted + timedelta(days=days)),
        rng.choice(DIAGNOSES),
        f"JS{serial:09d}",
        total,
        insurance,
        in_policy,
        self_pay,
    ]


def settlement_rows(people: People, start: date, today: date, seed: int = 16) -> list[list[str]]:
    """Every stay of the month's file, shuffled as an insurer's export is in no useful order."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    covered_from = start + timedelta(days=WAITING_DAYS + 1)
    span = (today - timedelta(days=12) - covered_from).days

    def covered_day() -> date:
        return covered_from + timedelta(days=rng.randint(0, span))

    for person in people.groups["heavy"]:  # three large stays, apart: the third is over cap
        for part in range(3):
            admitted = covered_from + timedelta(days=part * span // 3 + rng.randint(0, 20))
            rows.append(
                stay_row(person, admitted, 6, rng.randint(2_500_000, 4_000_000), len(rows), rng)
            )
    for group in ("single", "other_plan", "unknown"):
        for person in people.groups[group]:
            bill = rng.randint(150_000, 3_000_000)
            rows.append(stay_row(person, covered_day(), rng.randint(1, 10), bill, len(rows), rng))
    for person in people.groups["waiting"]:  # enrolled 25 days ago: still waiting
        admitted = today - timedelta(days=rng.randint(6, 12))
        rows.append(stay_row(person, admitted, 3, rng.randint(150_000, 900_000), len(rows), rng))
    rng.shuffle(rows)
    return rows


def settlement_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return buffer.getvalue().encode()


async def fill_registry(members_url: str, people: People, plan: str, start: date) -> None:
    today = clock.today()
    async with httpx.AsyncClient(base_url=members_url, headers=ADMIN, timeout=1200) as client:

        async def post(path: str, **kwargs: Any) -> dict[str, Any]:
            response = await client.post(path, **kwargs)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
            return response.json()

        other = f"OTHER-{today.year}"
        for code in (plan, other):
            await post("/api/v1/plans", json=plan_body(code, start, today))
        imports = (
            ("大型制造企业", plan, people.groups["heavy"] + people.groups["single"], start),
            ("新入会企业", plan, people.groups["waiting"], today - timedelta(days=25)),
            ("另一计划的企业", other, people.groups["other_plan"], start),
        )
        for name, code, workers, starts_on in imports:
            unit = await post(
                "/api/v1/units", json={"name": name, "insured_headcount": len(workers)}
            )
            answer = await post(
                "/api/v1/enrollments/import",
                data={"unit_id": unit["id"], "plan_code": code, "starts_on": str(starts_on)},
                files={"file": ("workers.csv", workers_csv(workers), "text/csv")},
            )
            if answer["totals"]["enrolled"] != len(workers):
                raise RuntimeError(f"enrolment import of {name}: {answer['totals']}")


async def upload(claims_url: str, plan: str, body: bytes, name: str) -> tuple[float, dict]:
    async with httpx.AsyncClient(base_url=claims_url, headers=ADMIN, timeout=3600) as client:
        started = time.perf_counter()
        response = await client.post(
            "/api/v1/claims/import",
            data={"plan_code": plan},
            files={"file": (name, body, "text/csv")},
        )
        seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"import {name}: {response.status_code} {response.text[:1000]}")
    return seconds, response.json()


CLAIM_TABLES = ("claim", "claim_event", "claim_invoice")


async def copy_claims_of(url: str, import_id: str, with_audit: bool) -> float:
    """COPY the import's claims, events and invoice numbers (and its claims' audit events)
    into empty tables of the same shape, with the same foreign keys."""
    connection = await asyncpg.connect(url)
    tables = (*CLAIM_TABLES, "audit_event") if with_audit else CLAIM_TABLES
    try:
        ids = [
            row["claim_id"]
            for row in await connection.fetch(
                "SELECT claim_id FROM claim_event WHERE details->>'import_id' = $1", import_id
            )
        ]
        records = {
            "claim": await connection.fetch("SELECT * FROM claim WHERE id = ANY($1)", ids),
            "claim_event": await connection.fetch(
                "SELECT * FROM claim_event WHERE claim_id = ANY($1) ORDER BY id", ids
            ),
            "claim_invoice": await connection.fetch(
                "SELECT * FROM claim_invoice WHERE claim_id = ANY($1)", ids
            ),
        }
        if with_audit:
            records["audit_event"] = await connection.fetch(
                "SELECT * FROM audit_event WHERE entity = 'claim' AND entity_id = ANY($1)", ids
            )
        for table in tables:
            await connection.execute(f"CREATE TABLE scratch_{table} (LIKE {table} INCLUDING ALL)")
        for table in ("claim_event", "claim_invoice"):
            await connection.execute(
                f"ALTER TABLE scratch_{table}"
                " ADD FOREIGN KEY (claim_id) REFERENCES scratch_claim (id)"
            )
        started = time.perf_counter()
        async with connection.transaction():
            for table in tables:
                rows = records[table]
                if rows:
                    await connection.copy_records_to_table(
                        f"scratch_{table}", records=rows, columns=list(rows[0].keys())
                    )
        return time.perf_counter() - started
    finally:
        for table in reversed(tables):
            await connection.execute(f"DROP TABLE IF EXISTS scratch_{table}")
        await connection.close()


def registry_lookup_ms(log: Path) -> tuple[int, float]:
    """The registry's look-ups as its request log has them: how many, their summed duration."""
    calls, total = 0, 0.0
    for line in log.read_text(errors="replace").splitlines():
        if '"/api/v1/coverage/lookup"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "request" and entry.get("path") == "/api/v1/coverage/lookup":
            calls += 1
            total += float(entry.get("duration_ms", 0))
    return calls, total


def import_phases(log: Path, import_id: str) -> dict[str, float]:
    """The claims process's own split of the import's time (its `settlement_import` log event:
    claims_api.settlement.service.Phases), in seconds by phase."""
    for line in log.read_text(errors="replace").splitlines():
        if import_id not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "settlement_import" and entry.get("import_id") == import_id:
            return {
                name.removesuffix("_seconds"): value
                for name, value in entry.items()
                if name.endswith("_seconds")
            }
    return {}


def measure(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    today = clock.today()
    start = today - timedelta(days=240)
    plan = f"SETTLE-{today.year}"
    people = People(args.rows)
    rows = settlement_rows(people, start, today)
    filed_before = sorted(rows, key=lambda row: row[6])  # 1%: the same rows, sent earlier
    single_numbers = {number for number, _ in people.groups["single"]}
    earlier = [row for row in filed_before if row[0] in single_numbers][: args.rows // 100]
    body = settlement_csv(rows)
    run_async(lambda: drop_databases_of(args.postgres, PREFIX))
    stack = SplitStack(args.postgres, run_dir=run_dir, port=free_port(), database_prefix=PREFIX)
    try:
        with stack:
            members_url = f"http://127.0.0.1:{stack.members_port}"
            claims_url = f"http://127.0.0.1:{stack.claims_ports[0]}"
            filling = time.perf_counter()
            run_async(lambda: fill_registry(members_url, people, plan, start))
            filled = time.perf_counter() - filling
            run_async(
                lambda: upload(claims_url, plan, settlement_csv(earlier), "结算数据-上月.csv")
            )
            pids = {name: stack.processes[name].pid for name in ("members", "claims-1")}
            before = {name: resident_mib(pid) for name, pid in pids.items() if pid}
            samplers = {name: RssSampler(pid) for name, pid in pids.items() if pid}
            for sampler in samplers.values():
                sampler.__enter__()
            try:
                seconds, answer = run_async(
                    lambda: upload(claims_url, plan, body, "结算数据-本月.csv")
                )
            finally:
                for sampler in samplers.values():
                    sampler.__exit__()
            after = {name: resident_mib(pid) for name, pid in pids.items() if pid}
            lookups, lookup_ms = registry_lookup_ms(stack.log_path("members"))
            phases = import_phases(stack.log_path("claims-1"), answer["import_id"])
            copy_seconds = run_async(
                lambda: copy_claims_of(stack.claims_url, answer["import_id"], with_audit=False)
            )
            with_audit = run_async(
                lambda: copy_claims_of(stack.claims_url, answer["import_id"], with_audit=True)
            )
    finally:
        stack.stop()
        run_async(lambda: drop_databases_of(args.postgres, PREFIX))
    totals = answer["totals"]
    memory = {
        name: {
            "rss_before_mib": round(before[name]["VmRSS"], 1),
            "rss_peak_mib": round(max(samplers[name].peak, after[name]["VmRSS"]), 1),
            "high_water_mark_mib": round(after[name]["VmHWM"], 1),
        }
        for name in samplers
    }
    return {
        "rows": args.rows,
        "file_bytes": len(body),
        "registry_fill_seconds": round(filled, 1),
        "totals": totals,
        "seconds": round(seconds, 3),
        "rows_per_second": round(args.rows / seconds),
        "registry_lookups": lookups,
        "registry_lookup_ms": round(lookup_ms),
        "phases_seconds": phases,
        "copy_seconds": round(copy_seconds, 3),
        "copy_seconds_with_audit": round(with_audit, 3),
        "rate_ratio_to_copy": round(copy_seconds / seconds, 3),
        "rate_ratio_to_copy_with_audit": round(with_audit / seconds, 3),
        "target_ratio": TARGET_RATIO,
        "passed": copy_seconds / seconds >= TARGET_RATIO,
        "memory": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MUTUALAID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-settlement-"))
    try:
        result = {
            "started_at": clock.now().isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]},
            **measure(args, run_dir),
        }
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    line = json.dumps(result, ensure_ascii=False)
    if args.out:
        args.out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
