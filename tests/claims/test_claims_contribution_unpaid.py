"""The claims service refuses a claim whose event is before its enrolment's cover started
for want of payment, with the reason `contribution_unpaid` (DOMAIN.md, "Contributions" and
"Claims"), through both real services: the registry answers the cover, finance records the
unit's payment there, and the claims service decides.

The default hospital plan (tests.support.plan_body) pays 4000.00 for the default stay
(support_claims.hospital_stay), with no waiting period unless a test gives one."""

from datetime import timedelta

import pytest

from tests.claims.support_claims import (
    CLAIMS,
    approve,
    day,
    decide,
    enrolled_member,
    file_claim,
    hospital_stay,
    problem,
)
from tests.payment_support import record_payment

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


def refused(claim: dict) -> list[str]:
    assert claim["status"] == "rejected", claim
    assert claim["payable"] == claim["assessment"]["payable"] == "0.00"
    return claim["assessment"]["reason_codes"]


class TestContributionUnpaid:
    async def test_a_claim_on_an_unpaid_enrolment_is_refused(self, api):
        worker = await enrolled_member(api, cover_requires_payment=True)
        facts = hospital_stay(day(3, 2))
        quote = await api.post(f"{CLAIMS}/quote", json=worker.claim(facts), headers=worker.member)
        assert quote.status_code == 200, quote.text
        assert quote.json()["status_if_filed"] == "rejected"
        assert quote.json()["assessment"]["reason_codes"] == ["contribution_unpaid"]

        claim = await file_claim(api, worker, facts)
        assert refused(claim) == ["contribution_unpaid"]
        benefit = claim["assessment"]["lines"][-1]
        assert benefit["amount"] == "0.00"
        assert "contribution_unpaid" in benefit["text"] and "not paid" in benefit["text"]
        assert claim["enrollment_id"] == worker.enrollment_id

    async def test_paid_late_an_event_before_the_payment_is_refused_and_after_it_paid(self, api):
        worker = await enrolled_member(api, cover_requires_payment=True)
        paid_on = day(3, 10)
        await record_payment(api, worker.unit_id, worker.plan_code, "36.00", paid_on)

        before = await file_claim(api, worker, hospital_stay(paid_on - timedelta(days=5)))
        assert refused(before) == ["contribution_unpaid"]
        assert str(paid_on) in before["assessment"]["lines"][-1]["text"]

        after = await file_claim(api, worker, hospital_stay(paid_on))
        assert after["status"] == "pending_review", after
        assert after["assessment"]["payable"] == "4000.00"

    async def test_waiting_days_count_from_the_payment(self, api):
        worker = await enrolled_member(api, cover_requires_payment=True, waiting_days=30)
        paid_on = day(3, 10)
        await record_payment(api, worker.unit_id, worker.plan_code, "36.00", paid_on)

        waiting = await file_claim(api, worker, hospital_stay(paid_on + timedelta(days=29)))
        assert refused(waiting) == ["waiting_period"]
        lines = {line["category"]: line for line in waiting["assessment"]["lines"]}
        assert str(paid_on + timedelta(days=29)) in lines["eligpercent"]["text"]  # its last day

        covered = await file_claim(api, worker, hospital_stay(paid_on + timedelta(days=30)))
        assert covered["status"] == "pending_review", covered
        assert covered["assessment"]["payable"] == "4000.00"

    async def test_a_reopened_claim_is_still_refused_on_its_snapshot(self, api):
        """The cover is snapshotted on the claim: paying afterwards, from a later day, does not
        make an earlier event payable, and approving says why."""
        worker = await enrolled_member(api, cover_requires_payment=True)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert refused(claim) == ["contribution_unpaid"]
        await record_payment(api, worker.unit_id, worker.plan_code, "36.00", day(4, 1))
        reopened = await decide(api, claim["id"], "reopen", "the unit says it has paid")
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["assessment"]["reason_codes"] == ["contribution_unpaid"]
        body = problem(await decide(api, claim["id"], "approve"), 422, "contribution_unpaid")
        assert body["reason_codes"] == ["contribution_unpaid"]

    async def test_without_the_flag_an_unpaid_enrolment_is_paid_as_before(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert claim["status"] == "pending_review", claim
        approved = await approve(api, claim["id"])
        assert approved["payable"] == "4000.00"
