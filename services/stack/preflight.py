"""What `mutualaid up` needs before it starts anything: each missing prerequisite is one line
saying what is missing and how to get it, checked before a database is touched or a process
started, so a failed start leaves nothing behind."""

import errno
import os
import shutil
import socket

import asyncpg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

POSTGRES_CONNECT_TIMEOUT_SECONDS = 5.0


class MissingPrerequisite(RuntimeError):
    """One line: what is missing; how to get it."""


def require_program(program: str, package: str) -> str:
    """The program's full path, when it is on PATH."""
    found = shutil.which(program)
    if found is None:
        raise MissingPrerequisite(
            f"{program} is not installed (not found on PATH); install it "
            f"(Debian/Ubuntu: apt-get install {package}; macOS: brew install {package}) "
            "or run `mutualaid up` without --split"
        )
    return found


def require_free_port(host: str, port: int) -> None:
    """Bind and listen as the gateway will (SO_REUSEADDR, so connections of an earlier run
    still in TIME_WAIT do not count), then let go."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise MissingPrerequisite(_port_problem(host, port, exc)) from exc


def _port_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use; stop the program listening there "
            f"(`ss -ltnp 'sport = :{port}'` names it) or pass another --port"
        )
    if exc.errno == errno.EACCES:
        return f"port {port} needs root (ports below 1024 do); pass --port 8000 or higher"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"--host {host} is not an address of this machine; pass --host 127.0.0.1"
    return f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port"


def postgres_url(text: str) -> URL:
    """The parsed --postgres URL, when it is a PostgreSQL one. Its server may be named by a
    host, by a Unix socket's directory (postgresql://postgres@/postgres?host=/var/run/
    postgresql) or by neither (asyncpg's defaults, as libpq's: PGHOST, then the usual socket
    directories): whether it answers is require_postgres's question."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise MissingPrerequisite(_bad_url(text)) from exc
    if url.get_backend_name() != "postgresql":
        raise MissingPrerequisite(_bad_url(text))
    return url


def _bad_url(text: str) -> str:
    return (
        f"--postgres {text!r} is not a PostgreSQL URL; pass one like "
        "postgresql://postgres@127.0.0.1:5432/postgres"
    )


async def require_postgres(url: URL) -> None:
    """Log in to the server, as the launcher then will to create and migrate its databases."""
    shown = url.render_as_string(hide_password=True)
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        connection = await asyncpg.connect(plain, timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        raise MissingPrerequisite(
            f"PostgreSQL at {shown} did not answer within "
            f"{POSTGRES_CONNECT_TIMEOUT_SECONDS:.0f} s; check the host and port in --postgres"
        ) from exc
    except OSError as exc:
        raise MissingPrerequisite(
            f"PostgreSQL at {shown} is unreachable ({_reason(exc)}); "
            "start the server (Debian/Ubuntu: apt-get install postgresql) or pass the URL of "
            "a running one as --postgres"
        ) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise MissingPrerequisite(
            f"PostgreSQL at {shown} refused the connection ({first_line}); check the user, "
            "password and database in --postgres"
        ) from exc
    await connection.close()


def _reason(exc: OSError) -> str:
    """Why a connection failed, in the words of whoever said so: the resolver's own message
    for a name it could not resolve (its codes are not errno values: os.strerror(-2) is
    "Unknown error -2"), the system's for a socket error."""
    if isinstance(exc, socket.gaierror):
        return (exc.strerror or str(exc)).lower()
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    return str(exc)
