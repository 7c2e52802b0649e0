"""The one routing table of the public API: which service owns which path prefix.

nginx's config and the embedded gateway of `mutualaid up` are both made from it, and a test
checks every path of both services' OpenAPI against it."""

from typing import Literal

Service = Literal["members", "claims"]

PUBLIC_ROUTES: tuple[tuple[str, Service], ...] = (
    ("/api/v1/units", "members"),
    ("/api/v1/members", "members"),
    ("/api/v1/plans", "members"),
    ("/api/v1/enrollments", "members"),
    ("/api/v1/coverage", "members"),
    ("/api/v1/reports/enrollment", "members"),
    ("/api/v1/claims", "claims"),
    ("/api/v1/payouts", "claims"),
    ("/api/v1/reports/claims", "claims"),
)


def owner_of(path: str) -> Service | None:
    """The service that answers `path`, by longest matching prefix on a segment boundary."""
    best: tuple[int, Service] | None = None
    for prefix, service in PUBLIC_ROUTES:
        matches = path == prefix or path.startswith(prefix + "/")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), service)
    return best[1] if best else None
