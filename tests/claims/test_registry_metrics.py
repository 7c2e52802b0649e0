"""The hop every claim makes to the registry is timed in the claims service's metrics, by
outcome, so that its share of a claim's time can be watched in production (README:
performance)."""

from tests.claims.support_claims import (
    CLAIMS,
    day,
    enrolled_member,
    file_claim,
    hospital_stay,
    registry_calls,
)
from tests.support import ADMIN


async def test_a_claim_filed_times_one_registry_call(api, claims_app):
    worker = await enrolled_member(api)
    before = await registry_calls(claims_app, "ok")
    await file_claim(api, worker, hospital_stay(day(3, 2)))
    assert await registry_calls(claims_app, "ok") == before + 1


async def test_an_unknown_member_is_timed_as_not_found(api, claims_app):
    worker = await enrolled_member(api)
    before = await registry_calls(claims_app, "not_found")
    body = {**worker.claim(hospital_stay(day(3, 2))), "member_id": "mbr_nobody"}
    response = await api.post(CLAIMS, json=body, headers=ADMIN)
    assert response.status_code == 404, response.text
    assert await registry_calls(claims_app, "not_found") == before + 1
