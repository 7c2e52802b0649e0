"""Test databases and apps. Every registry and claims test runs against both Postgres (the
machine's server, a database this suite creates) and SQLite; the schema comes from Alembic.
Postgres being absent is a failure, never a skip.

The services' clock is frozen here, before any test module computes a day from it, at the
instant MUTUALAID_CLOCK_PINNED_AT names or else at the run's start; the variable is set, so
every process the suite starts (uvicorn, the CLI) shares that instant."""

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from services.kit import clock

if clock.pinned() is None:
    clock.pin(clock.now())
    os.environ[clock.PIN_VARIABLE] = clock.now().isoformat()

import httpx
import pytest
from fastapi import FastAPI
from hypothesis.configuration import set_hypothesis_home_dir

from tests.databases import drop_created_databases, postgres_database, wipe
from tests.s3_server import s3_server  # noqa: F401  (fixture: moto's S3 server on loopback)
from tests.split_stack import split_stack  # noqa: F401  (fixture: uvicorn processes + nginx)

# Hypothesis, which the property tests and schemathesis' fuzzing run on, keeps its example
# database and caches in ./.hypothesis unless told otherwise. They go to the user's cache, one
# directory per checkout (failing examples are replayed, the Unicode tables built once), so
# that a run of the suite leaves nothing in the checkout (tests/test_checkout_stays_clean.py).
_CHECKOUT = Path(__file__).resolve().parents[1]
_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
HYPOTHESIS_HOME = (
    _CACHE / "mutualaid" / "hypothesis" / hashlib.sha256(bytes(_CHECKOUT)).hexdigest()[:16]
)
set_hypothesis_home_dir(HYPOTHESIS_HOME)


@pytest.fixture(scope="session", autouse=True)
async def _drop_test_databases() -> AsyncIterator[None]:
    yield
    await drop_created_databases()


@pytest.fixture(scope="session", params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("databases")


@pytest.fixture(scope="session")
async def members_app(backend: str, session_tmp: Path) -> AsyncIterator[FastAPI]:
    from members_api.app import create_app
    from members_api.models import metadata
    from members_api.settings import MembersSettings

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{session_tmp / 'members.db'}"
    else:
        url = await postgres_database("members")
    app = create_app(MembersSettings(database_url=url, environment="test"))
    app.state.metadata = metadata
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def members(members_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the member registry, on an empty database."""
    await wipe(members_app)
    transport = httpx.ASGITransport(app=members_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://members") as client:
        yield client


DOCUMENT_STORES = ("local", "s3")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The claim documents' route tests (tests/claims/test_documents_*.py) run against both
    stores: `[local]` a folder, `[s3]` a bucket of moto's server (tests/s3_server.py, started
    only when such a test runs). Every other test keeps the folder."""
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module.startswith("test_documents_") and "document_store_settings" in metafunc.fixturenames:
        metafunc.parametrize(
            "document_store_settings", DOCUMENT_STORES, indirect=True, scope="session"
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("postgres", "sqlite"),
        help="of the tests run on both databases, only those on this one (scripts/test.sh's "
        "calendar reruns share the pinned instants out between the two)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.only(backend="postgres")` or `only(store="s3")`: a test of what only one
    database or one store can show is not generated for the other (not collected and skipped).
    `--backend`: likewise for every test, as if marked `only` that database."""
    wanted_param = {"backend": "backend", "store": "document_store_settings"}
    chosen = config.getoption("--backend")
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("only")
        params = getattr(getattr(item, "callspec", None), "params", {})
        wanted = list(marker.kwargs.items()) if marker else []
        if chosen:
            wanted.append(("backend", chosen))
        fits = all(params.get(wanted_param[name], value) == value for name, value in wanted)
        (kept if fits else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def document_store_settings(request: pytest.FixtureRequest, session_tmp: Path) -> dict[str, str]:
    """Where the claims service under test keeps documents' bytes: ClaimsSettings fields
    (claims_api.documents.storage). `local`, a folder of this run, unless a test is
    parametrised over DOCUMENT_STORES (above): then also `s3`, a bucket of its own."""
    if getattr(request, "param", "local") == "s3":
        server = request.getfixturevalue("s3_server")
        return server.settings(server.fresh_bucket())
    return {"document_store": "local", "documents_dir": str(session_tmp / "documents")}


@pytest.fixture(scope="session")
async def claims_app(
    backend: str, session_tmp: Path, members_app: FastAPI, document_store_settings: dict[str, str]
) -> AsyncIterator[FastAPI]:
    """The claims service, asking the (real, running) member registry app for coverage."""
    from claims_api.app import create_app
    from claims_api.models import metadata
    from claims_api.settings import ClaimsSettings

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{session_tmp / 'claims.db'}"
    else:
        url = await postgres_database("claims")
    settings = ClaimsSettings(database_url=url, environment="test", **document_store_settings)
    app = create_app(settings)
    app.state.metadata = metadata
    app.state.members_transport = httpx.ASGITransport(app=members_app)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(members_app: FastAPI, claims_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """One client for the whole public API, routed by the gateway's table, on empty databases."""
    from services.stack.gateway.embedded import EmbeddedGateway

    await wipe(members_app)
    await wipe(claims_app)
    gateway = EmbeddedGateway(FastAPI(), {"members": members_app, "claims": claims_app})
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
