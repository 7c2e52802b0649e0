"""The loads: wrk runs through the gateway (the load generator on the same machine), and
py-spy on one service process while wrk loads it."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter

WRK_DIR = Path(__file__).resolve().parent / "wrk"
THREADS, CONNECTIONS = 2, 32


def wrk(url: str, script: str, seconds: float, args: list[str] | None = None) -> dict[str, Any]:
    """One wrk run; its Lua `done` prints the figures as a `WRKJSON {...}` line."""
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    if args:
        command += ["--", *args]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in finished.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result = json.loads(line[len("WRKJSON ") :])
            result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
            return result
    raise RuntimeError(f"wrk printed no result:\n{finished.stdout}\n{finished.stderr}")


def figures(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "requests_per_second": round(run["requests_per_second"]),
        "p50_ms": round(run["p50_ms"], 2),
        "p99_ms": round(run["p99_ms"], 2),
        "requests": run["requests"],
        "statuses": run["statuses"],
    }


BASELINE_PATH = "/healthz/members"
"""nginx -> one uvicorn worker (the registry's) -> its /healthz, one `SELECT 1`: the
framework's own ceiling behind the same gateway, as the brief measured it (README:
performance). The gateway's own /healthz asks both services: slower than one."""


def with_baseline(
    meter: CpuMeter, url: str, script: str, seconds: float, args: list[str], marker: str
) -> dict[str, Any]:
    """The target run between two baseline runs; the baseline is their mean."""
    before = wrk(url + BASELINE_PATH, "healthz.lua", seconds)
    target, cpu = meter.measure(lambda: wrk(url + script_path(script), script, seconds, args))
    after = wrk(url + BASELINE_PATH, "healthz.lua", seconds)
    baseline = (before["requests_per_second"] + after["requests_per_second"]) / 2
    result = figures(target)
    result["cpu_ms_per_request"] = cpu
    result[marker] = target["marked"]
    # every answer as expected (201 and approved; 200 and covered), none refused or failed
    result[f"all_{marker}"] = target["marked"] == target["requests"] and not any(
        target["errors"].values()
    )
    result["baseline"] = f"GET {BASELINE_PATH} through the gateway"
    result["baseline_requests_per_second"] = round(baseline)
    result["baseline_runs_requests_per_second"] = [
        round(before["requests_per_second"]),
        round(after["requests_per_second"]),
    ]
    result["ratio_to_baseline"] = round(target["requests_per_second"] / baseline, 4)
    return result


def script_path(script: str) -> str:
    return {"claims.lua": "/api/v1/claims", "coverage.lua": "/api/v1/coverage"}.get(script, "/")


# --- profiling -----------------------------------------------------------------------------


def profile(pid: int, seconds: float, out: Path, name: str) -> dict[str, Any]:
    """py-spy on one service process while wrk loads it: the raw stacks (a flame graph:
    flamegraph.pl or speedscope), and where the samples were."""
    if shutil.which("py-spy") is None:
        return {"profiled": False, "reason": "py-spy is not installed (pip install py-spy)"}
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{name}.txt"
    command = ["py-spy", "record", "--pid", str(pid), "--duration", str(round(seconds))]
    command += ["--rate", "200", "--format", "raw", "-o", str(raw)]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0 or not raw.exists():
        return {"profiled": False, "reason": (finished.stderr or finished.stdout)[-500:]}
    return {"profiled": True, "stacks": str(raw), **top_frames(raw)}


IDLE = ("WorkerThread.run", "Thread._bootstrap")
OWN = ("claims_api/", "members_api/", "services/")


def top_frames(raw: Path, count: int = 12) -> dict[str, Any]:
    """Samples of the event loop's thread (idle worker threads left out): by the package of
    the frame that was running (self), and the project's own functions (inclusive)."""
    self_area: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit() or any(idle in stack for idle in IDLE):
            continue
        samples = int(number)
        total += samples
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        leaf = _area(frames[-1])
        self_area[leaf] = self_area.get(leaf, 0) + samples
        for frame in {f for f in frames if any(f"({p}" in f for p in OWN)}:
            own[frame] = own.get(frame, 0) + samples
    if not total:
        return {"samples": 0}

    def share(table: dict[str, int], size: int) -> dict[str, float]:
        best = sorted(table.items(), key=lambda item: -item[1])[:size]
        return {name: round(n / total, 3) for name, n in best}

    return {
        "samples": total,
        "self_by_package": share(self_area, count),
        "inclusive_own_functions": share(own, 2 * count),
    }


_FRAME_FILE = re.compile(
    r"\((?:.*/site-packages/)?(?:.*/lib/python3\.\d+/)?([^/():]+)(?:/([^/():]+))?"
)


def _area(frame: str) -> str:
    """A frame's package: sqlalchemy, asyncpg, pydantic, claims_api/claims, ..."""
    found = _FRAME_FILE.search(frame)
    if not found:
        return frame or "(native)"
    first, second = found.group(1), found.group(2)
    if first in ("claims_api", "members_api", "services") and second and "." not in second:
        return f"{first}/{second}"
    return first.removesuffix(".py")


def wrk_command(url: str, script: str, seconds: float, args: list[str]) -> list[str]:
    path = script_path(script)
    return [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{round(seconds)}s",
        "-s",
        str(WRK_DIR / script),
        url + path,
        "--",
        *args,
    ]
