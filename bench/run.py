"""The performance bench: every figure of the README's performance table, in one run.

    python -m bench.run [--quick] [--claims-replicas 2] [--profile DIR] [--out FILE]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
    python -m bench.run --table FILE      # the README's table from a saved result

Starts the split topology (services.stack.launcher.SplitStack: the registry and the claims replicas
as uvicorn processes, nginx in front) on fresh databases `mutualaid_bench_members` and
`mutualaid_bench_claims`, enrols a unit's workers through the API, then drives it with wrk
(the load generator on the same machine: 2 threads, 32 connections):

- `GET /healthz/members` through the gateway (nginx -> the registry's one uvicorn worker ->
  `SELECT 1`): the baseline of the two below, measured right before and right after each of
  them, their mean being the baseline;
- `POST /api/v1/claims`: unique invoices, a different member (or a later stay) per request,
  each approved at once, with its coverage call to the registry, whose share of the claim's
  time the claims replicas' own metrics tell (bench/hop.py);
- `GET /api/v1/coverage` for random members through the gateway, and the same directly on
  the registry's port (what the gateway costs); with both, the CPU milliseconds each part of
  the stack spent per request (bench/cpu.py); for comparison the gateway's own `/healthz`
  (both services asked) and nginx alone (its 404 for an unknown path);
- the claims report over 1,000,000 claims (written with COPY before the loads above:
  bench/report_fixture.py) through the gateway, 20 times: p50;
- the 100,000-row import (bench/import_100k.py, in its own process, stack stopped) against
  Postgres COPY of the same rows;
- a payment batch of 10,000 claims and one of 1,000, their bank files and the bank's result
  files with 1% failures (bench/bank_files.py, in its own process, stack stopped);
- 100,000 settlement rows in one upload against COPY of the claims they make
  (bench/settlement_import.py, in its own process, stack stopped; `--quick`: 20,000);
- the payout engine alone (bench/engine.py, in its own process, stack stopped).

Prints ONE JSON object: each figure, its baseline, the ratio, the target, pass or fail.
`--quick` runs each load 3 s instead of 10 and uses 100,000 report claims and 20,000 import
rows: a smoke run, its figures are not the table's. The databases are dropped at the end
(`--keep` keeps them)."""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from stdnum.cn import ric

from bench import hop, report_fixture
from bench.cpu import CpuMeter
from bench.loads import (
    BASELINE_PATH,
    CONNECTIONS,
    THREADS,
    figures,
    profile,
    with_baseline,
    wrk,
    wrk_command,
)
from bench.verdicts import table, verdicts
from services.kit import clock
from services.kit.auth import issue_token
from services.kit.clock import today
from services.kit.settings import DEVELOPMENT_JWT_SECRET
from services.stack.gateway.nginx import GatewaySettings
from services.stack.launcher import SplitStack, free_port, run_async

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "mutualaid_bench"
STAY_GAP_DAYS = 3
WAITING_DAYS = 30

# --- the data set, through the API ---------------------------------------------------------


