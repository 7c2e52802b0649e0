from fastapi import APIRouter
from fastapi.responses import Response

from members_api import problems
from members_api.members.routes import VisibleMember
from members_api.payout_accounts import service
from members_api.payout_accounts.schemas import (
    PayoutAccountLookup,
    PayoutAccountRead,
    PayoutAccountSet,
    PayoutAccountsFound,
)
from services.kit.access import AdminHrOrMember, Anyone, FinanceOrAdmin
from services.kit.database import SessionDep
from services.kit.openapi import problem_responses

router = APIRouter(tags=["payout accounts"])
ACCOUNT = "/api/v1/members/{member_id}/payout-account"


@router.get(
    ACCOUNT,
    summary="A worker's bank card for payouts (masked but for the member, its unit's hr, "
    "admin); 404 when it has none",
)
async def get_payout_account(
    member: VisibleMember, principal: Anyone, session: SessionDep
) -> PayoutAccountRead:
    return await service.get_account(session, principal, member)


@router.put(
    ACCOUNT,
    summary="Set a worker's bank card for payouts (admin; hr: its unit; member: itself)",
    responses=problem_responses(*problems.PAYOUT_ACCOUNT_PROBLEMS),
)
async def set_payout_account(
    member: VisibleMember, principal: AdminHrOrMember, body: PayoutAccountSet, session: SessionDep
) -> PayoutAccountRead:
    return await service.set_account(session, principal, member, body)


@router.delete(
    ACCOUNT,
    status_code=204,
    summary="Remove a worker's bank card (admin; hr: its unit; member: itself)",
)
async def delete_payout_account(
    member: VisibleMember, principal: AdminHrOrMember, session: SessionDep
) -> Response:
    await service.delete_account(session, principal, member)
    return Response(status_code=204)


@router.post(
    "/api/v1/payout-accounts/lookup",
    summary="Many workers' bank cards in full, for a payment batch (the claims service, with "
    "finance's token; admin)",
)
async def lookup_payout_accounts(
    body: PayoutAccountLookup, principal: FinanceOrAdmin, session: SessionDep
) -> PayoutAccountsFound:
    return await service.lookup(session, principal, body.member_ids)
