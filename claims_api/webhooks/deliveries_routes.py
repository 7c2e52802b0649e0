"""What was sent to a subscription, and sending one delivery again (API.md: webhooks)."""

from fastapi import APIRouter

from claims_api import problems
from claims_api.webhooks import deliveries_service as service
from claims_api.webhooks.deliveries_schemas import DeliveryRead
from services.kit.access import AdminOrHr
from services.kit.database import SessionDep
from services.kit.openapi import problem_responses
from services.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.get(
    "/{webhook_id}/deliveries",
    summary="A subscription's deliveries, oldest first, each with its attempts",
)
async def list_deliveries(
    webhook_id: str, session: SessionDep, principal: AdminOrHr, page: PageDep
) -> Page[DeliveryRead]:
    rows, items = await service.list_deliveries(session, principal, webhook_id, page)
    return Page[DeliveryRead](**page.page(rows, items))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    summary="Send a delivered or failed delivery again",
    responses=problem_responses(problems.DELIVERY_PENDING),
)
async def retry_delivery(
    webhook_id: str, delivery_id: str, session: SessionDep, principal: AdminOrHr
) -> DeliveryRead:
    # audited in the service, in the request's transaction
    return await service.retry_delivery(session, principal, webhook_id, delivery_id)
