"""Who may call which route: the authorisation matrix, one rule per route of both services'
OpenAPI, with the status each role gets. tests/test_authorization_matrix.py checks that the
rules name exactly the routes the services have (a route added without a rule fails the
suite) and sends every (route, role, scope) through the gateway.

The expectations come from the contract, not from the code:

- DOMAIN.md "Roles": admin (union staff: plans, units, everything), hr (one unit: its
  members, enrolments and claims, files claims for them), member (self only), reviewer
  (claims decisions), finance (payment batches), auditor (reads everything, changes
  nothing, incl. the audit log). "Another unit's or member's record is answered as 404,
  not 403."
- API.md's "who" column for each route.

Reading of the contract where it is not word for word:

- The "who" column lists who acts on a resource; the read-only staff roles come on top for
  reads of the registry and of claims: the auditor reads everything (DOMAIN.md), and the
  reviewer and finance read workers, units, enrolments and cover, which they need to decide
  and to pay (the brief's own example: GET /members/{id} is 200 for reviewer and finance).
- A member reads its own records (member, enrolments, cover, claims): "member (self only)".
  Units are not its records: API.md gives units to admin and, read-only, the hr of the unit.
- The claims decision belongs to the reviewer and payment batches to finance (DOMAIN.md
  names them as those roles' duties, API.md lists only them): admin gets 403 there. Filing,
  supplying information and withdrawing are the filer's side, and admin files claims
  (API.md), so admin may do those.
- Refusals: 403 when the role may never do the thing on a record it may see (or on no
  record at all); 404 when the record is another unit's (hr) or another member's (member),
  whatever the action: the answer must not say whether such a record exists.

Scopes: a rule's value is a status for every record, or `Scoped(own, other)` for hr and
member, where "own" is the hr's unit's record / the member's own record and "other" another
unit's / another member's. For list routes `Scoped(200, 200)` (`FILTERED`): asking for the
other's records answers 200 with none of them in it (the test checks that nothing leaks).
"""

from dataclasses import dataclass

ROLES = ("admin", "hr", "member", "reviewer", "finance", "auditor")
SCOPED_ROLES = ("hr", "member")

OK, CREATED, NO_CONTENT, FORBIDDEN, NOT_FOUND = 200, 201, 204, 403, 404


@dataclass(frozen=True)
class Scoped:
    """The status for the role's own unit's / own record, and for another's."""

    own: int
    other: int


Expect = int | Scoped
Route = tuple[str, str, str]
"""(service, METHOD, path template as in the service's OpenAPI)."""

SEEN = Scoped(OK, NOT_FOUND)
"""Reads (or does) it on its own unit's / own record; another's is not found."""
FILED = Scoped(CREATED, NOT_FOUND)
"""Creates it for its own unit / itself; for another unit or member: not found."""
DENIED = Scoped(FORBIDDEN, NOT_FOUND)
"""May not do this even on its own unit's / own record; another's is not found."""
FILTERED = Scoped(OK, OK)
"""A list: its own records; asking for another's answers an empty list (checked: no leak)."""
ROWS = Scoped(OK, OK)
"""A bulk change answered row by row (200): another unit's worker is that row's `not_found`
error, as a GET is 404 (checked: nothing of theirs in the answer, and the worker unchanged)."""


@dataclass(frozen=True)
class Rule:
    route: Route
    expect: dict[str, Expect]
    why: str


def rule(
    service: str,
    method: str,
    path: str,
    *,
    admin: Expect,
    hr: Expect,
    member: Expect,
    reviewer: Expect,
    finance: Expect,
    auditor: Expect,
    why: str,
) -> Rule:
    expect = {
        "admin": admin,
        "hr": hr,
        "member": member,
        "reviewer": reviewer,
        "finance": finance,
        "auditor": auditor,
    }
    for role, value in expect.items():
        if isinstance(value, Scoped) and role not in SCOPED_ROLES:
            raise ValueError(f"{method} {path}: only hr and member have own/other scopes")
    return Rule((service, method, path), expect, why)


