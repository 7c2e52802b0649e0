"""Filing a claim through the public API: the assessment a member sees, each automatic refusal
with its reason code, who may file for whom, bad facts, quotes and retried requests.

The default hospital plan (tests.support.plan_body): threshold 1000 (not subtracted), 50% up to
5000 and 60% above, per-stay cap 10000 and term cap 20000 per share, no waiting period. The
default stay (support_claims.hospital_stay) has 7500.00 out of pocket in policy, so it pays
5000 x 50% + 2500 x 60% = 2500.00 + 1500.00 = 4000.00."""

import pytest

from tests.claims.support_claims import (
    CLAIMS,
    approved_claim,
    day,
    diagnosis,
    enrol,
    enrolled_member,
    file_claim,
    get_claim,
    hospital_stay,
    listed,
    new_member,
    new_unit,
    problem,
)
from tests.support import ADMIN, REVIEWER, bearer

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


def rejected_for(claim: dict, code: str) -> None:
    assert claim["status"] == "rejected", claim
    assert claim["payable"] == "0.00"
    assert claim["assessment"]["payable"] == "0.00"
    assert claim["assessment"]["reason_codes"] == [code]


class TestFilingAClaim:
    async def test_clean_stay_waits_for_a_reviewer_with_its_assessment(self, api):
        worker = await enrolled_member(api)
        response = await api.post(
            CLAIMS, json=worker.claim(hospital_stay(day(3, 2))), headers=worker.member
        )
        assert response.status_code == 201, response.text
        claim = response.json()
        assert claim["id"]
        assert claim["status"] == "pending_review"
        assessment = claim["assessment"]
        assert assessment["payable"] == "4000.00"
        assert assessment["reason_codes"] == []
        lines = {line["category"]: line for line in assessment["lines"]}
        assert [line["category"] for line in assessment["lines"]] == [
            "submitted",
            "eligible",
            "deductible",
            "eligpercent",
            "benefit",
        ]
        # 10000.00 insurance + 7500.00 out of pocket in policy + 500.00 self pay
        assert lines["submitted"]["amount"] == "18000.00"
        assert lines["eligible"]["amount"] == "7500.00"
        assert lines["deductible"]["amount"] == "0.00"
        assert lines["eligpercent"]["ratio"] == "1"
        assert lines["benefit"]["amount"] == "4000.00"
        assert "5000.00 x 50% + 2500.00 x 60%" in lines["benefit"]["text"]
        assert assessment["cap_left"] == "16000.00"  # 20000.00 - 4000.00
        assert claim["unit_id"] == worker.unit_id
        assert claim["enrollment_id"] == worker.enrollment_id
        assert [(e["from_status"], e["to_status"]) for e in claim["history"]] == [
            (None, "submitted"),
            ("submitted", "pending_review"),
        ]

    async def test_member_sees_the_stored_claim_as_filed(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert await get_claim(api, claim["id"], headers=worker.member) == claim

    async def test_unit_hr_files_for_its_worker(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)), headers=worker.hr)
        assert claim["status"] == "pending_review"
        assert claim["member_id"] == worker.member_id
        assert claim["submitted_by"] == f"hr:{worker.unit_id}"

    async def test_two_shares_double_the_caps_not_the_payout(self, api):
        worker = await enrolled_member(api, shares=2)
        # 30000 in policy: 2500.00 + 25000 x 60% = 17500.00, under the 10000 x 2 stay cap
        claim = await file_claim(api, worker, hospital_stay(day(3, 2), out_of_pocket="30000.00"))
        assert claim["payable"] == "17500.00"
        assert claim["assessment"]["cap_left"] == "22500.00"  # 20000 x 2 - 17500

    async def test_reduced_period_pays_the_reduced_ratio(self, api):
        worker = await enrolled_member(api, waiting_days=30, reduced_days=90, reduced_ratio="0.5")
        # Cover from 1 January: waiting to 30 January, reduced to 31 March.
        claim = await file_claim(api, worker, hospital_stay(day(2, 15)))
        assert claim["status"] == "pending_review"
        assert claim["payable"] == "2000.00"  # 4000.00 x 50%
        eligpercent = [x for x in claim["assessment"]["lines"] if x["category"] == "eligpercent"]
        assert eligpercent[0]["ratio"] == "0.5"

    async def test_payout_within_the_auto_approval_limit_is_approved_by_the_system(self, api):
        worker = await enrolled_member(api, auto_approve_limit="5000.00")
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert claim["status"] == "approved"
        assert claim["payable"] == "4000.00"
        assert claim["approved_by"] == "system"
        last = claim["history"][-1]
        assert (last["from_status"], last["to_status"], last["actor"]) == (
            "submitted",
            "approved",
            "system",
        )

    async def test_payout_over_the_auto_approval_limit_waits_for_a_reviewer(self, api):
        worker = await enrolled_member(api, auto_approve_limit="3999.99")
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert claim["status"] == "pending_review"
        assert claim["approved_by"] is None


