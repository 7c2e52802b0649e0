"""Where a request's CPU goes: the CPU time each part of the split stack spends per request
under a load, read from /proc before and after it (Linux). On a machine whose cores are all
busy, requests a second follow from these figures: 2 cores / the sum of them."""

import os
from collections.abc import Callable
from typing import Any

import asyncpg

from services.stack.launcher import SplitStack, run_async

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
GROUPS = ("claims", "members", "nginx", "postgres")


def _cpu_seconds_and_parent(pid: int) -> tuple[float, int] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # the process has ended
        return None
    # after the command: state, ppid, ..., utime (12th), stime (13th)
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND, int(fields[1])


async def _backends(postgres_url: str, databases: tuple[str, ...]) -> set[int]:
    connection = await asyncpg.connect(postgres_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])", list(databases)
        )
    finally:
        await connection.close()
    return {row["pid"] for row in rows}


class CpuMeter:
    """CPU seconds per group of processes: the claims replicas, the registry, nginx (master
    and workers), and the Postgres backends serving the stack's two databases."""

    def __init__(self, stack: SplitStack, postgres_url: str) -> None:
        self.stack, self.postgres_url = stack, postgres_url

    def _group_of(self) -> dict[int, str]:
        own = {
            process.pid: name if name in ("nginx", "members") else "claims"
            for name, process in self.stack.processes.items()
            if process.pid is not None
        }
        databases = (self.stack.members_db, self.stack.claims_db)
        for pid in run_async(lambda: _backends(self.postgres_url, databases)):
            own[pid] = "postgres"
        return own

    def snapshot(self) -> dict[str, Any]:
        """CPU seconds so far of every process of the stack (nginx's workers found as the
        master's children)."""
        groups = self._group_of()
        seconds: dict[int, tuple[str, float]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            read = _cpu_seconds_and_parent(int(entry))
            if read is None:
                continue
            used, parent = read
            group = groups.get(int(entry))
            if group is None and groups.get(parent) == "nginx":
                group = "nginx"  # a worker of the stack's nginx
            if group:
                seconds[int(entry)] = (group, used)
        return seconds

    def measure(self, load: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], dict]:
        """Run `load` (a wrk run: its result has `requests`); also the CPU milliseconds per
        request of each group. A process that started during the load counts from zero."""
        before = self.snapshot()
        result = load()
        after = self.snapshot()
        spent = dict.fromkeys(GROUPS, 0.0)
        for pid, (group, used) in after.items():
            spent[group] += used - before.get(pid, (group, 0.0))[1]
        requests = max(result["requests"], 1)
        per_request = {group: round(spent[group] / requests * 1000, 3) for group in GROUPS}
        per_request["total"] = round(sum(spent.values()) / requests * 1000, 3)
        return result, per_request
