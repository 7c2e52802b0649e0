"""Separation of duties and the payment's date: the person who filed a claim cannot approve it,
the one who approved it cannot pay it, whatever the letter case of their `sub`; a payment is
dated on or after the claim's approval and not in the future, a reversal on or after the
payment."""

from datetime import date, timedelta

import pytest

from services.kit.auth import issue_token
from services.kit.clock import today
from services.kit.settings import DEVELOPMENT_JWT_SECRET
from tests.claims.support_claims import (
    PAYOUTS,
    approved_claim,
    day,
    decide,
    enrolled_member,
    file_claim,
    get_claim,
    hospital_stay,
    pay,
    problem,
)
from tests.dates import clock_at, days_ago
from tests.support import AUDITOR, FINANCE

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


def token(role: str, sub: str, **claims: str) -> dict[str, str]:
    signed = issue_token(DEVELOPMENT_JWT_SECRET, role=role, sub=sub, **claims)
    return {"Authorization": f"Bearer {signed}"}


class TestTheFilerCannotApprove:
    @pytest.mark.parametrize("filer_role", ["member", "hr", "admin"])
    @pytest.mark.parametrize("reviewer_sub", ["alice", "ALICE", "Alice", "ａｌｉｃｅ"])
    async def test_a_claim_filed_by_alice_is_not_approved_by_alice(
        self, api, filer_role, reviewer_sub
    ):
        worker = await enrolled_member(api)
        ids = {"member": {"member_id": worker.member_id}, "hr": {"unit_id": worker.unit_id}}
        filer = token(filer_role, "alice", **ids.get(filer_role, {}))
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)), headers=filer)
        assert claim["status"] == "pending_review"

        refused = await decide(api, claim["id"], "approve", headers=token("reviewer", reviewer_sub))
        body = problem(refused, 422, "separation_of_duties")
        assert "filed by you" in body["detail"]
        assert (await get_claim(api, claim["id"]))["status"] == "pending_review"

        approved = await decide(api, claim["id"], "approve", headers=token("reviewer", "bob"))
        assert approved.status_code == 200, approved.text
        assert approved.json()["approved_by"] == "bob"

    async def test_the_filer_may_still_reject_or_ask_for_papers(self, api):
        """Refusing one's own claim pays nothing out: only approval is kept from the filer."""
        worker = await enrolled_member(api)
        filer = token("hr", "alice", unit_id=worker.unit_id)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)), headers=filer)
        asked = await decide(
            api, claim["id"], "request_info", "the invoice", token("reviewer", "Alice")
        )
        assert asked.status_code == 200, asked.text


class TestTheApproverCannotPay:
    @pytest.mark.parametrize("payer_sub", ["ALICE", "Alice", " alice"])
    async def test_alice_in_another_case_does_not_pay_what_alice_approved(self, api, payer_sub):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        approved = await decide(api, claim["id"], "approve", headers=token("reviewer", "alice"))
        assert approved.status_code == 200, approved.text

        body = problem(await pay(api, [claim["id"]], headers=token("finance", payer_sub)), 422)
        assert body["code"] == "separation_of_duties"
        assert (await get_claim(api, claim["id"]))["status"] == "approved"
        assert (await pay(api, [claim["id"]], headers=token("finance", "carol"))).status_code == 201


class TestThePaymentDate:
    async def test_a_payment_dated_before_the_approval_is_refused(self, api):
        worker = await enrolled_member(api)
        with clock_at(days_ago(3)):
            early = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        late = await approved_claim(api, worker, hospital_stay(day(5, 2)))

        for paid_on in (today() - timedelta(days=1), today() - timedelta(days=4)):
            body = problem(await pay(api, [early["id"], late["id"]], paid_on=paid_on), 422)
            assert ["paid_on"] in [error["loc"] for error in body["errors"]]
            assert "before its approval" in body["detail"]
        assert (await get_claim(api, late["id"]))["status"] == "approved"  # all or nothing
        assert (await get_claim(api, early["id"]))["status"] == "approved"

        paid = await pay(api, [early["id"]], paid_on=today() - timedelta(days=3))
        assert paid.status_code == 201, paid.text  # the day of its approval

    async def test_the_trials_dates_are_refused(self, api):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        for paid_on in ("1900-01-01", str(today() - timedelta(days=1))):
            body = {"claim_ids": [claim["id"]], "paid_on": paid_on, "reference": "B-OLD"}
            problem(await api.post(PAYOUTS, json=body, headers=FINANCE), 422)
        assert (await pay(api, [claim["id"]], paid_on=today())).status_code == 201

    async def test_the_report_never_shows_negative_days_to_pay(self, api):
        # days to pay are paid_on - filed_on: a payment dated before the filing would show
        # as negative days. It is refused, and the report counts the payment that was taken.
        worker = await enrolled_member(api)
        with clock_at(days_ago(5)):
            claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        filed_on = date.fromisoformat(claim["filed_on"])
        assert filed_on == today() - timedelta(days=5)

        async def report() -> dict:
            params = {"plan_code": worker.plan_code}
            answer = await api.get("/api/v1/reports/claims", params=params, headers=AUDITOR)
            assert answer.status_code == 200, answer.text
            return answer.json()

        for before_filing in (filed_on - timedelta(days=1), filed_on - timedelta(days=30)):
            body = problem(await pay(api, [claim["id"]], paid_on=before_filing), 422)
            assert ["paid_on"] in [error["loc"] for error in body["errors"]]
        assert (await get_claim(api, claim["id"]))["status"] == "approved"
        assert (await report())["median_days_to_pay"] is None  # nothing paid yet

        paid_on = filed_on + timedelta(days=2)
        assert (await pay(api, [claim["id"]], paid_on=paid_on)).status_code == 201
        assert (await get_claim(api, claim["id"]))["paid_on"] == str(paid_on)
        assert (await report())["median_days_to_pay"] == "2.0"


class TestTheReversalDate:
    async def test_a_reversal_before_the_payment_or_in_the_future_is_refused(self, api):
        worker = await enrolled_member(api)
        with clock_at(days_ago(5)):
            claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        paid_on = today() - timedelta(days=2)
        batch = (await pay(api, [claim["id"]], paid_on=paid_on)).json()
        url = f"{PAYOUTS}/{batch['id']}/reversal"
        for reversed_on in (paid_on - timedelta(days=1), today() + timedelta(days=1)):
            body = {"reason": "bounced", "reversed_on": str(reversed_on)}
            refusal = problem(await api.post(url, json=body, headers=FINANCE), 422)
            assert ["reversed_on"] in [error["loc"] for error in refusal["errors"]]
        assert (await get_claim(api, claim["id"]))["status"] == "paid"
        body = {"reason": "bounced", "reversed_on": str(paid_on)}
        assert (await api.post(url, json=body, headers=FINANCE)).status_code == 201
