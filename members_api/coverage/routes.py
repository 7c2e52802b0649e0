from typing import Annotated

from fastapi import APIRouter, Query, Response

from members_api.coverage import lookup, service
from members_api.coverage.schemas import CoverageLookup, CoverageLookupRead, CoverageRead
from members_api.enrollments.schemas import ID_PATTERN
from services.kit.access import Admin, Anyone
from services.kit.clock import today
from services.kit.database import ReadConnectionDep
from services.kit.dates import SchemeDate

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])


# The answer is built from validated parts and serialised once, here: returned as a model,
# FastAPI would validate it against the response model again (the claims service's hot path).
# response_model keeps the documented schema.
@router.get(
    "",
    response_model=CoverageRead,
    summary="Is this member covered by this plan on that day (member: itself)",
)
async def get_coverage(
    connection: ReadConnectionDep,
    principal: Anyone,
    member_id: Annotated[str, Query(pattern=ID_PATTERN)],
    plan_code: Annotated[str, Query(pattern=ID_PATTERN)],
    on: Annotated[SchemeDate | None, Query(description="YYYY-MM-DD; default: today")] = None,
) -> Response:
    answer = await service.coverage(connection, principal, member_id, plan_code, on or today())
    return Response(content=answer.model_dump_json(), media_type="application/json")


@router.post(
    "/lookup",
    response_model=CoverageLookupRead,
    summary="Many workers' coverage by one plan, each on its day (admin: the claims service's "
    "settlement imports); 404 when the plan does not exist",
)
async def lookup_coverage(
    body: CoverageLookup, connection: ReadConnectionDep, principal: Admin
) -> Response:
    answer = await lookup.lookup(connection, body.plan_code, body.items)
    return Response(content=answer, media_type="application/json")
