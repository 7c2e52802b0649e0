"""The dates on a claim: an event after the day of filing is refused (`event_in_future`), the
day of filing is the federation's (Asia/Shanghai), and a date the arithmetic cannot hold is a
422 naming its field, never a 500."""

from datetime import datetime, time, timedelta

import pytest

from services.kit.clock import SCHEME_TZ, today
from tests.claims.support_claims import (
    CLAIMS,
    approve,
    day,
    diagnosis,
    enrolled_member,
    file_claim,
    hospital_stay,
    pay,
    problem,
)
from tests.dates import clock_at
from tests.support import ADMIN, FINANCE

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


def refused_for_the_future(claim: dict) -> None:
    assert claim["status"] == "rejected", claim
    assert claim["payable"] == "0.00"
    assert claim["assessment"]["reason_codes"] == ["event_in_future"]


class TestAnEventAfterTheDayOfFiling:
    async def test_a_stay_that_has_not_happened_is_refused_not_approved(self, api):
        # The trial: admitted in 19 days, out in 21, filed today under an auto-approval limit.
        worker = await enrolled_member(api, auto_approve_limit="5000.00")
        stay = hospital_stay(today() + timedelta(days=19), days=2)
        claim = await file_claim(api, worker, stay)
        refused_for_the_future(claim)
        assert f"after the day of filing {today()}" in str(claim["assessment"]["lines"])
        body = problem(await pay(api, [claim["id"]]), 422, "not_approved")
        assert claim["id"] in body["detail"]

    async def test_a_stay_whose_discharge_is_tomorrow_is_refused(self, api):
        worker = await enrolled_member(api)
        stay = hospital_stay(today() - timedelta(days=4), days=5)
        refused_for_the_future(await file_claim(api, worker, stay))

    async def test_a_diagnosis_dated_tomorrow_is_refused(self, api):
        worker = await enrolled_member(api, "fixed_benefit")
        refused_for_the_future(
            await file_claim(api, worker, diagnosis(today() + timedelta(days=1)))
        )

    async def test_the_quote_says_so_too(self, api):
        worker = await enrolled_member(api)
        body = worker.claim(hospital_stay(today() + timedelta(days=1), days=1))
        response = await api.post(f"{CLAIMS}/quote", json=body, headers=worker.member)
        assert response.status_code == 200, response.text
        quote = response.json()
        assert quote["status_if_filed"] == "rejected"
        assert quote["assessment"]["reason_codes"] == ["event_in_future"]

    async def test_a_stay_that_ended_today_is_taken(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(today() - timedelta(days=3), days=3))
        assert claim["status"] == "pending_review", claim
        assert claim["payable"] == "4000.00"

    @pytest.mark.parametrize("local_time", [time(0, 1), time(23, 59)])
    async def test_the_day_of_filing_is_shanghais_at_any_hour(self, api, local_time):
        """At 00:01 in Shanghai it is still yesterday in UTC; at 23:59 the hosts agree."""
        worker, other = await enrolled_member(api), await enrolled_member(api)
        filed_on = day(9, 1)
        instant = datetime.combine(filed_on, local_time, tzinfo=SCHEME_TZ)
        with clock_at(instant):
            ended_today = await file_claim(api, worker, hospital_stay(filed_on - timedelta(2), 2))
            ends_tomorrow = await file_claim(api, other, hospital_stay(filed_on, 1))
        assert ended_today["status"] == "pending_review", ended_today
        assert ended_today["filed_on"] == str(filed_on)
        refused_for_the_future(ends_tomorrow)


BAD_DAYS = ["9999-12-31", "9998-06-01", "2200-01-01", "1899-12-31", "0001-01-01"]


class TestDatesTheArithmeticCannotHold:
    @pytest.mark.parametrize("bad", BAD_DAYS)
    @pytest.mark.parametrize("path", [CLAIMS, f"{CLAIMS}/quote"])
    async def test_an_admission_far_off_is_a_422_naming_it(self, api, path, bad):
        worker = await enrolled_member(api)
        facts = {**hospital_stay(day(3, 2)), "admitted_on": bad, "discharged_on": bad}
        body = problem(await api.post(path, json=worker.claim(facts), headers=ADMIN), 422)
        assert ["facts", "admitted_on"] in [error["loc"] for error in body["errors"]]

    @pytest.mark.parametrize("path", [CLAIMS, f"{CLAIMS}/quote"])
    async def test_a_discharge_far_off_is_a_422_naming_it(self, api, path):
        worker = await enrolled_member(api)
        facts = {**hospital_stay(day(3, 2)), "discharged_on": "9999-12-31"}
        body = problem(await api.post(path, json=worker.claim(facts), headers=ADMIN), 422)
        assert ["facts", "discharged_on"] in [error["loc"] for error in body["errors"]]

    async def test_a_diagnosis_far_off_is_a_422_naming_it(self, api):
        worker = await enrolled_member(api, "fixed_benefit")
        body = worker.claim(diagnosis(day(3, 2)) | {"diagnosed_on": "9999-12-31"})
        problem_body = problem(await api.post(CLAIMS, json=body, headers=ADMIN), 422)
        assert ["facts", "diagnosed_on"] in [error["loc"] for error in problem_body["errors"]]

    async def test_a_payment_date_far_off_is_a_422_naming_it(self, api):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        await approve(api, claim["id"])
        body = {"claim_ids": [claim["id"]], "paid_on": "9999-12-31", "reference": "B-FAR"}
        refusal = problem(await api.post("/api/v1/payouts", json=body, headers=FINANCE), 422)
        assert "paid_on" in str(refusal["errors"])

    @pytest.mark.parametrize("name", ["paid_from", "paid_to"])
    async def test_a_report_filter_far_off_is_a_422(self, api, name):
        worker = await enrolled_member(api)
        params = {"plan_code": worker.plan_code, name: "9999-12-31"}
        response = await api.get("/api/v1/reports/claims", params=params, headers=ADMIN)
        assert name in str(problem(response, 422)["errors"])
