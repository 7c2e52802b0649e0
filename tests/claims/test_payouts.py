"""Paying approved claims in batches, reversing bounced payments, and reading the ledger.

Amounts: the default stay pays 4000.00; a stay with 6000.00 in policy pays
5000 x 50% + 1000 x 60% = 2500.00 + 600.00 = 3100.00."""

from datetime import timedelta

import pytest

from services.kit.auth import issue_token
from services.kit.clock import today
from services.kit.settings import DEVELOPMENT_JWT_SECRET
from tests.claims.support_claims import (
    PAYOUTS,
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
from tests.dates import clock_at, days_ago
from tests.support import ADMIN, AUDITOR, FINANCE, REVIEWER, bearer

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


def token(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, role=role, sub=sub)}"}


async def two_approved_claims(api, days_before: int = 0):
    """Two claims of one worker, filed and approved `days_before` today."""
    worker = await enrolled_member(api)
    with clock_at(days_ago(days_before)):
        first = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        second = await approved_claim(
            api, worker, hospital_stay(day(5, 2), out_of_pocket="6000.00")
        )
    assert (first["payable"], second["payable"]) == ("4000.00", "3100.00")
    return worker, first, second


async def reverse(api, batch_id, headers=FINANCE, **body):
    return await api.post(
        f"{PAYOUTS}/{batch_id}/reversal", json={"reason": "account closed", **body}, headers=headers
    )


class TestPayingABatch:
    async def test_finance_pays_approved_claims_in_one_batch(self, api):
        worker, first, second = await two_approved_claims(api, days_before=1)
        paid_on = today() - timedelta(days=1)
        response = await pay(api, [first["id"], second["id"]], paid_on=paid_on, reference="B-01")
        assert response.status_code == 201, response.text
        batch = response.json()
        assert batch["total"] == "7100.00"  # 4000.00 + 3100.00
        assert batch["claims"] == 2
        assert (batch["paid_on"], batch["reference"]) == (str(paid_on), "B-01")
        assert batch["created_by"] == "finance:local"
        entries = {entry["claim_id"]: entry for entry in batch["entries"]}
        assert entries[first["id"]]["amount"] == "4000.00"
        assert entries[second["id"]]["amount"] == "3100.00"
        for entry in batch["entries"]:
            assert entry["entry_kind"] == "payment"
            assert entry["batch_id"] == batch["id"]
            assert (entry["plan_code"], entry["unit_id"], entry["member_id"]) == (
                worker.plan_code,
                worker.unit_id,
                worker.member_id,
            )
            assert entry["paid_on"] == str(paid_on)
        for claim_id in (first["id"], second["id"]):
            claim = await get_claim(api, claim_id, headers=worker.member)
            assert (claim["status"], claim["paid_on"]) == ("paid", str(paid_on))
            last = claim["history"][-1]
            assert (last["from_status"], last["to_status"], last["actor"]) == (
                "approved",
                "paid",
                "finance:local",
            )
        assert (await api.get(f"{PAYOUTS}/{batch['id']}", headers=AUDITOR)).json() == batch

    async def test_one_unapproved_claim_refuses_the_whole_batch(self, api):
        worker, first, second = await two_approved_claims(api)
        pending = await file_claim(api, worker, hospital_stay(day(7, 2)))
        response = await pay(api, [first["id"], pending["id"], second["id"]])
        body = problem(response, 422, "not_approved")
        assert body["claim_id"] == pending["id"]
        assert (await get_claim(api, first["id"]))["status"] == "approved"
        assert (await get_claim(api, second["id"]))["status"] == "approved"
        assert (await get_claim(api, pending["id"]))["status"] == "pending_review"
        assert await listed(api, PAYOUTS, headers=FINANCE) == []

    async def test_unknown_claim_refuses_the_whole_batch(self, api):
        _, first, _ = await two_approved_claims(api)
        problem(await pay(api, [first["id"], "clm_unknown"]), 404)
        assert (await get_claim(api, first["id"]))["status"] == "approved"
        assert await listed(api, PAYOUTS, headers=FINANCE) == []

    async def test_a_paid_claim_is_not_paid_twice(self, api):
        _, first, second = await two_approved_claims(api)
        assert (await pay(api, [first["id"]])).status_code == 201
        problem(await pay(api, [second["id"], first["id"]]), 422, "not_approved")
        assert (await get_claim(api, second["id"]))["status"] == "approved"
        assert len(await listed(api, PAYOUTS, headers=FINANCE)) == 1

    async def test_a_claim_listed_twice_is_refused(self, api):
        _, first, _ = await two_approved_claims(api)
        problem(await pay(api, [first["id"], first["id"]]), 422)
        assert (await get_claim(api, first["id"]))["status"] == "approved"

    async def test_a_payment_dated_tomorrow_is_refused(self, api):
        _, first, _ = await two_approved_claims(api)
        body = problem(await pay(api, [first["id"]], paid_on=today() + timedelta(days=1)), 422)
        assert body["errors"][0]["loc"] == ["paid_on"]

    async def test_only_finance_pays(self, api):
        worker, first, _ = await two_approved_claims(api)
        for headers in (ADMIN, REVIEWER, AUDITOR, worker.hr, worker.member):
            problem(await pay(api, [first["id"]], headers=headers), 403)
        assert (await get_claim(api, first["id"]))["status"] == "approved"

    async def test_a_claim_approved_by_the_system_is_paid_by_finance(self, api):
        worker = await enrolled_member(api, auto_approve_limit="5000.00")
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert claim["status"] == "approved"
        response = await pay(api, [claim["id"]])
        assert response.status_code == 201, response.text
        assert response.json()["total"] == "4000.00"

    async def test_retried_batch_with_the_same_key_pays_once(self, api):
        _, first, _ = await two_approved_claims(api)
        body = {"claim_ids": [first["id"]], "paid_on": str(today()), "reference": "B-9"}
        headers = {**FINANCE, "Idempotency-Key": "batch-b9"}
        once = await api.post(PAYOUTS, json=body, headers=headers)
        again = await api.post(PAYOUTS, json=body, headers=headers)
        assert (once.status_code, again.status_code) == (201, 201)
        assert again.json() == once.json()
        assert len(await listed(api, PAYOUTS, headers=FINANCE)) == 1


