"""The claims report on a data set whose totals are known in advance: every figure to the fen,
the per-unit rows, the paid-date range, and the CSV and XLSX exports read back."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from services.kit.clock import today
from tests.claims.support_claims import (
    approve,
    decide,
    enrolled_member,
    file_claim,
    hospital_stay,
    new_plan,
    new_unit,
    pay,
)
from tests.dates import clock_at, day, days_ago
from tests.support import AUDITOR, bearer

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

REPORT = "/api/v1/reports/claims"
D = today()


async def _file_on(api, enrolled, facts, days_before: int) -> dict:
    """File and approve a claim `days_before` today (the services' clock moved back), so that
    days-to-pay are known and a payment may be dated on or after the approval."""
    with clock_at(days_ago(days_before)):
        claim = await file_claim(api, enrolled, facts)
        await approve(api, claim["id"])
    return claim


def _stay(month: int, out_of_pocket: str) -> dict:
    # the plan pays half of an in-policy out-of-pocket cost from 1,000 up to 5,000
    return hospital_stay(day(month, 3), out_of_pocket=out_of_pocket)


@pytest.fixture
async def world(api):
    plan = await new_plan(api)
    unit_a, unit_b = await new_unit(api, "甲厂"), await new_unit(api, "乙厂")

    async def worker(unit):
        return await enrolled_member(api, plan_code=plan, unit_id=unit)

    a1, a2, a3 = [await worker(unit_a) for _ in range(3)]
    b1, b2 = [await worker(unit_b) for _ in range(2)]
    claims = {
        "a1_first": await _file_on(api, a1, _stay(2, "2000.00"), 10),
        "a1_second": await _file_on(api, a1, _stay(5, "3000.02"), 6),
        "a2": await _file_on(api, a2, _stay(3, "4000.00"), 8),
        "b1": await _file_on(api, b1, _stay(4, "1234.56"), 3),
        "b2_reversed": await _file_on(api, b2, _stay(6, "2500.00"), 0),
        "b2_unpaid": await _file_on(api, b2, _stay(8, "1600.00"), 0),
    }
    below = await file_claim(api, a3, _stay(2, "500.00"))
    assert below["status"] == "rejected" and below["assessment"]["reason_codes"] == [
        "below_threshold"
    ]
    refused = await file_claim(api, a3, _stay(7, "1800.00"))
    assert (await decide(api, refused["id"], "reject", "no discharge summary")).status_code == 200
    ids = {name: claim["id"] for name, claim in claims.items()}
    first = await pay(api, [ids["a1_first"], ids["a2"]], paid_on=D - timedelta(1), reference="B1")
    second = await pay(api, [ids["a1_second"], ids["b1"]], paid_on=D, reference="B2")
    bounced = await pay(api, [ids["b2_reversed"]], paid_on=D, reference="B3")
    assert first.status_code == second.status_code == bounced.status_code == 201
    reversal = await api.post(
        f"/api/v1/payouts/{bounced.json()['id']}/reversal",
        json={"reason": "account closed"},
        headers=bearer("finance"),
    )
    assert reversal.status_code == 201, reversal.text
    # noise: another plan's paid claim must not count
    other = await enrolled_member(api, unit_id=unit_a)
    noise = await file_claim(api, other, _stay(2, "2000.00"))
    await approve(api, noise["id"])
    assert (await pay(api, [noise["id"]], reference="NOISE")).status_code == 201
    return {"plan": plan, "unit_a": unit_a, "unit_b": unit_b}


class TestClaimsReport:
    async def test_every_figure_matches_the_paid_claims(self, api, world):
        response = await api.get(REPORT, params={"plan_code": world["plan"]}, headers=AUDITOR)
        assert response.status_code == 200, response.text
        report = response.json()
        # paid: 1000.00 + 1500.01 (a1), 2000.00 (a2), 617.28 (b1); b2's payment was reversed
        total = Decimal("1000.00") + Decimal("1500.01") + Decimal("2000.00") + Decimal("617.28")
        assert report["claims"] == 4
        assert report["claimants"] == 3
        assert report["units"] == 2
        assert report["total_paid"] == str(total) == "5117.29"
        assert report["average_per_claimant"] == "1705.76"  # 5117.29 / 3 = 1705.763...
        assert report["average_per_claim"] == "1279.32"  # 5117.29 / 4 = 1279.3225
        assert report["largest_payout"] == "2000.00"
        assert report["median_days_to_pay"] == "6.5"  # days 9, 7, 6, 3
        assert report["rejections"] == {"below_threshold": 1, "reviewer": 1}
        rows = {row["unit_id"]: row for row in report["by_unit"]}
        assert rows[world["unit_a"]]["claims"] == 3
        assert rows[world["unit_a"]]["claimants"] == 2
        assert rows[world["unit_a"]]["total_paid"] == "4500.01"
        assert rows[world["unit_a"]]["average_per_claimant"] == "2250.01"  # 2250.005 half-up
        assert rows[world["unit_b"]]["total_paid"] == "617.28"
        assert rows[world["unit_b"]]["claims"] == 1

    async def test_the_paid_date_range_keeps_only_payments_in_it(self, api, world):
        response = await api.get(
            REPORT,
            params={"plan_code": world["plan"], "paid_from": str(D), "paid_to": str(D)},
            headers=AUDITOR,
        )
        report = response.json()
        assert report["claims"] == 2  # a1's second stay and b1
        assert report["total_paid"] == "2117.29"  # 1500.01 + 617.28
        assert report["median_days_to_pay"] == "4.5"  # days 6 and 3

    async def test_csv_export_reads_back_with_chinese_headers(self, api, world):
        response = await api.get(
            REPORT, params={"plan_code": world["plan"], "format": "csv"}, headers=AUDITOR
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == ["单位编号", "赔付人数", "赔付人次", "赔付金额", "人均赔付", "最高单笔"]
        by_unit = {row[0]: row for row in rows[1:]}
        assert by_unit[world["unit_a"]][1:4] == ["2", "3", "4500.01"]
        assert by_unit["合计"] == ["合计", "3", "4", "5117.29", "1705.76", "2000.00"]

    async def test_xlsx_export_reads_back(self, api, world):
        response = await api.get(
            REPORT, params={"plan_code": world["plan"], "format": "xlsx"}, headers=AUDITOR
        )
        assert response.status_code == 200
        workbook = load_workbook(io.BytesIO(response.content))
        assert workbook.sheetnames == ["汇总", "按单位", "拒赔原因"]
        summary = {row[0]: row[1] for row in workbook["汇总"].iter_rows(values_only=True)}
        assert Decimal(str(summary["赔付总额"])) == Decimal("5117.29")
        assert summary["赔付人次"] == 4
        units = list(workbook["按单位"].iter_rows(values_only=True))
        assert units[-1][0] == "合计" and Decimal(str(units[-1][3])) == Decimal("5117.29")
        reasons = dict(list(workbook["拒赔原因"].iter_rows(values_only=True))[1:])
        assert reasons == {"below_threshold": 1, "reviewer": 1}

    async def test_only_admin_and_auditor_read_it(self, api, world):
        for role in ("reviewer", "finance"):
            response = await api.get(
                REPORT, params={"plan_code": world["plan"]}, headers=bearer(role)
            )
            assert response.status_code == 403