class TestAutomaticRefusals:
    async def test_worker_without_enrolment_is_refused_not_enrolled(self, api):
        worker = await enrolled_member(api)
        colleague = await new_member(api, worker.unit_id)
        body = {**worker.claim(hospital_stay(day(3, 2))), "member_id": colleague}
        response = await api.post(CLAIMS, json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        rejected_for(response.json(), "not_enrolled")

    async def test_stay_before_the_cover_starts_is_refused_not_enrolled(self, api):
        worker = await enrolled_member(api, starts_on=day(6, 1))
        rejected_for(await file_claim(api, worker, hospital_stay(day(3, 2))), "not_enrolled")

    async def test_stay_in_the_waiting_period_is_refused(self, api):
        worker = await enrolled_member(api, waiting_days=30)
        # Cover from 1 January: the waiting period's last day is 30 January.
        claim = await file_claim(api, worker, hospital_stay(day(1, 30), days=2))
        rejected_for(claim, "waiting_period")
        # The day after, the same worker is covered.
        later = await file_claim(api, worker, hospital_stay(day(1, 31), days=2))
        assert later["status"] == "pending_review"

    async def test_claim_filed_after_the_deadline_is_refused(self, api):
        worker = await enrolled_member(api, claim_deadline_days=30)
        # Discharged 7 March: the deadline was 6 April, long gone.
        rejected_for(await file_claim(api, worker, hospital_stay(day(3, 2))), "deadline_passed")

    async def test_invoice_already_claimed_by_another_worker_is_refused(self, api):
        first = await enrolled_member(api)
        second = await enrolled_member(api, plan_code=first.plan_code)
        await file_claim(api, first, hospital_stay(day(3, 2), invoices=["FP2026-001"]))
        claim = await file_claim(
            api, second, hospital_stay(day(4, 2), invoices=["FP2026-002", "FP2026-001"])
        )
        rejected_for(claim, "duplicate_invoice")
        assert "FP2026-001" in claim["assessment"]["lines"][-1]["text"]

    async def test_invoice_of_a_withdrawn_claim_may_be_claimed_again(self, api):
        first = await enrolled_member(api)
        second = await enrolled_member(api, plan_code=first.plan_code)
        withdrawn = await file_claim(api, first, hospital_stay(day(3, 2), invoices=["FP-9"]))
        response = await api.post(
            f"{CLAIMS}/{withdrawn['id']}/withdraw", json={}, headers=first.member
        )
        assert response.status_code == 200, response.text
        claim = await file_claim(api, second, hospital_stay(day(4, 2), invoices=["FP-9"]))
        assert claim["status"] == "pending_review"

    async def test_same_invoice_under_another_plan_is_not_a_duplicate(self, api):
        first = await enrolled_member(api)
        other_plan = await enrolled_member(api)
        await file_claim(api, first, hospital_stay(day(3, 2), invoices=["FP-7"]))
        claim = await file_claim(api, other_plan, hospital_stay(day(3, 2), invoices=["FP-7"]))
        assert claim["status"] == "pending_review"

    async def test_overlapping_stay_of_the_same_worker_is_refused(self, api):
        worker = await enrolled_member(api)
        await file_claim(api, worker, hospital_stay(day(3, 2), days=5))  # 2 to 7 March
        claim = await file_claim(api, worker, hospital_stay(day(3, 7), days=3))
        rejected_for(claim, "overlapping_stay")
        next_stay = await file_claim(api, worker, hospital_stay(day(3, 8), days=3))
        assert next_stay["status"] == "pending_review"

    async def test_diagnosis_not_listed_in_the_plan_is_refused(self, api):
        worker = await enrolled_member(api, "fixed_benefit")
        claim = await file_claim(api, worker, diagnosis(day(3, 2), code="I21.0"))
        rejected_for(claim, "condition_not_covered")

    async def test_second_condition_of_an_already_paid_group_is_refused(self, api):
        worker = await enrolled_member(api, "fixed_benefit")
        first = await approved_claim(api, worker, diagnosis(day(3, 2), code="C50.9"))
        assert first["payable"] == "12000.00"  # 10000.00 x 1 share + 2000.00 fixed extra
        # Cervical cancer is another condition of the same "malignant" group.
        claim = await file_claim(api, worker, diagnosis(day(5, 2), code="C53.1"))
        rejected_for(claim, "already_paid_group")

    async def test_second_claim_stops_at_annual_cap(self, api):
        worker = await enrolled_member(api, benefit={"term_cap_per_share": "4000"})
        first = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        assert first["payable"] == "4000.00"
        assert first["assessment"]["cap_left"] == "0.00"
        rejected_for(await file_claim(api, worker, hospital_stay(day(5, 2))), "cap_reached")

    async def test_second_claim_is_paid_what_is_left_of_the_annual_cap(self, api):
        worker = await enrolled_member(api, benefit={"term_cap_per_share": "6000"})
        await approved_claim(api, worker, hospital_stay(day(3, 2)))
        claim = await file_claim(api, worker, hospital_stay(day(5, 2)))
        assert claim["status"] == "pending_review"
        assert claim["payable"] == "2000.00"  # 6000.00 - 4000.00 already approved
        assert claim["assessment"]["cap_left"] == "0.00"

    async def test_stay_after_the_worker_left_is_refused(self, api):
        worker = await enrolled_member(api)
        response = await api.patch(
            f"/api/v1/members/{worker.member_id}",
            json={"status": "left", "left_on": str(day(6, 30))},
            headers=ADMIN,
        )
        assert response.status_code == 200, response.text
        rejected_for(await file_claim(api, worker, hospital_stay(day(7, 10))), "member_left")
        # A stay before leaving is still covered.
        before = await file_claim(api, worker, hospital_stay(day(6, 20), days=3))
        assert before["status"] == "pending_review"

    async def test_bill_whose_parts_do_not_add_up_is_refused(self, api):
        worker = await enrolled_member(api)
        # 10000.00 + 7500.00 + 500.00 is 18000.00, not 19000.00
        claim = await file_claim(api, worker, hospital_stay(day(3, 2), total_cost="19000.00"))
        rejected_for(claim, "amounts_inconsistent")

    async def test_stay_below_the_threshold_is_refused(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2), out_of_pocket="999.99"))
        rejected_for(claim, "below_threshold")

    async def test_automatic_refusal_is_in_the_history_by_the_system(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2), out_of_pocket="800.00"))
        last = claim["history"][-1]
        assert (last["to_status"], last["actor"], last["role"]) == ("rejected", "system", "system")
        assert "below_threshold" in last["reason"]


