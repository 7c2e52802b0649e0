"""Who may call a route, in its signature (STYLE.md 11): a route takes `principal: Admin`
(or another alias below) and a role not named there is refused with 403 before the route
runs. Scope rules, that another unit's or member's record is answered 404, stay in the
services, beside the query that finds the record.

A route that must not say whether a record exists to a role that may see it but not act on
it (hr on another unit's unit, a member on another's claim) takes the record's lookup
dependency first and its alias second: FastAPI resolves them in that order, so another's
record is 404 and one's own 403 (tests/access_rules.py, `DENIED`)."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends

from services.kit.auth import Principal, PrincipalDep, Role


def authenticator(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency answering the caller's principal if its role is one of `roles` (a
    function, not a class as Polar's: the dependencies are checked to be `async def`,
    tests/test_dependencies.py)."""

    async def allowed(principal: PrincipalDep) -> Principal:
        principal.require(*roles)
        return principal

    allowed.__qualname__ = f"authenticator({', '.join(roles)})"
    allowed.roles = roles  # type: ignore[attr-defined]  # read by tests/test_access_in_signatures.py
    return allowed


STAFF_READERS = (Role.admin, Role.reviewer, Role.finance, Role.auditor)
"""Read every unit's records (DOMAIN.md: the auditor reads everything; the reviewer and
finance read what they need to decide and to pay)."""

Anyone = PrincipalDep
"""Every role; what each sees is the service's scope rule."""
Admin = Annotated[Principal, Depends(authenticator(Role.admin))]
AdminOrHr = Annotated[Principal, Depends(authenticator(Role.admin, Role.hr))]
StaffOrHr = Annotated[Principal, Depends(authenticator(*STAFF_READERS, Role.hr))]
AdminOrAuditor = Annotated[Principal, Depends(authenticator(Role.admin, Role.auditor))]
ReportReaderWithFinance = Annotated[
    Principal, Depends(authenticator(Role.admin, Role.auditor, Role.finance))
]
"""The reports on money the union received (the contributions report): finance records it."""
Filer = Annotated[Principal, Depends(authenticator(Role.member, Role.hr, Role.admin))]
"""Files claims and acts on the filer's side (supplement, withdraw)."""
DocumentReader = Annotated[
    Principal,
    Depends(authenticator(Role.admin, Role.hr, Role.member, Role.reviewer, Role.auditor)),
]
"""Reads a claim's papers (DOMAIN.md, "Claim documents"): the claim's member, its unit's hr,
admin, the reviewer and the auditor; not finance, who pays without seeing medical papers."""
Reviewer = Annotated[Principal, Depends(authenticator(Role.reviewer))]
Finance = Annotated[Principal, Depends(authenticator(Role.finance))]
LedgerReader = Annotated[Principal, Depends(authenticator(Role.finance, Role.auditor, Role.admin))]
FinanceOrAdmin = Annotated[Principal, Depends(authenticator(Role.finance, Role.admin))]
"""Records what units pay (contributions); reads the members' payout accounts in full for a
payment batch (the claims service calls the registry with finance's token)."""
AdminHrOrMember = Annotated[Principal, Depends(authenticator(Role.admin, Role.hr, Role.member))]
"""Acts for one member: admin, its unit's hr, the member itself (its payout account); the
record's lookup comes first, so another unit's or member's is 404."""
LedgerReaderOrHr = Annotated[
    Principal, Depends(authenticator(Role.finance, Role.auditor, Role.admin, Role.hr))
]
"""Reads what units paid: the ledger's readers, and hr its own unit's."""
