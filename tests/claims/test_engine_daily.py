"""Daily allowance: a sum per day of a stay from a given day (DOMAIN.md, daily_allowance).
Expected amounts are worked out by hand in each test."""

from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from claims_api.engine import Assessment, DailyFacts, Usage, assess
from services.kit.plan_rules import EnrollmentCover, PlanTerms

START = date(2026, 1, 1)


def plan(**benefit: Any) -> PlanTerms:
    rules = {
        "kind": "daily_allowance",
        "amount_per_day_per_share": "50",
        "from_day": 4,
        "max_days_per_stay": 30,
        "term_cap_per_share": "3000",
        **benefit,
    }
    return PlanTerms.model_validate(
        {
            "kind": "daily_allowance",
            "coverage_start": "2026-01-01",
            "coverage_end": "2026-12-31",
            "enrol_from": "2025-11-01",
            "enrol_until": "2026-12-31",
            "contribution_per_share": "20",
            "max_shares": 3,
            "waiting_days": 30,
            "reduced_days": 90,
            "reduced_ratio": "0.5",
            "claim_deadline_days": 365,
            "benefit": rules,
        }
    )


def cover(shares: int = 1, **changes: Any) -> EnrollmentCover:
    data: dict[str, Any] = {
        "enrollment_id": "enr-3",
        "member_id": "mem-3",
        "unit_id": "unit-2",
        "plan_code": "DAY-2026",
        "shares": shares,
        "starts_on": START,
        "ends_on": date(2026, 12, 31),
        "waiting_ends_on": START + timedelta(days=30 - 1),
        "reduced_ends_on": START + timedelta(days=90 - 1),
        **changes,
    }
    return EnrollmentCover.model_validate(data)


def stay(days: int, admitted_on: date = date(2026, 5, 1)) -> DailyFacts:
    return DailyFacts(
        admitted_on=admitted_on,
        discharged_on=admitted_on + timedelta(days=days),
        hospital="黑龙江省医院",
        diagnosis_codes=["J18.9"],
        invoice_numbers=["20260501-01"],
    )


def run(
    terms: PlanTerms,
    facts: DailyFacts,
    *,
    cover_: EnrollmentCover | None = None,
    usage: Usage | None = None,
    filed_on: date = date(2026, 6, 1),
) -> Assessment:
    return assess(
        terms,
        cover() if cover_ is None else cover_,
        facts,
        usage or Usage(),
        filed_on=filed_on,
        rules_version="DAY-2026@1",
    )


def test_ten_day_stay_from_day_four_pays_seven_days() -> None:
    result = run(plan(), stay(10))
    assert result.payable == 7 * D("50")  # days 4..10 = 10 - 4 + 1 = 7 days
    eligible = result.line("eligible")
    assert eligible is not None and "days 4 to 10 paid: 7 days" in eligible.text


def test_allowance_is_per_share() -> None:
    result = run(plan(), stay(10), cover_=cover(shares=2))
    assert result.payable == 7 * D("50") * 2  # 700.00
    assert result.cap_left == D("3000") * 2 - D("700")


def test_from_day_one_pays_every_day() -> None:
    assert run(plan(from_day=1), stay(10)).payable == 10 * D("50")


@pytest.mark.parametrize(("days", "paid"), [(0, 0), (3, 0), (4, 1), (5, 2)])
def test_short_stays(days: int, paid: int) -> None:
    # paid days = max(0, days - 4 + 1); a same-day stay is 0 days
    result = run(plan(), stay(days))
    assert result.payable == paid * D("50")
    assert result.reason_codes == ()


def test_days_are_capped_per_stay() -> None:
    result = run(plan(max_days_per_stay=5), stay(10))
    assert result.payable == 5 * D("50")  # 7 days computed, at most 5 paid
    eligible = result.line("eligible")
    assert eligible is not None and "at most 5 per stay" in eligible.text


def test_reduced_period_ratio() -> None:
    result = run(plan(), stay(10, admitted_on=date(2026, 3, 1)))
    assert result.payable == 7 * D("50") * D("0.5")  # 175.00
    assert result.benefit_ratio == D("0.5")


def test_reduced_ratio_rounds_half_up() -> None:
    terms = plan(amount_per_day_per_share="33.33")
    result = run(terms, stay(4, admitted_on=date(2026, 3, 1)))
    # 1 day x 33.33 x 0.5 = 16.665 -> 16.67
    assert result.payable == D("16.67")


def test_waiting_period_is_refused() -> None:
    result = run(plan(), stay(10, admitted_on=date(2026, 1, 30)))
    assert result.reason_codes == ("waiting_period",)
    assert result.payable == D("0.00")


def test_stay_stops_at_the_term_cap() -> None:
    result = run(plan(), stay(10), usage=Usage(used=D("2800"), claims_count=3))
    assert result.payable == D("3000") - D("2800")  # 350 computed, 200 left
    assert result.reason_codes == ()
    assert result.cap_left == D("0.00")


def test_term_cap_used_up_is_refused() -> None:
    result = run(plan(), stay(10), usage=Usage(used=D("3000"), claims_count=4))
    assert result.reason_codes == ("cap_reached",)
    assert result.payable == D("0.00")


def test_deadline_counts_from_discharge() -> None:
    facts = stay(10)  # discharged 2026-05-11; 365 days later is 2027-05-11
    assert run(plan(), facts, filed_on=date(2027, 5, 11)).reason_codes == ()
    assert run(plan(), facts, filed_on=date(2027, 5, 12)).reason_codes == ("deadline_passed",)


def test_member_left_before_admission() -> None:
    result = run(plan(), stay(10), cover_=cover(member_left_on=date(2026, 4, 30)))
    assert result.reason_codes == ("member_left",)


def test_no_deductible_line_for_a_daily_allowance() -> None:
    categories = [line.category for line in run(plan(), stay(10)).lines]
    assert categories == ["submitted", "eligible", "eligpercent", "benefit"]