class TestQuote:
    async def test_quote_answers_the_assessment_and_stores_nothing(self, api):
        worker = await enrolled_member(api)
        facts = hospital_stay(day(3, 2))
        response = await api.post(f"{CLAIMS}/quote", json=worker.claim(facts), headers=worker.hr)
        assert response.status_code == 200, response.text
        quote = response.json()
        assert quote["status_if_filed"] == "pending_review"
        assert quote["assessment"]["payable"] == "4000.00"
        assert quote["assessment"]["reason_codes"] == []
        assert await listed(api) == []
        # Its invoice was not held either: filing the same stay is not a duplicate.
        claim = await file_claim(api, worker, facts)
        assert claim["status"] == "pending_review"

    async def test_quote_names_the_reason_a_claim_would_be_refused(self, api):
        worker = await enrolled_member(api)
        facts = hospital_stay(day(3, 2), out_of_pocket="500.00")
        response = await api.post(f"{CLAIMS}/quote", json=worker.claim(facts), headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["status_if_filed"] == "rejected"
        assert response.json()["assessment"]["reason_codes"] == ["below_threshold"]
        assert await listed(api) == []


class TestWhoMayFile:
    async def test_member_cannot_file_for_another_member(self, api):
        worker = await enrolled_member(api)
        colleague = await enrolled_member(api, plan_code=worker.plan_code, unit_id=worker.unit_id)
        body = worker.claim(hospital_stay(day(3, 2)))
        problem(await api.post(CLAIMS, json=body, headers=colleague.member), 404)
        problem(await api.post(f"{CLAIMS}/quote", json=body, headers=colleague.member), 404)
        assert await listed(api) == []

    async def test_hr_of_another_unit_cannot_file(self, api):
        worker = await enrolled_member(api)
        other_hr = bearer("hr", unit_id=await new_unit(api, "第二纺织厂"))
        body = worker.claim(hospital_stay(day(3, 2)))
        problem(await api.post(CLAIMS, json=body, headers=other_hr), 404)
        assert await listed(api) == []

    async def test_reviewer_cannot_file(self, api):
        worker = await enrolled_member(api)
        body = worker.claim(hospital_stay(day(3, 2)))
        problem(await api.post(CLAIMS, json=body, headers=REVIEWER), 403)

    async def test_member_cannot_see_another_members_claim(self, api):
        worker = await enrolled_member(api)
        colleague = await enrolled_member(api, plan_code=worker.plan_code, unit_id=worker.unit_id)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        problem(await api.get(f"{CLAIMS}/{claim['id']}", headers=colleague.member), 404)
        assert await listed(api, headers=colleague.member) == []
        assert await listed(api, headers=colleague.member, member_id=worker.member_id) == []

    async def test_without_a_token_it_is_401(self, api):
        worker = await enrolled_member(api)
        problem(await api.post(CLAIMS, json=worker.claim(hospital_stay(day(3, 2)))), 401)

    async def test_unknown_plan_is_404(self, api):
        worker = await enrolled_member(api)
        body = {**worker.claim(hospital_stay(day(3, 2))), "plan_code": "NOPE-2026"}
        problem(await api.post(CLAIMS, json=body, headers=ADMIN), 404)
        assert await listed(api) == []


class TestBadFacts:
    async def test_missing_field_is_named(self, api):
        worker = await enrolled_member(api)
        facts = hospital_stay(day(3, 2))
        del facts["hospital"]
        body = problem(await api.post(CLAIMS, json=worker.claim(facts), headers=ADMIN), 422)
        assert ["facts", "hospital"] in [error["loc"] for error in body["errors"]]
        assert await listed(api) == []

    async def test_missing_admission_date_is_named(self, api):
        worker = await enrolled_member(api)
        facts = hospital_stay(day(3, 2))
        del facts["admitted_on"]
        body = problem(await api.post(CLAIMS, json=worker.claim(facts), headers=ADMIN), 422)
        assert body["errors"][0]["loc"] == ["facts", "admitted_on"]

    async def test_discharge_before_admission_is_named(self, api):
        worker = await enrolled_member(api)
        facts = hospital_stay(day(3, 2), discharged_on=str(day(3, 1)))
        body = problem(await api.post(CLAIMS, json=worker.claim(facts), headers=ADMIN), 422)
        assert body["errors"][0]["loc"] == ["facts", "discharged_on"]
        assert await listed(api) == []

    async def test_amount_with_three_decimals_is_named(self, api):
        worker = await enrolled_member(api)
        facts = hospital_stay(day(3, 2), self_pay="500.005", total_cost="18000.00")
        body = problem(await api.post(CLAIMS, json=worker.claim(facts), headers=ADMIN), 422)
        assert [error["loc"] for error in body["errors"]] == [["facts", "self_pay"]]

    async def test_invalid_json_is_a_422_problem(self, api):
        response = await api.post(
            CLAIMS,
            content=b'{"member_id": "m", "plan_code": ',
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        problem(response, 422)
        assert await listed(api) == []


class TestRetriedFiling:
    async def test_retry_with_the_same_key_returns_the_same_claim(self, api):
        worker = await enrolled_member(api)
        body = worker.claim(hospital_stay(day(3, 2)))
        headers = {**worker.member, "Idempotency-Key": "claim-2026-03-02"}
        first = await api.post(CLAIMS, json=body, headers=headers)
        again = await api.post(CLAIMS, json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers.get("idempotent-replayed") == "true"
        claims = await listed(api)
        assert [claim["id"] for claim in claims] == [first.json()["id"]]
        # Not refused as its own duplicate invoice or overlapping stay, either.
        assert claims[0]["status"] == "pending_review"

    async def test_same_key_with_another_body_is_refused(self, api):
        worker = await enrolled_member(api)
        headers = {**worker.member, "Idempotency-Key": "claim-once"}
        first = await api.post(CLAIMS, json=worker.claim(hospital_stay(day(3, 2))), headers=headers)
        assert first.status_code == 201, first.text
        other = await api.post(CLAIMS, json=worker.claim(hospital_stay(day(5, 2))), headers=headers)
        problem(other, 422)
        assert len(await listed(api)) == 1


async def test_second_enrolment_in_another_plan_is_assessed_on_its_own_plan(api):
    """One worker, two plans: each claim is assessed on the plan it names."""
    worker = await enrolled_member(api)
    daily = await enrolled_member(api, "daily_allowance", unit_id=worker.unit_id)
    await enrol(api, worker.member_id, daily.plan_code)
    hospital = await file_claim(api, worker, hospital_stay(day(3, 2)))
    body = {
        "member_id": worker.member_id,
        "plan_code": daily.plan_code,
        "facts": {
            "admitted_on": str(day(3, 2)),
            "discharged_on": str(day(3, 12)),
            "hospital": "市第一人民医院",
            "diagnosis_codes": ["K35.8"],
            "invoice_numbers": ["DAY-1"],
        },
    }
    response = await api.post(CLAIMS, json=body, headers=worker.member)
    assert response.status_code == 201, response.text
    # A 10-day stay paid from day 4: days 4 to 10, 7 x 50.00 = 350.00. The same stay may be
    # claimed once under each plan.
    assert response.json()["payable"] == "350.00"
    assert response.json()["status"] == "pending_review"
    assert hospital["payable"] == "4000.00"
