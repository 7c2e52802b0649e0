"""The claims process's memory while twenty 10 MiB documents are uploaded to it at once.

    python -m bench.document_uploads [--store local|s3|both] [--uploads 20] [--mib 10]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--out FILE]

Starts the split topology (services.stack.launcher.SplitStack: the registry and one claims
process as uvicorn processes, nginx in front) on fresh databases, the claims process storing
documents in a folder (`local`) or in an S3 bucket (`s3`: moto's server, a real process on
loopback, tests/s3_server.py). Through the gateway it files one claim that waits for review
(its plan approves nothing by itself: a decided claim takes no documents), then sends
`--uploads` uploads of `--mib` MiB each (distinct PDF-looking bytes, so each is stored) to
`POST /api/v1/claims/{id}/documents` (multipart `file` and `kind`), all at once, straight to
the claims process's port (the gateway buffers a body before it passes it on, which would
spread the uploads out).

The figure is the claims process's resident memory, read from /proc every 10 ms while the
uploads run: its peak (and the kernel's high-water mark VmHWM, which covers the whole life of
the process) beside its resident memory before the first upload. Target: the peak under
300 MiB, where holding the documents in memory would take at least twenty times ten MiB on top
of the process's own. Prints one JSON line."""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import bench_plan, national_ids  # noqa: E402
from services.kit import clock  # noqa: E402
from services.kit.auth import issue_token  # noqa: E402
from services.kit.settings import DEVELOPMENT_JWT_SECRET  # noqa: E402
from services.stack.gateway.nginx import GatewaySettings  # noqa: E402
from services.stack.launcher import SplitStack, free_port, run_async  # noqa: E402

MiB = 1024 * 1024
PEAK_TARGET_MIB = 300
PREFIX = "mutualaid_bench_documents"
ADMIN = {"Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, role='admin')}"}


