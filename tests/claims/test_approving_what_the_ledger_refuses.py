"""A claim refused for what other claims hold (an invoice already claimed, a stay that overlaps
another) can be reopened, but approving it is a clear refusal naming the reason, not a 500."""

import pytest

from tests.claims.support_claims import (
    day,
    decide,
    enrolled_member,
    file_claim,
    get_claim,
    hospital_stay,
    problem,
)

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


async def _reopened_while_the_other_stands(api, second_facts):
    """The second claim, rejected at filing for what the first holds, then reopened."""
    worker = await enrolled_member(api)
    first = await file_claim(api, worker, hospital_stay(day(3, 2), invoices=["INV-A"]))
    assert first["status"] == "pending_review", first
    second = await file_claim(api, worker, second_facts)
    assert second["status"] == "rejected", second
    reopened = await decide(api, second["id"], "reopen", "the member says it is another stay")
    assert reopened.status_code == 200, reopened.text
    return reopened.json()


async def test_approving_a_stay_that_overlaps_another_claim_is_refused(api):
    claim = await _reopened_while_the_other_stands(
        api, hospital_stay(day(3, 4), invoices=["INV-B"])
    )
    assert "overlapping_stay" in claim["assessment"]["reason_codes"]
    body = problem(await decide(api, claim["id"], "approve"), 422, "overlapping_stay")
    assert "overlapping_stay" in body["detail"]


async def test_a_claim_whose_invoice_is_claimed_elsewhere_is_not_reopened(api):
    worker = await enrolled_member(api)
    first = await file_claim(api, worker, hospital_stay(day(3, 2), invoices=["INV-A"]))
    second = await file_claim(api, worker, hospital_stay(day(6, 1), invoices=["INV-A"]))
    assert second["assessment"]["reason_codes"][0] == "duplicate_invoice"
    reopened = await decide(api, second["id"], "reopen", "the member says it is another stay")
    problem(reopened, 409, "duplicate_invoice")
    assert (await get_claim(api, second["id"]))["status"] == "rejected"
    assert (await get_claim(api, first["id"]))["status"] == "pending_review"
