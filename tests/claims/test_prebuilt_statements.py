"""The statements built once for the hot paths are ones SQLAlchemy caches compiled: a statement
without a cache key (an INSERT of several VALUES rows, say) is compiled again on every
execution, which cost 1.2 ms a claim filed (README: performance)."""

import pytest

from claims_api.audit import audit
from claims_api.claims import repository, storing
from claims_api.models import metadata
from members_api.coverage import service as coverage
from services.kit.idempotency import _statements

IDEMPOTENCY = metadata.tables["idempotency_record"]


@pytest.mark.parametrize(
    "name, statement",
    [
        ("filing written in one statement", storing._one_statement(2, 2)),
        (
            "filing and its answer written in one statement",
            storing._one_statement(2, 1, _statements(IDEMPOTENCY, "postgresql")[1]),
        ),
        ("prior claims", repository._prior_claims_query(True, False)),
        ("prior claims of a fixed benefit", repository._prior_claims_query(False, False)),
        ("prior claims, one excluded", repository._prior_claims_query(True, True)),
        ("member-plan lock", repository._LOCK),
        ("invoices held (Postgres)", repository._HOLD_INVOICES["postgresql"]),
        ("invoices held (SQLite)", repository._HOLD_INVOICES["sqlite"]),
        ("audit event", audit.insert),
        ("idempotency key taken", _statements(IDEMPOTENCY, "postgresql")[0]),
        ("idempotency answer kept", _statements(IDEMPOTENCY, "postgresql")[1]),
        ("coverage", coverage._COVERAGE_QUERY),
    ],
)
def test_a_hot_statement_is_cached_compiled(name, statement):
    assert statement._generate_cache_key() is not None, name