class TestSeparationOfDuties:
    async def test_the_approver_cannot_pay_the_claim(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        # One person holding both roles: the same `sub` in a reviewer and a finance token.
        as_reviewer, as_finance = token("reviewer", "li.na"), token("finance", "li.na")
        approved = await decide(api, claim["id"], "approve", headers=as_reviewer)
        assert approved.status_code == 200, approved.text
        assert approved.json()["approved_by"] == "li.na"

        body = problem(await pay(api, [claim["id"]], headers=as_finance), 422)
        assert body["code"] == "separation_of_duties"
        assert body["claim_id"] == claim["id"]
        assert (await get_claim(api, claim["id"]))["status"] == "approved"

        colleague = token("finance", "zhao.lei")
        assert (await pay(api, [claim["id"]], headers=colleague)).status_code == 201
        assert (await get_claim(api, claim["id"]))["status"] == "paid"


class TestReversal:
    async def test_a_bounced_payment_is_reversed_by_a_negative_entry(self, api):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        batch = (await pay(api, [claim["id"]], reference="B-02")).json()

        response = await reverse(api, batch["id"])
        assert response.status_code == 201, response.text
        reversed_batch = response.json()
        assert reversed_batch["id"] == batch["id"]
        assert reversed_batch["total"] == "0.00"  # 4000.00 - 4000.00
        payment, reversal = reversed_batch["entries"]
        assert (payment["entry_kind"], payment["amount"]) == ("payment", "4000.00")
        assert (reversal["entry_kind"], reversal["amount"]) == ("reversal", "-4000.00")
        assert reversal["reverses_entry_id"] == payment["id"]
        assert reversal["reason"] == "account closed"

        after = await get_claim(api, claim["id"])
        assert (after["status"], after["paid_on"]) == ("approved", None)
        last = after["history"][-1]
        assert (last["from_status"], last["to_status"]) == ("paid", "approved")
        assert "account closed" in last["reason"]
        # The payment itself was not edited: the ledger keeps both entries.
        ledger = await listed(api, PAYOUTS, headers=AUDITOR)
        assert [(e["entry_kind"], e["amount"]) for e in ledger] == [
            ("payment", "4000.00"),
            ("reversal", "-4000.00"),
        ]

    async def test_a_reversed_claim_is_paid_again_in_a_new_batch(self, api):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        batch = (await pay(api, [claim["id"]])).json()
        assert (await reverse(api, batch["id"])).status_code == 201
        again = await pay(api, [claim["id"]], reference="B-03")
        assert again.status_code == 201, again.text
        assert (await get_claim(api, claim["id"]))["status"] == "paid"
        ledger = await listed(api, PAYOUTS, headers=FINANCE)
        assert sum(float(e["amount"]) for e in ledger) == 4000.00

    async def test_a_new_payment_is_not_dated_before_the_reversal_it_follows(self, api):
        worker = await enrolled_member(api)
        with clock_at(days_ago(10)):
            claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        paid = await pay(api, [claim["id"]], paid_on=today() - timedelta(days=8))
        assert paid.status_code == 201, paid.text
        batch = paid.json()
        reversed_on = today() - timedelta(days=3)
        assert (await reverse(api, batch["id"], reversed_on=str(reversed_on))).status_code == 201

        early = problem(
            await pay(
                api, [claim["id"]], reference="B-04", paid_on=reversed_on - timedelta(days=2)
            ),
            422,
        )
        assert early["errors"][0]["loc"] == ["paid_on"]
        assert f"reversed on {reversed_on}" in early["detail"]
        assert (await get_claim(api, claim["id"]))["status"] == "approved"
        on_the_day = await pay(api, [claim["id"]], reference="B-05", paid_on=reversed_on)
        assert on_the_day.status_code == 201, on_the_day.text

    async def test_reversing_one_claim_of_a_batch_leaves_the_others_paid(self, api):
        _, first, second = await two_approved_claims(api)
        batch = (await pay(api, [first["id"], second["id"]])).json()
        response = await reverse(api, batch["id"], claim_ids=[second["id"]])
        assert response.status_code == 201, response.text
        assert response.json()["total"] == "4000.00"  # 7100.00 - 3100.00
        assert (await get_claim(api, first["id"]))["status"] == "paid"
        assert (await get_claim(api, second["id"]))["status"] == "approved"

    async def test_a_batch_is_reversed_once(self, api):
        _, first, _ = await two_approved_claims(api)
        batch = (await pay(api, [first["id"]])).json()
        assert (await reverse(api, batch["id"])).status_code == 201
        problem(await reverse(api, batch["id"]), 422, "already_reversed")
        problem(await reverse(api, batch["id"], claim_ids=[first["id"]]), 422, "not_in_batch")

    async def test_only_finance_reverses(self, api):
        _, first, _ = await two_approved_claims(api)
        batch = (await pay(api, [first["id"]])).json()
        for headers in (ADMIN, AUDITOR, REVIEWER):
            problem(await reverse(api, batch["id"], headers=headers), 403)
        assert (await get_claim(api, first["id"]))["status"] == "paid"

    async def test_unknown_batch_is_404(self, api):
        problem(await reverse(api, "pay_unknown"), 404)
        problem(await api.get(f"{PAYOUTS}/pay_unknown", headers=FINANCE), 404)


class TestLedger:
    async def test_ledger_filters_by_plan_unit_and_paid_dates(self, api):
        worker = await enrolled_member(api)
        other = await enrolled_member(api, unit_id=await new_unit(api, "第二纺织厂"))
        with clock_at(days_ago(10)):
            early = await approved_claim(api, worker, hospital_stay(day(3, 2)))
            late = await approved_claim(api, worker, hospital_stay(day(5, 2)))
            elsewhere = await approved_claim(api, other, hospital_stay(day(3, 2)))
        ten_days_ago, three_days_ago = today() - timedelta(days=10), today() - timedelta(days=3)
        assert (await pay(api, [early["id"]], paid_on=ten_days_ago)).status_code == 201
        paid = await pay(api, [late["id"], elsewhere["id"]], paid_on=three_days_ago)
        assert paid.status_code == 201

        def claims(rows):
            return sorted(row["claim_id"] for row in rows)

        assert claims(await listed(api, PAYOUTS, headers=FINANCE)) == sorted(
            [early["id"], late["id"], elsewhere["id"]]
        )
        by_plan = await listed(api, PAYOUTS, headers=FINANCE, plan_code=worker.plan_code)
        assert claims(by_plan) == sorted([early["id"], late["id"]])
        by_unit = await listed(api, PAYOUTS, headers=FINANCE, unit_id=other.unit_id)
        assert claims(by_unit) == [elsewhere["id"]]
        since = await listed(api, PAYOUTS, headers=FINANCE, paid_from=str(three_days_ago))
        assert claims(since) == sorted([late["id"], elsewhere["id"]])
        until = await listed(
            api, PAYOUTS, headers=FINANCE, paid_to=str(three_days_ago - timedelta(days=1))
        )
        assert claims(until) == [early["id"]]
        window = await listed(
            api,
            PAYOUTS,
            headers=AUDITOR,
            plan_code=worker.plan_code,
            paid_from=str(ten_days_ago),
            paid_to=str(ten_days_ago),
        )
        assert claims(window) == [early["id"]]

    async def test_ledger_pages_with_a_cursor(self, api):
        worker = await enrolled_member(api)
        claim_ids = [
            (await approved_claim(api, worker, hospital_stay(day(month, 2))))["id"]
            for month in (2, 3, 4, 5, 6)
        ]
        assert (await pay(api, claim_ids)).status_code == 201
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = await api.get(PAYOUTS, params=params, headers=ADMIN)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= 2
            seen += [entry["id"] for entry in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3  # 2 + 2 + 1 entries
        assert len(seen) == len(set(seen)) == 5
        assert seen == sorted(seen)

    async def test_a_bad_cursor_is_a_422(self, api):
        problem(await api.get(PAYOUTS, params={"cursor": "A"}, headers=FINANCE), 422)

    async def test_members_and_hr_cannot_read_the_ledger(self, api):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        batch = (await pay(api, [claim["id"]])).json()
        for headers in (worker.member, worker.hr, REVIEWER, bearer("member", member_id="x")):
            problem(await api.get(PAYOUTS, headers=headers), 403)
            problem(await api.get(f"{PAYOUTS}/{batch['id']}", headers=headers), 403)
        assert len(await listed(api, PAYOUTS, headers=ADMIN)) == 1


async def test_paid_amount_is_the_approved_payout_after_adjustment(api):
    """The ledger pays what the reviewer approved, not what was first assessed."""
    worker = await enrolled_member(api)
    claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
    adjusted = {"out_of_pocket_in_policy": "6000.00", "total_cost": "16500.00"}
    await approve(api, claim["id"], reason="adjusted", adjusted_facts=adjusted)
    batch = (await pay(api, [claim["id"]])).json()
    assert batch["total"] == "3100.00"
