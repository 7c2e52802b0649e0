"""`mutualaid demo` loads a year whose reports read the seed's own figures (shared/seed):
MED 191 units and 14,598 person-times, 661 workers of 145 units paid for 925 claims, 570,6xx
yuan in all, 863.31 per worker; WOMEN 132 units, 4,173 person-times, payouts of 22,000 and
12,000. The amounts come out of the payout engine, through the public API, and every unit's
contributions are paid in full (both plans cover an enrolment only once it is paid)."""

import httpx
import pytest

from services.kit.settings import DEVELOPMENT_JWT_SECRET
from services.stack.demo import load_demo
from tests.support import AUDITOR, FINANCE


# One backend: the year is large (18,771 enrolments, 950 claims) and the seed's figures do
# not depend on the database; Postgres is the one a union runs on.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_demo_year_reads_the_seed_figures(api: httpx.AsyncClient):
    reports = await load_demo(api, DEVELOPMENT_JWT_SECRET)

    med = reports["MED-2023"]
    assert med["units"] == 145
    assert med["claimants"] == 661
    assert med["claims"] == 925
    assert med["total_paid"] == "570647.91"  # 57.06万; 570647.91 / 661 = 863.31
    assert med["average_per_claimant"] == "863.31"
    assert med["rejections"] == {"waiting_period": 24}

    women = reports["WOMEN-2023"]
    assert women["claims"] == 2 and women["claimants"] == 2
    assert women["total_paid"] == "34000.00"
    assert women["largest_payout"] == "22000.00"

    for plan, units, person_times in (("MED-2023", 191, 14_598), ("WOMEN-2023", 132, 4_173)):
        enrolment = await api.get(
            "/api/v1/reports/enrollment", params={"plan_code": plan}, headers=AUDITOR
        )
        assert enrolment.status_code == 200, enrolment.text
        assert enrolment.json()["units"] == units
        assert enrolment.json()["person_times"] == person_times
        # every unit paid for its enrolments before the year: nothing owed, nothing left over
        paid = await api.get(
            "/api/v1/reports/contributions", params={"plan_code": plan}, headers=FINANCE
        )
        assert paid.status_code == 200, paid.text
        totals = paid.json()["totals"]
        assert totals["units"] == units and totals["enrollments"] == person_times
        assert totals["owed"] == "0.00" and totals["unpaid_enrollments"] == 0
        assert totals["paid"] == totals["due"] == totals["received"] == enrolment.json()["paid"]
        assert totals["credit"] == "0.00"
    payouts = await api.get("/api/v1/payouts", params={"plan_code": "WOMEN-2023"}, headers=AUDITOR)
    assert sorted(entry["amount"] for entry in payouts.json()["items"]) == [
        "12000.00",
        "22000.00",
    ]
