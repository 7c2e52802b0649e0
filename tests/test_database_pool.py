"""Each process's Postgres pool is sized by its service's *_DATABASE_POOL_SIZE: replicas x the
pool must stay under the server's max_connections, so a deployment sets it."""

from claims_api.app import create_app
from claims_api.settings import ClaimsSettings
from tests.databases import postgres_database


async def test_the_pool_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CLAIMS_DATABASE_URL", await postgres_database("claims", suffix="_pool"))
    monkeypatch.setenv("CLAIMS_DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("MUTUALAID_ENVIRONMENT", "test")
    app = create_app(ClaimsSettings())
    async with app.router.lifespan_context(app):
        assert app.state.database.engine.pool.size() == 7


def test_the_webhook_worker_leaves_three_quarters_of_the_pool_to_requests():
    """Its senders hold connections only to record attempts, at most a quarter of the pool:
    a small pool lowers their number instead of refusing to start."""
    assert ClaimsSettings(database_pool_size=7, webhook_concurrency=4).webhook_concurrency == 1
    assert ClaimsSettings(database_pool_size=20, webhook_concurrency=4).webhook_concurrency == 4
    assert ClaimsSettings(database_pool_size=40, webhook_concurrency=20).webhook_concurrency == 10