def national_ids(count: int) -> list[str]:
    """`count` valid, distinct identity numbers of women born from 1975 on."""
    numbers = []
    for i in range(count):
        birth = date(1975, 1, 1) + timedelta(days=i // 500)
        body = f"150102{birth:%Y%m%d}{(i % 500) * 2:03d}"
        numbers.append(body + ric.calc_check_digit(body + "0"))
    return numbers


def bench_plan(code: str, day: date) -> dict[str, Any]:
    """This year's hospital plan: 30 days' waiting, auto-approval up to 5,000 yuan, a term cap
    far above what the bench files, so every bench claim is approved at once."""
    return {
        "code": code,
        "line": code.rsplit("-", 1)[0],
        "name": f"Bench hospital plan {day.year}",
        "kind": "hospital_reimbursement",
        "coverage_start": f"{day.year}-01-01",
        "coverage_end": f"{day.year}-12-31",
        "enrol_from": str(day - timedelta(days=30)),
        "enrol_until": str(day + timedelta(days=30)),
        "contribution_per_share": "36.00",
        "max_shares": 3,
        "eligibility": {"min_age": 16, "max_age": 65},
        "waiting_days": WAITING_DAYS,
        "auto_approve_limit": "5000.00",
        "benefit": {
            "kind": "hospital_reimbursement",
            "threshold": "1000",
            "bands": [{"above": "0", "ratio": "0.5"}, {"above": "5000", "ratio": "0.6"}],
            "per_stay_cap_per_share": "10000",
            "term_cap_per_share": "1000000",
        },
    }


async def seed(base_url: str, members: int, units: int, headers: dict[str, str]) -> dict:
    """Units, the plan and `members` enrolled workers (cover from 1 January), through the
    gateway: the batch enrolment endpoint, one request per unit."""
    day = today()
    code = f"BENCHMED-{day.year}"
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300) as client:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(path, json=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
            return response.json()

        await post("/api/v1/plans", bench_plan(code, day))
        ids = national_ids(members)
        member_ids: list[str] = []
        per_unit = -(-members // units)
        for index in range(units):
            unit = await post(
                "/api/v1/units",
                {"name": f"基准测试单位{index + 1}", "insured_headcount": per_unit},
            )
            rows = [
                {"national_id": number, "name": f"职工{index}-{row}", "shares": 1}
                for row, number in enumerate(ids[index * per_unit : (index + 1) * per_unit])
            ]
            if not rows:
                break
            answer = await post(
                "/api/v1/enrollments/batch",
                {
                    "unit_id": unit["id"],
                    "plan_code": code,
                    "rows": rows,
                    "starts_on": f"{day.year}-01-01",
                },
            )
            failed = [r for r in answer["results"] if r["status"] != "ok"]
            if failed:
                raise RuntimeError(f"batch enrolment refused rows: {failed[:3]}")
            member_ids += [r["member_id"] for r in answer["results"]]
    return {
        "plan_code": code,
        "members": member_ids,
        "units": units,
        "seconds": round(time.perf_counter() - started, 1),
    }


# --- the claims report over 1,000,000 claims -----------------------------------------------


def time_report(base_url: str, plan: str, times: int) -> dict[str, Any]:
    auditor = {"Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, role='auditor')}"}
    durations = []
    with httpx.Client(base_url=base_url, headers=auditor, timeout=120) as client:
        for attempt in range(times + 2):
            started = time.perf_counter()
            response = client.get("/api/v1/reports/claims", params={"plan_code": plan})
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"report: {response.status_code} {response.text[:500]}")
            if attempt >= 2:  # two warm-up requests
                durations.append(elapsed)
            body = response.json()
    durations.sort()
    return {
        "plan_code": plan,
        "requests": times,
        "p50_ms": round(statistics.median(durations), 1),
        "p90_ms": round(durations[int(len(durations) * 0.9) - 1], 1),
        "min_ms": round(durations[0], 1),
        "max_ms": round(durations[-1], 1),
        "paid_claims_in_report": body["claims"],
        "units_in_report": body["units"],
    }


# --- the import and the engine, in their own processes -------------------------------------


def run_json(command: list[str], timeout: float) -> dict[str, Any]:
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=_child_env()
    )
    if finished.returncode != 0:
        tail = "\n".join((finished.stderr or finished.stdout).strip().splitlines()[-8:])
        raise RuntimeError(f"exit {finished.returncode}: {tail}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def measure_import(postgres: str, rows: int, credit: bool = False) -> dict[str, Any]:
    """`credit`: the unit has paid in advance, and the import allocates to every row."""
    script = ROOT / "bench" / "import_100k.py"
    if not script.exists():
        return {"measured": False, "reason": "bench/import_100k.py is not there yet"}
    command = [sys.executable, str(script), "--rows", str(rows), "--postgres", postgres]
    if credit:
        command.append("--credit")
    failures = []
    for _attempt in range(2):  # a run elsewhere loading the server may time it out
        try:
            found = run_json(command, timeout=1800)
            break
        except (RuntimeError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
            failures.append(str(exc)[-400:])
    else:
        return {"measured": False, "reason": f"bench/import_100k.py failed: {failures[-1]}"}
    if failures:
        found["retried_after"] = failures[0]
    found["measured"] = True
    found["import_to_copy_rate_ratio"] = round(
        found["rows_per_second"] / found["copy_rows_per_second"], 3
    )
    return found


def measure_bank_files(postgres: str, quick: bool) -> dict[str, Any]:
    """bench/bank_files.py in its own process (stack stopped): a batch of 10,000 claims and one
    of 1,000, their bank files and result files."""
    command = [sys.executable, "-m", "bench.bank_files", "--postgres", postgres]
    if quick:
        command += ["--sizes", "1000,100"]
    try:
        return run_json(command, timeout=1800)
    except (RuntimeError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
        return {"measured": False, "reason": f"bench/bank_files.py failed: {str(exc)[-400:]}"}


def measure_settlement_import(postgres: str, quick: bool) -> dict[str, Any]:
    """bench/settlement_import.py in its own process (stack stopped): 100,000 settlement rows
    in one upload against COPY of the claims it wrote, both processes' resident memory."""
    command = [sys.executable, "-m", "bench.settlement_import", "--postgres", postgres]
    if quick:
        command += ["--rows", "20000"]
    try:
        return run_json(command, timeout=1800)
    except (RuntimeError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
        reason = f"bench/settlement_import.py failed: {str(exc)[-400:]}"
        return {"measured": False, "reason": reason}


def measure_engine(quick: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.engine"]
    if quick:
        command += ["--count", "5000", "--rounds", "3"]
    return run_json(command, timeout=600)


# --- the whole run -------------------------------------------------------------------------


async def drop_databases(postgres: str) -> None:
    connection = await asyncpg.connect(postgres)
    try:
        for service in ("members", "claims"):
            await connection.execute(f'DROP DATABASE IF EXISTS "{PREFIX}_{service}" WITH (FORCE)')
    finally:
        await connection.close()


def ensure_tools(*tools: str) -> None:
    """Debian's packages of the tools missing, when this can install them (as root, with
    apt-get), as scripts/test.sh does for the tests: a fresh machine runs the bench after the
    README's set-up."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"bench: installing {' '.join(missing)}", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=sys.stderr)
        return
    raise SystemExit(f"bench: {', '.join(missing)} required (apt-get install {' '.join(missing)})")


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_tools("nginx", "wrk")
    seconds = 3.0 if args.quick else args.seconds
    report_claims = args.report_claims or (100_000 if args.quick else 1_000_000)
    import_rows = args.import_rows or (20_000 if args.quick else 100_000)
    result: dict[str, Any] = {
        "started_at": clock.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    run_async(lambda: drop_databases(args.postgres))
    run_dir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-"))
    stack = SplitStack(
        args.postgres,
        run_dir=run_dir,
        port=free_port(),
        claims_replicas=args.claims_replicas,
        database_prefix=PREFIX,
        # The per-client rate limit (20/s by default) would answer nearly all of the load with
        # 429: raised, but still evaluated on every request.
        gateway=GatewaySettings(rate_per_second=1_000_000, burst=1_000_000),
    )
    admin_token = issue_token(DEVELOPMENT_JWT_SECRET, role="admin", sub="bench-admin")
    admin = {"Authorization": f"Bearer {admin_token}"}
    try:
        with stack:
            url = stack.gateway_url
            data = run_async(lambda: seed(url, args.members, args.units, admin))
            members_file = run_dir / "members.txt"
            members_file.write_text("\n".join(data["members"]) + "\n")
            plan = data["plan_code"]
            result["data_set"] = {
                "units": data["units"],
                "members_enrolled": len(data["members"]),
                "plan_code": plan,
                "enrolment_seconds": data["seconds"],
            }
            result["setup"] = setup_of(stack)
            # The million claims first: claims are then filed into a table of realistic size,
            # with all its indexes.
            loaded = run_async(lambda: report_fixture.load(stack.claims_url, report_claims))
            day0 = datetime(today().year, 2, 1, tzinfo=UTC)  # after the 30 days' waiting
            capacity = len(data["members"]) * ((today() - day0.date()).days // STAY_GAP_DAYS)
            next_claim = 0

            def claims_args(first: int) -> list[str]:
                return [
                    str(members_file),
                    plan,
                    admin_token,
                    str(first),
                    str(THREADS),
                    str(int(day0.timestamp())),
                    str(STAY_GAP_DAYS),
                ]

            coverage_args = [str(members_file), plan, f"{today().year}-06-01", admin_token]
            # warm-up: connections, pools, caches
            wrk(url + BASELINE_PATH, "healthz.lua", 2)
            wrk(url + "/api/v1/coverage", "coverage.lua", 2, coverage_args)
            warm = wrk(url + "/api/v1/claims", "claims.lua", 2, claims_args(next_claim))
            next_claim += warm["requests"] + 10 * CONNECTIONS

            meter = CpuMeter(stack, args.postgres)
            # the baseline runs around the claims load do not reach the claims replicas
            hop_before = hop.snapshot(stack.claims_ports)
            result["claims_submit"] = with_baseline(
                meter, url, "claims.lua", seconds, claims_args(next_claim), "approved"
            )
            result["claims_submit"]["registry_hop"] = hop.since(stack.claims_ports, hop_before)
            next_claim += result["claims_submit"]["requests"] + 10 * CONNECTIONS
            result["coverage"] = with_baseline(
                meter, url, "coverage.lua", seconds, coverage_args, "covered"
            )
            # for comparison: the gateway's /healthz (both services asked), nginx alone (its
            # own 404 for an unknown path)
            result["gateway_healthz"] = figures(wrk(url + "/healthz", "healthz.lua", seconds))
            nginx_alone = wrk(url + "/no-such-path", "healthz.lua", seconds)
            result["nginx_alone_404"] = figures(nginx_alone)
            members_url = f"http://127.0.0.1:{stack.members_port}"
            direct = wrk(members_url + "/api/v1/coverage", "coverage.lua", seconds, coverage_args)
            result["coverage_direct_to_registry"] = figures(direct)
            result["gateway_cost"] = {
                "coverage_gateway_to_direct_ratio": round(
                    result["coverage"]["requests_per_second"] / direct["requests_per_second"], 3
                ),
                "coverage_p50_added_ms": round(result["coverage"]["p50_ms"] - direct["p50_ms"], 2),
            }
            if args.profile:
                out = Path(args.profile)
                profile_seconds = max(seconds, 5)
                claims_pid = stack.processes["claims-1"].pid
                members_pid = stack.processes["members"].pid
                found: dict[str, Any] = {}
                loader = subprocess.Popen(
                    wrk_command(url, "claims.lua", profile_seconds + 2, claims_args(next_claim)),
                    stdout=subprocess.DEVNULL,
                )
                time.sleep(1)
                found["claims_under_submission"] = profile(
                    claims_pid, profile_seconds, out, "claims-submission"
                )
                loader.wait()
                next_claim += 100_000
                loader = subprocess.Popen(
                    wrk_command(url, "coverage.lua", profile_seconds + 2, coverage_args),
                    stdout=subprocess.DEVNULL,
                )
                time.sleep(1)
                found["members_under_coverage"] = profile(
                    members_pid, profile_seconds, out, "members-coverage"
                )
                loader.wait()
                result["profile"] = found
            if next_claim > capacity:
                result["claims_submit"]["warning"] = "stays ran past today: raise --members"

            result["report"] = {"fixture": loaded, **time_report(url, loaded["report_plan"], 20)}
        result["import"] = measure_import(args.postgres, import_rows)
        result["import_with_credit"] = measure_import(args.postgres, import_rows, credit=True)
        result["bank_files"] = measure_bank_files(args.postgres, args.quick)
        result["settlement_import"] = measure_settlement_import(args.postgres, args.quick)
        result["engine"] = measure_engine(args.quick)
    finally:
        stack.stop()
        if not args.keep:
            run_async(lambda: drop_databases(args.postgres))
            shutil.rmtree(run_dir, ignore_errors=True)
    result["targets"] = verdicts(result)
    result["finished_at"] = clock.now().isoformat(timespec="seconds")
    return result


def setup_of(stack: SplitStack) -> dict[str, Any]:
    from claims_api.members_client import MembersClient  # noqa: F401  (the limits below)

    return {
        "topology": "split: nginx -> members (1 uvicorn process), claims replicas",
        "claims_replicas": len(stack.claims_ports),
        "uvicorn_processes": 1 + len(stack.claims_ports),
        "uvicorn_workers_per_process": 1,
        "nginx_worker_processes": stack.gateway_settings.worker_processes,
        "database_driver": "asyncpg (SQLAlchemy asyncio; services.kit.database.async_url)",
        "database_pool": "pool_size 20, no overflow, per process (services.kit.database)",
        "registry_client": "httpx + httpx-aiohttp, max 100 connections (claims_api.members_client)",
        "load_generator": f"wrk, {THREADS} threads, {CONNECTIONS} connections, same machine",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s loads, smaller data sets")
    parser.add_argument("--seconds", type=float, default=10.0, help="each wrk run")
    parser.add_argument("--claims-replicas", type=int, default=2)
    parser.add_argument("--members", type=int, default=5_000, help="enrolled workers")
    parser.add_argument("--units", type=int, default=10)
    parser.add_argument("--report-claims", type=int, default=0, help="default 1,000,000")
    parser.add_argument("--import-rows", type=int, default=0, help="default 100,000")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the services under load")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON to FILE")
    parser.add_argument("--table", metavar="FILE", help="print the README table of a result")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MUTUALAID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    result = run(args)
    text = json.dumps(result, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