def resident_mib(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in MiB."""
    figures: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) / 1024
    return figures


class RssSampler:
    """The process's resident memory every `interval` seconds, on a thread of its own."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, resident_mib(self.pid)["VmRSS"])
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def document_bytes(index: int, size: int) -> bytes:
    """A PDF's signature and trailer around random bytes: a PDF as a byte sniffer sees it."""
    head = b"%PDF-1.7\n%bench document " + str(index).encode() + b"\n"
    tail = b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


async def claim_awaiting_review(base_url: str) -> str:
    """A plan that approves nothing by itself, one enrolled worker, one claim of theirs."""
    day = clock.today()
    plan = bench_plan(f"DOCBENCH-{day.year}", day)
    plan["auto_approve_limit"] = "0.00"
    async with httpx.AsyncClient(base_url=base_url, headers=ADMIN, timeout=60) as client:

        async def post(path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
            response = await client.post(path, json=body, headers=headers)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
            return response.json()

        await post("/api/v1/plans", plan)
        unit = await post("/api/v1/units", {"name": "材料基准单位", "insured_headcount": 1})
        [number] = national_ids(1)
        enrolled = await post(
            "/api/v1/enrollments/batch",
            {
                "unit_id": unit["id"],
                "plan_code": plan["code"],
                "rows": [{"national_id": number, "name": "职工", "shares": 1}],
                "starts_on": f"{day.year}-01-01",
            },
        )
        member = enrolled["results"][0]["member_id"]
        admitted = day - timedelta(days=5)
        claim = await post(
            "/api/v1/claims",
            {
                "member_id": member,
                "plan_code": plan["code"],
                "facts": {
                    "admitted_on": str(admitted),
                    "discharged_on": str(admitted + timedelta(days=1)),
                    "hospital": "内蒙古自治区人民医院",
                    "diagnosis_codes": ["J18.9"],
                    "invoice_numbers": ["DOCBENCH-1"],
                    "total_cost": "3000.00",
                    "insurance_paid": "1000.00",
                    "out_of_pocket_in_policy": "1800.00",
                    "self_pay": "200.00",
                },
            },
            **{"Idempotency-Key": "docbench-1"},
        )
    if claim.get("status") in ("approved", "rejected", "paid"):
        raise RuntimeError(f"the bench claim was decided at once: {claim.get('status')}")
    return claim["id"]


async def upload_all(claims_url: str, claim_id: str, files: list[Path]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=len(files))
    async with httpx.AsyncClient(
        base_url=claims_url, headers=ADMIN, timeout=300, limits=limits
    ) as client:

        async def upload(path: Path) -> tuple[int, str]:
            with path.open("rb") as handle:
                response = await client.post(
                    f"/api/v1/claims/{claim_id}/documents",
                    files={"file": (path.name, handle, "application/pdf")},
                    data={"kind": "invoice"},
                )
            return response.status_code, response.text[:300]

        started = time.perf_counter()
        answers = await asyncio.gather(*(upload(path) for path in files))
        seconds = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for status, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    refused = [text for status, text in answers if status != 201]
    return {"seconds": round(seconds, 2), "statuses": statuses, "first_refusal": refused[:1]}


def measure(store: str, args: argparse.Namespace, run_dir: Path, files: list[Path]) -> dict:
    environment: dict[str, str] = {
        "CLAIMS_DOCUMENT_STORE": "local",
        "CLAIMS_DOCUMENTS_DIR": str(run_dir / "documents"),
    }
    moto = None
    if store == "s3":
        from tests.s3_server import MotoServer

        moto = MotoServer().start()
        environment = moto.environment()
    prefix = f"{PREFIX}_{store}"
    run_async(lambda: drop_databases_of(args.postgres, prefix))
    stack = SplitStack(
        args.postgres,
        run_dir=run_dir / store,
        port=free_port(),
        database_prefix=prefix,
        env=environment,
        gateway=GatewaySettings(rate_per_second=1_000_000, burst=1_000_000),
    )
    try:
        with stack:
            claim_id = run_async(lambda: claim_awaiting_review(stack.gateway_url))
            pid = stack.processes["claims-1"].pid
            assert pid is not None
            claims_url = f"http://127.0.0.1:{stack.claims_ports[0]}"
            before = resident_mib(pid)
            with RssSampler(pid) as sampler:
                uploads = run_async(lambda: upload_all(claims_url, claim_id, files))
            after = resident_mib(pid)
        return {
            "store": store,
            "uploads": len(files),
            "mib_each": args.mib,
            **uploads,
            "rss_before_mib": round(before["VmRSS"], 1),
            "rss_peak_mib": round(max(sampler.peak, after["VmRSS"]), 1),
            "rss_after_mib": round(after["VmRSS"], 1),
            "high_water_mark_mib": round(after["VmHWM"], 1),
            "samples": sampler.samples,
            "target_peak_mib": PEAK_TARGET_MIB,
            "all_stored": uploads["statuses"] == {"201": len(files)},
            "passed": after["VmHWM"] < PEAK_TARGET_MIB,
        }
    finally:
        stack.stop()
        if moto is not None:
            moto.stop()
        run_async(lambda: drop_databases_of(args.postgres, prefix))


async def drop_databases_of(postgres: str, prefix: str) -> None:
    connection = await asyncpg.connect(postgres)
    try:
        for service in ("members", "claims"):
            await connection.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["local", "s3", "both"], default="both")
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--mib", type=int, default=10)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-documents-"))
    try:
        files = []
        for index in range(args.uploads):
            path = run_dir / f"document-{index}.pdf"
            path.write_bytes(document_bytes(index, args.mib * MiB))
            files.append(path)
        stores = ["local", "s3"] if args.store == "both" else [args.store]
        result = {
            "started_at": clock.now().isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]},
            "runs": [measure(store, args, run_dir, files) for store in stores],
        }
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    line = json.dumps(result, ensure_ascii=False)
    if args.out:
        args.out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
