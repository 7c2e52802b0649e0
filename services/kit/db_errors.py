"""The database being unreachable (restarting, failing over, refusing connections, the pool
exhausted) is a 503 problem+json with `Retry-After`, never a 500.

`services.kit.database`'s request session turns such errors into `DatabaseUnavailable` for every
route that uses it; `install_database_error_handlers` does the same for database use outside
a request session (call it from the app factory)."""

from collections.abc import Iterator

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from services.kit.errors import UpstreamUnavailable, problem_response
from services.kit.problems import DATABASE_UNAVAILABLE

log = structlog.get_logger()
RETRY_AFTER_SECONDS = "5"

try:  # asyncpg is a dependency, but the SQLite-only paths must not need it
    import asyncpg

    _ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = (
        asyncpg.exceptions.PostgresConnectionError,  # class 08, connection does not exist
        asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up, shutting down
        asyncpg.exceptions.AdminShutdownError,  # 57P01: a fast or smart shutdown
        asyncpg.exceptions.CrashShutdownError,  # 57P02
        asyncpg.exceptions.TooManyConnectionsError,  # 53300
    )
    _ASYNCPG_INTERFACE: tuple[type[BaseException], ...] = (asyncpg.exceptions.InterfaceError,)
except ImportError:  # pragma: no cover
    _ASYNCPG_UNAVAILABLE = ()
    _ASYNCPG_INTERFACE = ()

_DRIVER_MODULES = ("/sqlalchemy/", "/asyncpg/", "/aiosqlite/")


class DatabaseUnavailable(UpstreamUnavailable):
    def __init__(self, detail: str = "the database is unreachable; nothing was stored") -> None:
        super().__init__(
            detail, code=DATABASE_UNAVAILABLE.code, headers={"Retry-After": RETRY_AFTER_SECONDS}
        )


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (`.orig`) and what caused it, each once."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _raised_by_a_driver(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        if any(part in traceback.tb_frame.f_code.co_filename for part in _DRIVER_MODULES):
            return True
        traceback = traceback.tb_next
    return False


def is_database_unavailable(error: BaseException) -> bool:
    """True when `error` says the database cannot be reached, not that a statement failed:
    a connection refused or lost, the server shutting down or starting up, too many
    connections, no pooled connection within the pool's timeout."""
    for current in _chain(error):
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.TimeoutError | sa_exc.DisconnectionError):
            return True
        if _ASYNCPG_UNAVAILABLE and isinstance(current, _ASYNCPG_UNAVAILABLE):
            return True
        if (
            _ASYNCPG_INTERFACE
            and isinstance(current, _ASYNCPG_INTERFACE)
            and "connection is closed" in str(current)
        ):
            return True
        # A refused or reset socket, a connect timeout: only from the drivers' own code (an
        # OSError elsewhere, a file say, is not the database's).
        if isinstance(current, ConnectionError | TimeoutError) and _raised_by_a_driver(current):
            return True
    return False


def install_database_error_handlers(app: FastAPI) -> None:
    """503 problem+json for the database being unreachable wherever it surfaces; any other
    database error stays a 500 (the generic handler logs it)."""

    async def _handler(request: Request, error: Exception) -> JSONResponse:
        if not is_database_unavailable(error):
            raise error  # to the generic handler, as without this one
        log.warning("database_unavailable", path=request.url.path, error=type(error).__name__)
        problem = DatabaseUnavailable()
        return problem_response(problem.status, problem.body(), problem.headers)

    for kind in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError):
        app.add_exception_handler(kind, _handler)
    app.add_exception_handler(sa_exc.TimeoutError, _handler)
    for kind in _ASYNCPG_UNAVAILABLE + _ASYNCPG_INTERFACE:
        app.add_exception_handler(kind, _handler)
    app.add_exception_handler(ConnectionRefusedError, _handler)
