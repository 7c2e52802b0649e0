"""The `mutualaid up --split` command: check what it needs, start the split stack
(services.stack.launcher), supervise it, stop it on Ctrl-C / SIGTERM."""

import argparse
import signal
import sys
import threading
from pathlib import Path

from services.stack.launcher import SplitStack, StackError, run_async
from services.stack.preflight import (
    MissingPrerequisite,
    postgres_url,
    require_free_port,
    require_postgres,
    require_program,
)


def run_split(args: argparse.Namespace) -> int:
    """The `mutualaid up --split` command: start, supervise, stop on Ctrl-C / SIGTERM."""
    if not args.postgres:
        print("mutualaid up --split needs --postgres postgresql://...", file=sys.stderr)
        return 2
    if args.claims_replicas < 1:
        print("mutualaid: --claims-replicas must be 1 or more", file=sys.stderr)
        return 2
    try:
        nginx = require_program("nginx", "nginx")
        require_free_port(args.host, args.port)
        server = postgres_url(args.postgres)
        run_async(lambda: require_postgres(server))
    except MissingPrerequisite as exc:
        print(f"mutualaid: {exc}", file=sys.stderr)
        return 1
    stack = SplitStack(
        args.postgres,
        run_dir=Path(args.data_dir) / "split",
        port=args.port,
        host=args.host,
        claims_replicas=args.claims_replicas,
        database_prefix=args.database_prefix,
        nginx=nginx,
    )
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            stack.start()
        except StackError as exc:
            print(f"mutualaid: {exc}", file=sys.stderr)
            return 1
        ports = [f"members :{stack.members_port}"]
        ports += [f"claims-{i} :{p}" for i, p in enumerate(stack.claims_ports, start=1)]
        print(
            f"mutualaid: http://{args.host}:{args.port} (docs at /docs; {', '.join(ports)}; "
            f"databases {stack.members_db}, {stack.claims_db}; logs in {stack.run_dir}/logs)",
            file=sys.stderr,
        )
        return _supervise(stack, stopping)
    finally:
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        print("mutualaid: stopped", file=sys.stderr)


def _supervise(stack: SplitStack, stopping: threading.Event) -> int:
    """Restart a service process that died (nginx routes around it meanwhile); stop the whole
    stack if nginx itself dies."""
    while not stopping.wait(1.0):
        if not stack.processes["nginx"].running:
            print("mutualaid: nginx exited; stopping", file=sys.stderr)
            return 1
        for name in stack.service_names:
            if not stack.processes[name].running:
                print(f"mutualaid: {name} exited; restarting it", file=sys.stderr)
                try:
                    stack.restart(name)
                except StackError as exc:
                    print(f"mutualaid: {exc}", file=sys.stderr)
    return 0
