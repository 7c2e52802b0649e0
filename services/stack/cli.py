"""The `mutualaid` command: `up` (the whole stack), `token`, `migrate`, `demo`."""

import argparse
import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from services.kit.auth import Role, issue_token
from services.kit.settings import ServiceSettings
from services.stack.preflight import MissingPrerequisite, require_free_port


def _sqlite_url(data_dir: Path, service: str) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / f'{service}.db').resolve()}"


def _embedded_settings(data_dir: Path) -> tuple[object, object]:
    from claims_api.settings import ClaimsSettings
    from members_api.settings import MembersSettings

    members = (
        {}
        if "MEMBERS_DATABASE_URL" in os.environ
        else {"database_url": _sqlite_url(data_dir, "members")}
    )
    claims = (
        {}
        if "CLAIMS_DATABASE_URL" in os.environ
        else {"database_url": _sqlite_url(data_dir, "claims")}
    )
    if "CLAIMS_DOCUMENTS_DIR" not in os.environ:
        # claim documents' bytes, each under its SHA-256, beside the databases
        claims["documents_dir"] = str((data_dir / "documents").resolve())
    return MembersSettings(**members), ClaimsSettings(**claims)


def cmd_up(args: argparse.Namespace) -> int:
    import uvicorn

    from claims_api.app import create_app as create_claims
    from members_api.app import create_app as create_members
    from services.kit.logging import configure_logging
    from services.stack.gateway.client_limits import uvicorn_options
    from services.stack.gateway.embedded import create_gateway
    from services.stack.gateway.nginx import GatewaySettings

    if args.split:
        from services.stack.up_split import run_split

        return run_split(args)
    try:
        require_free_port(args.host, args.port)
    except MissingPrerequisite as exc:
        print(f"mutualaid: {exc}", file=sys.stderr)
        return 1
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    members_settings, claims_settings = _embedded_settings(data_dir)
    limits = GatewaySettings()
    gateway = create_gateway(
        create_members(members_settings), create_claims(claims_settings), limits
    )
    configure_logging()
    print(
        f"mutualaid: http://{args.host}:{args.port} (docs at /docs, data in {data_dir})",
        file=sys.stderr,
    )
    uvicorn.run(
        gateway, host=args.host, port=args.port, log_level="warning", **uvicorn_options(limits)
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    try:
        # no database here: production's database rule must not stop a token being printed
        settings = ServiceSettings(database_url="postgresql://the-token-command-uses-none")
    except ValidationError as exc:
        sys.exit(f"mutualaid token: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    if not settings.local_tokens_accepted:
        # the services would refuse it: say so here rather than print a token that fails
        sys.exit(
            "mutualaid token: local tokens are for development; production accepts only the "
            "identity provider's (MUTUALAID_ALLOW_LOCAL_TOKENS=true to allow them)"
        )
    secret = settings.jwt_secret.get_secret_value()
    role = Role(args.role)
    if role == Role.hr and not args.unit_id:
        sys.exit("an hr token needs --unit-id")
    if role == Role.member and not args.member_id:
        sys.exit("a member token needs --member-id")
    print(
        issue_token(
            secret,
            role=role,
            sub=args.sub,
            unit_id=args.unit_id,
            member_id=args.member_id,
            ttl=timedelta(hours=args.hours),
        )
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.kit.database import make_engine
    from services.kit.migrate import upgrade

    if args.service == "members":
        from members_api.settings import MembersSettings as Settings
    else:
        from claims_api.settings import ClaimsSettings as Settings  # type: ignore[assignment]
    url = args.database_url or Settings().database_url

    async def run() -> None:
        engine = make_engine(url)
        try:
            await upgrade(engine, args.service)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"{args.service}: migrated to head", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from services.stack.demo import main as demo_main

    return demo_main(args.url)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mutualaid", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the whole stack on this machine")
    up.add_argument("--port", type=int, default=8000, help="the gateway's port (default 8000)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--data-dir", default="mutualaid-data", help="where the SQLite files live")
    up.add_argument(
        "--split",
        action="store_true",
        help="each service its own process behind nginx (needs --postgres)",
    )
    up.add_argument(
        "--postgres",
        help="with --split: a PostgreSQL server URL; its databases <prefix>_members and "
        "<prefix>_claims are created if missing and migrated",
    )
    up.add_argument(
        "--claims-replicas", type=int, default=1, help="with --split: claims processes (default 1)"
    )
    up.add_argument(
        "--database-prefix", default="mutualaid", help="with --split (default mutualaid)"
    )
    up.set_defaults(handler=cmd_up)

    token = commands.add_parser(
        "token", help="print a local (HS256) token: development, or production if allowed"
    )
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--unit-id")
    token.add_argument("--member-id")
    token.add_argument("--sub", help="the subject (default: derived from role and ids)")
    token.add_argument("--hours", type=float, default=12.0, help="validity (default 12)")
    token.set_defaults(handler=cmd_token)

    migrate = commands.add_parser("migrate", help="run one service's Alembic history to head")
    migrate.add_argument("service", choices=["members", "claims"])
    migrate.add_argument("--database-url", help="default: the service's settings")
    migrate.set_defaults(handler=cmd_migrate)

    demo = commands.add_parser("demo", help="load the seed-shaped demonstration year")
    demo.add_argument("--url", default="http://127.0.0.1:8000", help="the running gateway")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
