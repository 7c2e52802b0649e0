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
    ("/api/v1/payout-accounts", "members"),
    ("/api/v1/contributions", "members"),
    ("/api/v1/reports/contributions", "members"),
    ("/api/v1/claims", "claims"),
    ("/api/v1/payouts", "claims"),
    ("/api/v1/reports/claims", "claims"),
    ("/api/v1/webhooks", "claims"),
    ("/api/v1/audit-events", "claims"),
)

AUDIT_PATH = "/api/v1/audit-events"
AUDIT_ENTITIES: dict[str, Service] = {
    "unit": "members",
    "member": "members",
    "plan": "members",
    "enrollment": "members",
    "enrollment_batch": "members",
    "contribution": "members",
    "payout_account": "members",
    "payout_account_lookup": "members",
    "claim": "claims",
    "claim_document": "claims",
    "claim_import": "claims",
    "payout_batch": "claims",
    "webhook_delivery": "claims",
    "webhook_subscription": "claims",
}
"""Each service keeps the audit log of its own records; `?entity=` says whose log is read
(without it, the claims service's)."""


def entities_of(service: Service) -> tuple[str, ...]:
    return tuple(entity for entity, owner in AUDIT_ENTITIES.items() if owner == service)


def owner_of(path: str, entity: str | None = None) -> Service | None:
    """The service that answers `path`, by longest matching prefix on a segment boundary;
    for the audit log, the owner of `entity`."""
    if path == AUDIT_PATH:
        return AUDIT_ENTITIES.get(entity or "", "claims")
    best: tuple[int, Service] | None = None
    for prefix, service in PUBLIC_ROUTES:
        matches = path == prefix or path.startswith(prefix + "/")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), service)
    return best[1] if best else None