PUBLIC: frozenset[Route] = frozenset(
    {("members", "GET", "/healthz"), ("claims", "GET", "/healthz")}
)
"""Routes in the OpenAPI that need no token (tested: they answer 200 without one)."""
PUBLIC_UNLISTED = ("/metrics",)
"""Public routes outside the OpenAPI (Prometheus scraping), on each service."""

_ALL_READ = {"admin": OK, "reviewer": OK, "finance": OK, "auditor": OK}
_STAFF_FORBIDDEN = {"reviewer": FORBIDDEN, "finance": FORBIDDEN, "auditor": FORBIDDEN}
_M, _C = "members", "claims"

# fmt: off
RULES_LIST: tuple[Rule, ...] = (
    # --- units: admin (hr: own unit, read) -----------------------------------------------
    rule(_M, "POST", "/api/v1/units", admin=CREATED, hr=FORBIDDEN, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md units: admin"),
    rule(_M, "GET", "/api/v1/units", hr=FILTERED, member=FORBIDDEN, **_ALL_READ,
         why="API.md units: admin (hr: own unit, read); units are no member's record"),
    rule(_M, "GET", "/api/v1/units/{unit_id}", hr=SEEN, member=FORBIDDEN, **_ALL_READ,
         why="API.md units: admin (hr: own unit, read)"),
    rule(_M, "PATCH", "/api/v1/units/{unit_id}", admin=OK, hr=DENIED, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md units: admin writes; hr reads its own unit only"),
    # --- members: admin, hr (own unit), member (self, read) -------------------------------
    rule(_M, "POST", "/api/v1/members", admin=CREATED, hr=FILED, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md members: admin, hr (own unit)"),
    rule(_M, "GET", "/api/v1/members", hr=FILTERED, member=FILTERED, **_ALL_READ,
         why="API.md members: admin, hr (own unit), member (self, read)"),
    rule(_M, "GET", "/api/v1/members/{member_id}", hr=SEEN, member=SEEN, **_ALL_READ,
         why="API.md members: admin, hr (own unit), member (self, read)"),
    rule(_M, "POST", "/api/v1/members/leaving", admin=OK, hr=ROWS, member=FORBIDDEN,
         **_STAFF_FORBIDDEN,
         why="API.md members: admin, hr (own unit); PATCH records leaving, this is it in bulk"),
    rule(_M, "PATCH", "/api/v1/members/{member_id}", admin=OK, hr=SEEN, member=DENIED,
         **_STAFF_FORBIDDEN, why="API.md members: admin, hr (own unit) write; member reads"),
    # --- payout accounts: admin, hr (own unit), member (self); others read masked -----------
    rule(_M, "GET", "/api/v1/members/{member_id}/payout-account", hr=SEEN, member=SEEN,
         **_ALL_READ,
         why="API.md payout-account: admin, hr (own unit), member (self); GET by others who "
         "may read the member shows it masked (tests/members/test_payout_accounts.py)"),
    rule(_M, "PUT", "/api/v1/members/{member_id}/payout-account", admin=OK, hr=SEEN,
         member=SEEN, **_STAFF_FORBIDDEN,
         why="API.md payout-account: admin, hr (own unit), member (self) set it; the staff "
         "who read it may not"),
    rule(_M, "DELETE", "/api/v1/members/{member_id}/payout-account", admin=NO_CONTENT,
         hr=Scoped(NO_CONTENT, NOT_FOUND), member=Scoped(NO_CONTENT, NOT_FOUND),
         **_STAFF_FORBIDDEN, why="API.md payout-account: DELETE as PUT; nothing to answer: 204"),
    rule(_M, "POST", "/api/v1/payout-accounts/lookup", admin=OK, hr=FORBIDDEN,
         member=FORBIDDEN, reviewer=FORBIDDEN, finance=OK, auditor=FORBIDDEN,
         why="API.md lookup: the claims service (admin, finance): full card numbers for a "
         "payment batch"),
    # --- plans: admin writes, all read ------------------------------------------------------
    rule(_M, "POST", "/api/v1/plans", admin=CREATED, hr=FORBIDDEN, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md plans: admin writes"),
    rule(_M, "GET", "/api/v1/plans", hr=OK, member=OK, **_ALL_READ,
         why="API.md plans: all read"),
    rule(_M, "GET", "/api/v1/plans/{code}", hr=OK, member=OK, **_ALL_READ,
         why="API.md plans: all read"),
    # --- enrolments: admin, hr --------------------------------------------------------------
    rule(_M, "POST", "/api/v1/enrollments", admin=CREATED, hr=FILED, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md enrolments: admin, hr (its unit's members)"),
    rule(_M, "GET", "/api/v1/enrollments", hr=FILTERED, member=FILTERED, **_ALL_READ,
         why="API.md enrolments: admin, hr; a member reads its own; staff read"),
    rule(_M, "POST", "/api/v1/enrollments/batch", admin=OK, hr=SEEN, member=FORBIDDEN,
         **_STAFF_FORBIDDEN,
         why="API.md batch: admin, hr (its unit, the body's unit_id); one result per row, "
         "valid rows kept even when others fail: 200, not one created resource"),
    rule(_M, "POST", "/api/v1/enrollments/import", admin=OK, hr=SEEN, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md import: as the batch, from a CSV/XLSX upload"),
    rule(_M, "GET", "/api/v1/enrollments/import-template", admin=OK, hr=OK, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="the import's blank list: for those who import (admin, hr)"),
    rule(_M, "GET", "/api/v1/enrollments/{enrollment_id}", hr=SEEN, member=SEEN, **_ALL_READ,
         why="not in API.md: read like the list"),
    rule(_M, "POST", "/api/v1/enrollments/{enrollment_id}/cancel", admin=OK, hr=DENIED,
         member=DENIED, **_STAFF_FORBIDDEN,
         why="not in API.md: cancelling before cover is the union's (admin); another "
         "unit's or member's enrolment is 404 (the code says 403: enrollments.service "
         "checks the role before looking the enrolment up)"),
    # --- contributions: finance, admin (hr: own unit, read); auditor reads ------------------
    rule(_M, "POST", "/api/v1/contributions", admin=CREATED, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=CREATED, auditor=FORBIDDEN,
         why="API.md contributions: finance, admin record payments; hr reads only"),
    rule(_M, "GET", "/api/v1/contributions", admin=OK, hr=FILTERED, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=OK, auditor=OK,
         why="API.md contributions: finance, admin (hr: own unit, read); the auditor reads "
         "everything; payments are no member's record and not the reviewer's work"),
    rule(_M, "GET", "/api/v1/contributions/{contribution_id}", admin=OK, hr=SEEN,
         member=FORBIDDEN, reviewer=FORBIDDEN, finance=OK, auditor=OK,
         why="not in API.md: read like the list"),
    rule(_M, "POST", "/api/v1/contributions/{contribution_id}/reversal", admin=CREATED,
         hr=DENIED, member=FORBIDDEN, reviewer=FORBIDDEN, finance=CREATED, auditor=FORBIDDEN,
         why="API.md reversal: finance, admin; a new negative entry: 201; hr may read its "
         "unit's payment but not reverse it (another unit's is 404)"),
    # --- coverage: all (member: self) -------------------------------------------------------
    rule(_M, "GET", "/api/v1/coverage", hr=SEEN, member=SEEN, **_ALL_READ,
         why="API.md coverage: all (member: self); hr: its unit's members"),
    rule(_M, "POST", "/api/v1/coverage/lookup", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=FORBIDDEN, auditor=FORBIDDEN,
         why="API.md coverage lookup: admin (the claims service's settlement imports)"),
    # --- reports and audit log: admin, auditor ----------------------------------------------
    rule(_M, "GET", "/api/v1/reports/enrollment", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=FORBIDDEN, auditor=OK, why="API.md: admin, auditor"),
    rule(_M, "GET", "/api/v1/reports/contributions", admin=OK, hr=FORBIDDEN,
         member=FORBIDDEN, reviewer=FORBIDDEN, finance=OK, auditor=OK,
         why="API.md contributions report: admin, auditor, finance (finance records payments)"),
    rule(_M, "GET", "/api/v1/audit-events", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=FORBIDDEN, auditor=OK,
         why="API.md audit-events: auditor, admin (the registry's log: ?entity=member)"),
    # --- claims -----------------------------------------------------------------------------
    rule(_C, "POST", "/api/v1/claims/quote", admin=OK, hr=SEEN, member=SEEN,
         **_STAFF_FORBIDDEN, why="API.md quote: member, hr, admin; saves nothing: 200"),
    rule(_C, "POST", "/api/v1/claims", admin=CREATED, hr=FILED, member=FILED,
         **_STAFF_FORBIDDEN, why="API.md claims: member (self), hr (own unit), admin"),
    rule(_C, "GET", "/api/v1/claims", hr=FILTERED, member=FILTERED, **_ALL_READ,
         why="API.md claims: owner, unit hr, reviewer, finance, auditor, admin"),
    rule(_C, "GET", "/api/v1/claims/{claim_id}", hr=SEEN, member=SEEN, **_ALL_READ,
         why="API.md claims: owner, unit hr, reviewer, finance, auditor, admin"),
    rule(_C, "POST", "/api/v1/claims/{claim_id}/decision", admin=FORBIDDEN, hr=DENIED,
         member=DENIED, reviewer=OK, finance=FORBIDDEN, auditor=FORBIDDEN,
         why="API.md decision: reviewer"),
    rule(_C, "POST", "/api/v1/claims/{claim_id}/supplement", admin=OK, hr=SEEN, member=SEEN,
         **_STAFF_FORBIDDEN,
         why="not in API.md; DOMAIN.md needs_info -> pending_review when supplied: the "
         "filer's side, like withdraw (member own, hr own unit, admin who files)"),
    rule(_C, "POST", "/api/v1/claims/{claim_id}/withdraw", admin=OK, hr=SEEN, member=SEEN,
         **_STAFF_FORBIDDEN, why="API.md withdraw: member (own), hr; admin files claims"),
    # --- claim documents: upload by the filer's side; read by those, reviewer, auditor -------
    rule(_C, "POST", "/api/v1/claims/{claim_id}/documents", admin=CREATED, hr=FILED,
         member=FILED, **_STAFF_FORBIDDEN,
         why="API.md documents: upload: owner, unit hr, admin"),
    rule(_C, "GET", "/api/v1/claims/{claim_id}/documents", admin=OK, hr=SEEN, member=SEEN,
         reviewer=OK, finance=FORBIDDEN, auditor=OK,
         why="API.md documents: list: owner, unit hr, admin, reviewer, auditor; DOMAIN.md: "
         "not finance"),
    rule(_C, "GET", "/api/v1/claims/{claim_id}/documents/{document_id}", admin=OK, hr=SEEN,
         member=SEEN, reviewer=OK, finance=FORBIDDEN, auditor=OK,
         why="not in API.md: one document's description, read like the list"),
    rule(_C, "GET", "/api/v1/claims/{claim_id}/documents/{document_id}/content", admin=OK,
         hr=SEEN, member=SEEN, reviewer=OK, finance=FORBIDDEN, auditor=OK,
         why="API.md content: owner, unit hr, reviewer, auditor, admin (audited)"),
    rule(_C, "POST", "/api/v1/claims/{claim_id}/documents/{document_id}/withdraw", admin=OK,
         hr=SEEN, member=SEEN, **_STAFF_FORBIDDEN,
         why="API.md withdraw: who uploaded it (the matrix's caller uploaded the paper; "
         "someone else's is 403 not_the_uploader: tests/claims/test_documents_upload.py)"),
    # --- payouts: finance writes; finance, auditor, admin read ------------------------------
    rule(_C, "POST", "/api/v1/payouts", admin=FORBIDDEN, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=CREATED, auditor=FORBIDDEN, why="API.md payouts: finance"),
    rule(_C, "GET", "/api/v1/payouts", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=OK, auditor=OK, why="API.md ledger: finance, auditor, admin"),
    rule(_C, "GET", "/api/v1/payouts/{batch_id}", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=OK, auditor=OK, why="API.md ledger: finance, auditor, admin"),
    rule(_C, "POST", "/api/v1/payouts/{batch_id}/reversal", admin=FORBIDDEN, hr=FORBIDDEN,
         member=FORBIDDEN, reviewer=FORBIDDEN, finance=CREATED, auditor=FORBIDDEN,
         why="API.md reversal: finance; a new negative entry is created: 201"),
    rule(_C, "GET", "/api/v1/payouts/{batch_id}/bank-file", admin=FORBIDDEN, hr=FORBIDDEN,
         member=FORBIDDEN, reviewer=FORBIDDEN, finance=OK, auditor=FORBIDDEN,
         why="API.md bank-file: finance (full account numbers: not even the auditor, who reads "
         "the ledger's masked ones)"),
    rule(_C, "POST", "/api/v1/claims/import", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=FORBIDDEN, auditor=FORBIDDEN,
         why="API.md claims import: admin (union staff upload the insurer's settlement data); "
         "one result per row, like an import: 200"),
    rule(_C, "POST", "/api/v1/payouts/{batch_id}/bank-result", admin=FORBIDDEN, hr=FORBIDDEN,
         member=FORBIDDEN, reviewer=FORBIDDEN, finance=OK, auditor=FORBIDDEN,
         why="API.md bank-result: finance; one result per line, like an import: 200"),
    # --- webhook deliveries: admin any subscription, hr its unit's -------------------------
    rule(_C, "GET", "/api/v1/webhooks/{webhook_id}/deliveries", admin=OK, hr=SEEN,
         member=FORBIDDEN, reviewer=FORBIDDEN, finance=FORBIDDEN, auditor=FORBIDDEN,
         why="API.md webhooks: admin, hr (own unit); another unit's subscription is 404"),
    rule(_C, "POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
         admin=OK, hr=SEEN, member=FORBIDDEN, reviewer=FORBIDDEN, finance=FORBIDDEN,
         auditor=FORBIDDEN,
         why="API.md webhooks: admin, hr (own unit); sends a delivered one again: 200"),
    # --- webhook subscriptions: admin, hr its own unit --------------------------------------
    rule(_C, "POST", "/api/v1/webhooks", admin=CREATED, hr=FILED, member=FORBIDDEN,
         **_STAFF_FORBIDDEN,
         why="API.md webhooks: admin, hr (own unit); hr naming another unit: not found"),
    rule(_C, "GET", "/api/v1/webhooks", admin=OK, hr=FILTERED, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md webhooks: admin, hr (own unit's only)"),
    rule(_C, "GET", "/api/v1/webhooks/{webhook_id}", admin=OK, hr=SEEN, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md webhooks: admin, hr (own unit)"),
    rule(_C, "PATCH", "/api/v1/webhooks/{webhook_id}", admin=OK, hr=SEEN, member=FORBIDDEN,
         **_STAFF_FORBIDDEN, why="API.md webhooks: admin, hr (own unit)"),
    rule(_C, "DELETE", "/api/v1/webhooks/{webhook_id}", admin=NO_CONTENT,
         hr=Scoped(NO_CONTENT, NOT_FOUND), member=FORBIDDEN, **_STAFF_FORBIDDEN,
         why="API.md webhooks: admin, hr (own unit); deleting answers 204"),
    # --- reports and audit log: admin, auditor ----------------------------------------------
    rule(_C, "GET", "/api/v1/reports/claims", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=FORBIDDEN, auditor=OK, why="API.md: admin, auditor"),
    rule(_C, "GET", "/api/v1/audit-events", admin=OK, hr=FORBIDDEN, member=FORBIDDEN,
         reviewer=FORBIDDEN, finance=FORBIDDEN, auditor=OK,
         why="API.md audit-events: auditor, admin (the claims service's log)"),
)
# fmt: on

RULES: dict[Route, Rule] = {r.route: r for r in RULES_LIST}
assert len(RULES) == len(RULES_LIST), "a route has two rules"


def cases() -> list[tuple[Route, str, str, int]]:
    """Every (route, role, scope, expected status); scope is "own" / "other" for a scoped
    expectation, "any" otherwise."""
    out = []
    for route, r in RULES.items():
        for role in ROLES:
            value = r.expect[role]
            if isinstance(value, Scoped):
                out.append((route, role, "own", value.own))
                out.append((route, role, "other", value.other))
            else:
                out.append((route, role, "any", value))
    return out
