"""A claim's life after filing: the reviewer's decisions, information asked for and supplied,
withdrawal, reopening, adjusted amounts, the history of every change, and who sees which claim.

Amounts: the default stay pays 4000.00 (see test_claims_submission)."""

import pytest

from tests.claims.support_claims import (
    CLAIMS,
    approve,
    approved_claim,
    day,
    decide,
    enrolled_member,
    file_claim,
    get_claim,
    hospital_stay,
    listed,
    new_unit,
    pay,
    problem,
)
from tests.support import ADMIN, AUDITOR, FINANCE, REVIEWER, bearer

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

REVIEWER_SUB = "reviewer:local"  # what tests.support.bearer("reviewer") puts in `sub`


async def withdraw(api, claim_id, headers, reason=None):
    body = {"reason": reason} if reason else {}
    return await api.post(f"{CLAIMS}/{claim_id}/withdraw", json=body, headers=headers)


async def supplement(api, claim_id, headers, note, facts=None):
    body = {"note": note, **({"facts": facts} if facts else {})}
    return await api.post(f"{CLAIMS}/{claim_id}/supplement", json=body, headers=headers)


def transitions(claim):
    return [(e["from_status"], e["to_status"]) for e in claim["history"]]


class TestReviewerDecides:
    async def test_reviewer_approves_a_pending_claim(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        response = await decide(api, claim["id"], "approve", "papers complete")
        assert response.status_code == 200, response.text
        approved = response.json()
        assert approved["status"] == "approved"
        assert approved["payable"] == "4000.00"
        assert approved["approved_by"] == REVIEWER_SUB
        assert approved["approved_at"] is not None
        last = approved["history"][-1]
        assert (last["from_status"], last["to_status"]) == ("pending_review", "approved")
        assert (last["actor"], last["role"], last["reason"]) == (
            REVIEWER_SUB,
            "reviewer",
            "papers complete",
        )
        assert await get_claim(api, claim["id"], headers=worker.member) == approved

    async def test_rejecting_needs_a_reason(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        body = problem(await decide(api, claim["id"], "reject"), 422)
        assert body["errors"][0]["loc"] == ["reason"]
        assert (await get_claim(api, claim["id"]))["status"] == "pending_review"

        response = await decide(api, claim["id"], "reject", "cosmetic surgery is excluded")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "rejected"
        assert response.json()["history"][-1]["reason"] == "cosmetic surgery is excluded"

    async def test_asking_for_information_needs_a_reason(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        problem(await decide(api, claim["id"], "request_info"), 422)

    async def test_supplied_information_sends_the_claim_back_to_review(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        asked = await decide(api, claim["id"], "request_info", "send the discharge summary")
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "needs_info"
        # A corrected bill: 8500.00 in policy, 19000.00 in all.
        corrected = {"out_of_pocket_in_policy": "8500.00", "total_cost": "19000.00"}
        response = await supplement(api, claim["id"], worker.member, "summary attached", corrected)
        assert response.status_code == 200, response.text
        supplied = response.json()
        assert supplied["status"] == "pending_review"
        assert supplied["payable"] == "4600.00"  # 2500.00 + 3500.00 x 60% = 2500.00 + 2100.00
        assert supplied["facts"]["out_of_pocket_in_policy"] == "8500.00"
        last = supplied["history"][-1]
        assert (last["from_status"], last["to_status"]) == ("needs_info", "pending_review")
        assert (last["actor"], last["reason"]) == (f"member:{worker.member_id}", "summary attached")
        assert last["details"] == {"facts": corrected}

    async def test_supplement_is_refused_unless_information_was_asked_for(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        response = await supplement(api, claim["id"], worker.member, "more papers")
        problem(response, 422, "invalid_transition")

    async def test_adjusted_amounts_on_approval_recompute_the_payout(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        adjusted = {"out_of_pocket_in_policy": "6000.00", "total_cost": "16500.00"}
        response = await decide(
            api, claim["id"], "approve", "drug list item not in policy", adjusted_facts=adjusted
        )
        assert response.status_code == 200, response.text
        approved = response.json()
        assert approved["payable"] == "3100.00"  # 2500.00 + 1000.00 x 60%
        assert approved["assessment"]["payable"] == "3100.00"
        assert approved["facts"]["out_of_pocket_in_policy"] == "6000.00"
        last = approved["history"][-1]
        assert last["to_status"] == "approved"
        assert last["reason"] == "drug list item not in policy"
        assert last["details"] == {"adjusted_facts": adjusted}

    async def test_adjusting_the_admission_date_is_refused(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        response = await decide(
            api, claim["id"], "approve", "typo", adjusted_facts={"admitted_on": str(day(3, 1))}
        )
        body = problem(response, 422)
        assert body["errors"][0]["loc"] == ["adjusted_facts", "admitted_on"]

    async def test_approval_rechecks_the_annual_cap(self, api):
        worker = await enrolled_member(api, benefit={"term_cap_per_share": "6000"})
        first = await file_claim(api, worker, hospital_stay(day(3, 2)))
        second = await file_claim(api, worker, hospital_stay(day(5, 2)))
        assert second["payable"] == "4000.00"  # nothing was approved yet when it was filed
        await approve(api, first["id"])
        approved = await approve(api, second["id"])
        assert approved["payable"] == "2000.00"  # 6000.00 - 4000.00
        assert approved["assessment"]["cap_left"] == "0.00"

    async def test_approval_past_the_cap_is_refused_with_cap_reached(self, api):
        worker = await enrolled_member(api, benefit={"term_cap_per_share": "4000"})
        first = await file_claim(api, worker, hospital_stay(day(3, 2)))
        second = await file_claim(api, worker, hospital_stay(day(5, 2)))
        await approve(api, first["id"])
        problem(await decide(api, second["id"], "approve"), 422, "cap_reached")
        assert (await get_claim(api, second["id"]))["status"] == "pending_review"

    async def test_approving_twice_is_refused(self, api):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        problem(await decide(api, claim["id"], "approve"), 422, "invalid_transition")

    async def test_only_a_reviewer_decides(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        for headers in (ADMIN, FINANCE, AUDITOR, worker.member, worker.hr):
            problem(await decide(api, claim["id"], "approve", headers=headers), 403)
        assert (await get_claim(api, claim["id"]))["status"] == "pending_review"

    async def test_unknown_claim_is_404(self, api):
        problem(await decide(api, "clm_unknown", "approve"), 404)


class TestWithdrawAndReopen:
    async def test_member_withdraws_its_claim_before_approval(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        response = await withdraw(api, claim["id"], worker.member, "paid by my employer")
        assert response.status_code == 200, response.text
        withdrawn = response.json()
        assert withdrawn["status"] == "withdrawn"
        last = withdrawn["history"][-1]
        assert (last["from_status"], last["to_status"], last["actor"]) == (
            "pending_review",
            "withdrawn",
            f"member:{worker.member_id}",
        )

    async def test_hr_withdraws_a_claim_waiting_for_information(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)), headers=worker.hr)
        await decide(api, claim["id"], "request_info", "which hospital?")
        response = await withdraw(api, claim["id"], worker.hr)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "withdrawn"

    async def test_withdrawing_after_approval_is_refused(self, api):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        problem(await withdraw(api, claim["id"], worker.member), 422, "invalid_transition")
        assert (await get_claim(api, claim["id"]))["status"] == "approved"

    async def test_another_member_cannot_withdraw(self, api):
        worker = await enrolled_member(api)
        colleague = await enrolled_member(api, plan_code=worker.plan_code, unit_id=worker.unit_id)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        problem(await withdraw(api, claim["id"], colleague.member), 404)
        problem(await withdraw(api, claim["id"], REVIEWER), 403)
        assert (await get_claim(api, claim["id"]))["status"] == "pending_review"

    async def test_reviewer_reopens_a_rejected_claim(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        await decide(api, claim["id"], "reject", "no discharge summary")
        problem(await decide(api, claim["id"], "reopen"), 422)  # a reason is required
        response = await decide(api, claim["id"], "reopen", "summary found in the post")
        assert response.status_code == 200, response.text
        reopened = response.json()
        assert reopened["status"] == "pending_review"
        last = reopened["history"][-1]
        assert (last["from_status"], last["to_status"], last["reason"]) == (
            "rejected",
            "pending_review",
            "summary found in the post",
        )
        assert (await approve(api, claim["id"]))["payable"] == "4000.00"

    async def test_reopening_an_automatic_refusal_with_corrected_amounts(self, api):
        worker = await enrolled_member(api)
        # The clerk typed 19000.00 for a bill of 18000.00.
        claim = await file_claim(api, worker, hospital_stay(day(3, 2), total_cost="19000.00"))
        assert claim["assessment"]["reason_codes"] == ["amounts_inconsistent"]
        response = await decide(
            api,
            claim["id"],
            "reopen",
            "total mistyped, checked against the invoice",
            adjusted_facts={"total_cost": "18000.00"},
        )
        assert response.status_code == 200, response.text
        reopened = response.json()
        assert reopened["status"] == "pending_review"
        assert reopened["assessment"]["reason_codes"] == []
        assert reopened["payable"] == "4000.00"

    async def test_only_a_rejected_claim_is_reopened(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        problem(await decide(api, claim["id"], "reopen", "why not"), 422, "invalid_transition")


class TestHistory:
    async def test_history_lists_every_transition_with_actor_and_reason(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)), headers=worker.hr)
        await decide(api, claim["id"], "request_info", "invoice copy unreadable")
        await supplement(api, claim["id"], worker.hr, "new scan")
        await decide(api, claim["id"], "reject", "invoice not from a listed hospital")
        await decide(api, claim["id"], "reopen", "hospital is listed under another name")
        await approve(api, claim["id"], reason="ok")
        paid = await pay(api, [claim["id"]], reference="BANK-7")
        assert paid.status_code == 201, paid.text

        history = (await get_claim(api, claim["id"], headers=worker.member))["history"]
        hr, reviewer, finance = f"hr:{worker.unit_id}", REVIEWER_SUB, "finance:local"
        assert [
            (e["from_status"], e["to_status"], e["actor"], e["role"], e["reason"]) for e in history
        ] == [
            (None, "submitted", hr, "hr", None),
            ("submitted", "pending_review", "system", "system", None),
            ("pending_review", "needs_info", reviewer, "reviewer", "invoice copy unreadable"),
            ("needs_info", "pending_review", hr, "hr", "new scan"),
            (
                "pending_review",
                "rejected",
                reviewer,
                "reviewer",
                "invoice not from a listed hospital",
            ),
            (
                "rejected",
                "pending_review",
                reviewer,
                "reviewer",
                "hospital is listed under another name",
            ),
            ("pending_review", "approved", reviewer, "reviewer", "ok"),
            ("approved", "paid", finance, "finance", f"batch {paid.json()['id']} BANK-7"),
        ]
        times = [e["at"] for e in history]
        assert times == sorted(times)


class TestWhoSeesWhichClaim:
    async def test_hr_sees_only_its_units_claims(self, api):
        ours = await enrolled_member(api)
        theirs = await enrolled_member(
            api, plan_code=ours.plan_code, unit_id=await new_unit(api, "第二纺织厂")
        )
        our_claim = await file_claim(api, ours, hospital_stay(day(3, 2)))
        their_claim = await file_claim(api, theirs, hospital_stay(day(3, 2)))

        assert [c["id"] for c in await listed(api, headers=ours.hr)] == [our_claim["id"]]
        assert await listed(api, headers=ours.hr, unit_id=theirs.unit_id) == []
        assert await listed(api, headers=ours.hr, member_id=theirs.member_id) == []
        problem(await api.get(f"{CLAIMS}/{their_claim['id']}", headers=ours.hr), 404)
        problem(await withdraw(api, their_claim["id"], ours.hr), 404)
        assert (await get_claim(api, our_claim["id"], headers=ours.hr))["id"] == our_claim["id"]

    async def test_member_lists_only_its_own_claims(self, api):
        worker = await enrolled_member(api)
        colleague = await enrolled_member(api, plan_code=worker.plan_code, unit_id=worker.unit_id)
        mine = await file_claim(api, worker, hospital_stay(day(3, 2)))
        await file_claim(api, colleague, hospital_stay(day(3, 2)))
        assert [c["id"] for c in await listed(api, headers=worker.member)] == [mine["id"]]

    async def test_reviewers_finance_and_auditors_see_every_claim_and_filter(self, api):
        worker = await enrolled_member(api)
        other = await enrolled_member(api, unit_id=await new_unit(api, "第二纺织厂"))
        pending = await file_claim(api, worker, hospital_stay(day(3, 2)))
        refused = await file_claim(api, worker, hospital_stay(day(5, 2), out_of_pocket="10.00"))
        elsewhere = await file_claim(api, other, hospital_stay(day(3, 2)))
        everything = {pending["id"], refused["id"], elsewhere["id"]}
        for headers in (REVIEWER, FINANCE, AUDITOR, ADMIN):
            assert {c["id"] for c in await listed(api, headers=headers)} == everything

        def ids(rows):
            return [row["id"] for row in rows]

        assert ids(await listed(api, status="rejected")) == [refused["id"]]
        assert ids(await listed(api, plan_code=other.plan_code)) == [elsewhere["id"]]
        assert ids(await listed(api, unit_id=other.unit_id)) == [elsewhere["id"]]
        assert set(ids(await listed(api, member_id=worker.member_id))) == {
            pending["id"],
            refused["id"],
        }
        summary = (await listed(api, status="rejected"))[0]
        assert summary["reason_codes"] == ["below_threshold"]
        assert summary["payable"] == "0.00"

    async def test_claims_list_pages_with_a_cursor(self, api):
        worker = await enrolled_member(api)
        filed = [
            (await file_claim(api, worker, hospital_stay(day(month, 2))))["id"]
            for month in (3, 4, 5)
        ]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await api.get(CLAIMS, params=params, headers=REVIEWER)).json()
            assert len(page["items"]) <= 2
            seen += [claim["id"] for claim in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(filed)

    async def test_auditor_reads_any_claim_but_cannot_decide(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert (await get_claim(api, claim["id"], headers=AUDITOR))["id"] == claim["id"]
        problem(await decide(api, claim["id"], "approve", headers=AUDITOR), 403)
        stranger = bearer("member", member_id="mbr_stranger")
        problem(await api.get(f"{CLAIMS}/{claim['id']}", headers=stranger), 404)
