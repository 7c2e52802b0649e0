"""Hospital reimbursement: what a member sees for one stay (DOMAIN.md, hospital_reimbursement).

Expected amounts are worked out by hand in each test, never taken from the engine.
"""

import json
from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from claims_api.engine import (
    REASON_CODES,
    Assessment,
    DailyFacts,
    HospitalFacts,
    Usage,
    assess,
    claim_deadline,
)
from services.kit.plan_rules import EnrollmentCover, PlanTerms

START = date(2026, 1, 1)
BANDS = [{"above": "0", "ratio": "0.50"}, {"above": "5000", "ratio": "0.60"}]


def plan(**benefit: Any) -> PlanTerms:
    terms: dict[str, Any] = {
        "kind": "hospital_reimbursement",
        "coverage_start": "2026-01-01",
        "coverage_end": "2026-12-31",
        "enrol_from": "2025-11-01",
        "enrol_until": "2026-12-31",
        "contribution_per_share": "36",
        "max_shares": 3,
        "waiting_days": 30,
        "reduced_days": 90,
        "reduced_ratio": "0.5",
        "claim_deadline_days": 730,
    }
    for key in ("waiting_days", "reduced_days", "reduced_ratio", "claim_deadline_days"):
        if key in benefit:
            terms[key] = benefit.pop(key)
    rules = {
        "kind": "hospital_reimbursement",
        "bands": BANDS,
        "per_stay_cap_per_share": "100000",
        "term_cap_per_share": "300000",
        **benefit,
    }
    return PlanTerms.model_validate({**terms, "benefit": rules})


def cover(shares: int = 1, **changes: Any) -> EnrollmentCover:
    # 30 waiting days from 2026-01-01: the last waiting day is 2026-01-30;
    # 90 reduced days: the last reduced day is 2026-03-31 (31 + 28 + 31 = 90).
    data: dict[str, Any] = {
        "enrollment_id": "enr-1",
        "member_id": "mem-1",
        "unit_id": "unit-1",
        "plan_code": "MED-2026",
        "shares": shares,
        "starts_on": START,
        "ends_on": date(2026, 12, 31),
        "waiting_ends_on": START + timedelta(days=30 - 1),
        "reduced_ends_on": START + timedelta(days=90 - 1),
        **changes,
    }
    return EnrollmentCover.model_validate(data)


def stay(
    out_of_pocket: str = "6200",
    *,
    insurance: str = "5000",
    self_pay: str = "800",
    total: str | None = None,
    admitted_on: date = date(2026, 6, 1),
    discharged_on: date = date(2026, 6, 10),
) -> HospitalFacts:
    if total is None:
        total = str(D(insurance) + D(out_of_pocket) + D(self_pay))
    return HospitalFacts(
        admitted_on=admitted_on,
        discharged_on=discharged_on,
        hospital="海南省人民医院",
        diagnosis_codes=["K35.8"],
        invoice_numbers=["INV-0001"],
        total_cost=D(total),
        insurance_paid=D(insurance),
        out_of_pocket_in_policy=D(out_of_pocket),
        self_pay=D(self_pay),
    )


def run(
    terms: PlanTerms,
    facts: HospitalFacts,
    *,
    cover_: EnrollmentCover | None = None,
    usage: Usage | None = None,
    filed_on: date = date(2026, 7, 1),
) -> Assessment:
    return assess(
        terms,
        cover() if cover_ is None else cover_,
        facts,
        usage or Usage(),
        filed_on=filed_on,
        rules_version="MED-2026@1",
    )


def benefit_text(result: Assessment) -> str:
    line = result.line("benefit")
    assert line is not None
    return line.text


class TestBands:
    def test_progressive_bands_pay_each_slice_at_its_own_ratio(self) -> None:
        result = run(plan(), stay("6200"))
        # 5000 x 0.50 + (6200 - 5000) x 0.60 = 2500 + 720
        assert result.payable == D("2500.00") + D("720.00")
        assert result.reason_codes == ()
        assert "progressive bands: 5000.00 x 50% + 1200.00 x 60% = 3220.00" in benefit_text(result)

    def test_whole_bands_pay_the_whole_amount_at_its_band_ratio(self) -> None:
        result = run(plan(band_mode="whole"), stay("6200"))
        assert result.payable == D("6200") * D("0.60")  # 3720.00
        assert "6200.00 x 60% = 3720.00" in benefit_text(result)

    def test_amount_exactly_at_a_band_start_belongs_to_the_lower_band(self) -> None:
        at_edge = run(plan(band_mode="whole"), stay("5000"))
        assert at_edge.payable == D("5000") * D("0.50")  # 2500.00
        just_above = run(plan(band_mode="whole"), stay("5000.01"))
        # 5000.01 x 0.60 = 3000.006, half-up to the fen
        assert just_above.payable == D("3000.01")

    def test_progressive_amount_at_a_band_start_has_no_upper_slice(self) -> None:
        result = run(plan(), stay("5000"))
        assert result.payable == D("2500.00")  # 5000 x 0.50, no slice at 60%
        assert "60%" not in benefit_text(result)

    def test_progressive_with_three_bands(self) -> None:
        bands = [
            {"above": "0", "ratio": "0.5"},
            {"above": "5000", "ratio": "0.6"},
            {"above": "20000", "ratio": "0.7"},
        ]
        result = run(plan(bands=bands), stay("25000"))
        # 5000 x 0.5 + 15000 x 0.6 + 5000 x 0.7 = 2500 + 9000 + 3500
        assert result.payable == D("15000.00")

    def test_nothing_left_after_deductible_pays_zero(self) -> None:
        result = run(plan(deductible="500"), stay("300"))
        deductible = result.line("deductible")
        assert deductible is not None and deductible.amount == D("300.00")  # only what there was
        assert result.payable == D("0.00")


class TestBaseDeductibleThreshold:
    def test_deductible_is_subtracted_from_the_base_before_the_bands(self) -> None:
        result = run(plan(deductible="500"), stay("6700"))
        # 6700 - 500 = 6200; 5000 x 0.5 + 1200 x 0.6 = 3220
        assert result.payable == D("3220.00")
        deductible = result.line("deductible")
        assert deductible is not None and deductible.amount == D("500.00")
        assert "6700.00 - 500.00 = 6200.00" in deductible.text

    def test_base_at_the_threshold_is_paid_and_the_threshold_not_subtracted(self) -> None:
        result = run(plan(threshold="1000"), stay("1000"))
        assert result.reason_codes == ()
        assert result.payable == D("1000") * D("0.5")  # 500.00, not (1000 - 1000) x 0.5

    def test_base_below_the_threshold_is_refused(self) -> None:
        result = run(plan(threshold="1000"), stay("999.99"))
        assert result.reason_codes == ("below_threshold",)
        assert result.payable == D("0.00")

    def test_total_in_policy_base_adds_what_insurance_paid(self) -> None:
        result = run(plan(base="total_in_policy"), stay("6200", insurance="5000"))
        # base 5000 + 6200 = 11200; 5000 x 0.5 + 6200 x 0.6 = 2500 + 3720
        assert result.payable == D("6220.00")
        eligible = result.line("eligible")
        assert eligible is not None and eligible.amount == D("11200.00")

    def test_fuzhou_pays_13_percent_of_total_in_policy(self) -> None:
        terms = plan(base="total_in_policy", bands=[{"above": "0", "ratio": "0.13"}])
        result = run(terms, stay("3456.78", insurance="7654.32"))
        # (7654.32 + 3456.78) x 0.13 = 11111.10 x 0.13 = 1444.443 -> 1444.44
        assert result.payable == D("1444.44")

    def test_three_parts_not_adding_up_is_refused(self) -> None:
        result = run(plan(), stay("6200", insurance="5000", self_pay="800", total="12000.01"))
        assert result.reason_codes == ("amounts_inconsistent",)
        assert result.payable == D("0.00")


class TestCaps:
    def test_per_stay_cap_is_per_share(self) -> None:
        terms = plan(per_stay_cap_per_share="1000")
        one = run(terms, stay("6200"), cover_=cover(shares=1))
        two = run(terms, stay("6200"), cover_=cover(shares=2))
        assert one.payable == D("1000") * 1  # 3220 capped
        assert two.payable == D("1000") * 2
        assert "capped at the per-stay cap 1000.00 x 2 shares = 2000.00" in benefit_text(two)
        assert one.reason_codes == two.reason_codes == ()

    def test_second_claim_stops_at_annual_cap(self) -> None:
        terms = plan(term_cap_per_share="2000")
        usage = Usage(used=D("3000"), claims_count=1)
        result = run(terms, stay("6200"), cover_=cover(shares=2), usage=usage)
        # 2000 x 2 shares - 3000 used = 1000 left, below the 3220 computed
        assert result.payable == D("1000.00")
        assert result.reason_codes == ()
        assert result.cap_left == D("0.00")
        assert "capped at the term cap" in benefit_text(result)

    def test_cap_left_after_an_uncapped_payout(self) -> None:
        result = run(plan(term_cap_per_share="10000"), stay("6200"), usage=Usage(used=D("1000")))
        assert result.cap_left == D("10000") - D("1000") - D("3220")

    def test_claim_after_the_term_cap_is_used_up_is_refused(self) -> None:
        terms = plan(term_cap_per_share="2000")
        result = run(terms, stay("6200"), cover_=cover(shares=2), usage=Usage(used=D("4000")))
        assert result.reason_codes == ("cap_reached",)
        assert result.payable == D("0.00")
        assert result.cap_left == D("0.00")

    def test_max_claims_per_term(self) -> None:
        terms = plan(max_claims_per_term=2)
        second = run(terms, stay("6200"), usage=Usage(used=D("10"), claims_count=1))
        third = run(terms, stay("6200"), usage=Usage(used=D("20"), claims_count=2))
        assert second.payable == D("3220.00")
        assert third.reason_codes == ("cap_reached",)
        assert third.payable == D("0.00")


class TestPeriods:
    """DOMAIN.md: 30 waiting days, 90 reduced days, cover from 2026-01-01."""

    @pytest.mark.parametrize(
        ("event", "ratio"),
        [
            (date(2026, 1, 31), D("0.5")),
            (date(2026, 3, 31), D("0.5")),
            (date(2026, 4, 1), D("1")),
        ],
    )
    def test_reduced_then_full_benefit(self, event: date, ratio: D) -> None:
        result = run(plan(), stay("6200", admitted_on=event, discharged_on=event))
        assert result.benefit_ratio == ratio
        assert result.payable == D("3220.00") * ratio  # 1610.00 or 3220.00
        line = result.line("eligpercent")
        assert line is not None and line.ratio == ratio and line.amount is None

    def test_event_on_the_last_waiting_day_is_refused(self) -> None:
        event = date(2026, 1, 30)
        result = run(plan(), stay("6200", admitted_on=event, discharged_on=event))
        assert result.reason_codes == ("waiting_period",)
        assert result.payable == D("0.00")
        assert result.benefit_ratio is None

    def test_reduced_ratio_rounds_half_up_after_each_step(self) -> None:
        terms = plan(bands=[{"above": "0", "ratio": "0.5"}])
        result = run(terms, stay("1000.01", admitted_on=date(2026, 2, 1)))
        # bands: 1000.01 x 0.5 = 500.005 -> 500.01; period: 500.01 x 0.5 = 250.005 -> 250.01
        # (one rounding of 1000.01 x 0.25 = 250.0025 would give 250.00)
        assert result.payable == D("250.01")

    def test_renewal_has_no_waiting_or_reduced_period(self) -> None:
        renewal = cover(waiting_ends_on=None, reduced_ends_on=None, renewal=True)
        event = date(2026, 1, 2)
        result = run(plan(), stay("6200", admitted_on=event), cover_=renewal)
        assert result.reason_codes == ()
        assert result.benefit_ratio == D("1")
        assert result.payable == D("3220.00")
        line = result.line("eligpercent")
        assert line is not None and "renewal" in line.text


class TestRefusals:
    def test_claim_filed_after_the_deadline(self) -> None:
        facts = stay("6200", admitted_on=date(2026, 3, 1), discharged_on=date(2026, 3, 10))
        # 730 days after 2026-03-10: 365 to 2027-03-10, 365 more (29 Feb 2028) to 2028-03-09
        assert claim_deadline(plan(), facts.end_date) == date(2028, 3, 9)
        on_time = run(plan(), facts, filed_on=date(2028, 3, 9))
        late = run(plan(), facts, filed_on=date(2028, 3, 10))
        assert on_time.reason_codes == ()
        assert late.reason_codes == ("deadline_passed",)
        assert late.payable == D("0.00")

    def test_stay_after_the_member_left(self) -> None:
        left = cover(member_left_on=date(2026, 5, 31))
        last_day = run(plan(), stay("6200", admitted_on=date(2026, 5, 31)), cover_=left)
        after = run(plan(), stay("6200", admitted_on=date(2026, 6, 1)), cover_=left)
        assert last_day.reason_codes == ()
        assert after.reason_codes == ("member_left",)
        assert after.payable == D("0.00")

    def test_no_enrolment_is_not_enrolled(self) -> None:
        result = assess(
            plan(), None, stay("6200"), Usage(), filed_on=date(2026, 7, 1), rules_version="v"
        )
        assert result.reason_codes == ("not_enrolled",)
        assert result.payable == D("0.00")
        assert result.cap_left is None and result.benefit_ratio is None

    def test_event_outside_the_cover_is_not_enrolled(self) -> None:
        late_joiner = cover(starts_on=date(2026, 7, 1), waiting_ends_on=None, reduced_ends_on=None)
        result = run(plan(), stay("6200", admitted_on=date(2026, 6, 1)), cover_=late_joiner)
        assert result.reason_codes == ("not_enrolled",)

    def test_every_reason_is_returned_in_a_stable_order(self) -> None:
        facts = stay("500", total="99999", admitted_on=date(2026, 1, 10))
        result = run(
            plan(threshold="1000", term_cap_per_share="100"),
            facts,
            usage=Usage(used=D("100")),
            filed_on=date(2030, 1, 1),
        )
        assert result.reason_codes == (
            "waiting_period",
            "deadline_passed",
            "amounts_inconsistent",
            "cap_reached",
            "below_threshold",
        )
        assert tuple(c for c in REASON_CODES if c in result.reason_codes) == result.reason_codes
        assert result.payable == D("0.00")
        assert "not payable: waiting_period" in benefit_text(result)


class TestFactsAndResult:
    def test_lines_come_in_fhir_order_with_money_as_strings(self) -> None:
        result = run(plan(deductible="100"), stay("6300"))
        assert [line.category for line in result.lines] == [
            "submitted",
            "eligible",
            "deductible",
            "eligpercent",
            "benefit",
        ]
        data = result.json()
        assert data["payable"] == "3220.00"  # (6300 - 100) -> 5000 x 0.5 + 1200 x 0.6
        assert data["lines"][0]["amount"] == "12100.00"  # 5000 + 6300 + 800
        assert data["benefit_ratio"] == "1"
        assert data["rules_version"] == "MED-2026@1"
        assert json.loads(json.dumps(data)) == data

    def test_discharge_before_admission_names_the_field(self) -> None:
        with pytest.raises(ValidationError) as error:
            stay(admitted_on=date(2026, 6, 2), discharged_on=date(2026, 6, 1))
        assert error.value.errors()[0]["loc"] == ("discharged_on",)

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"invoice_numbers": []}, "invoice_numbers"),
            ({"invoice_numbers": ["A1", "a1"]}, "invoice_numbers"),
            ({"diagnosis_codes": ["not-icd"]}, "diagnosis_codes"),
            ({"hospital": "x" * 201}, "hospital"),
            ({"total_cost": "1.001"}, "total_cost"),
            ({"self_pay": "-1"}, "self_pay"),
            ({"surprise": 1}, "surprise"),
        ],
    )
    def test_bad_fields_are_validation_errors(self, change: dict[str, Any], field: str) -> None:
        data = stay().model_dump(mode="json") | change
        with pytest.raises(ValidationError) as error:
            HospitalFacts.model_validate(data)
        assert error.value.errors()[0]["loc"][0] == field

    def test_lower_case_codes_are_accepted(self) -> None:
        data = stay().model_dump(mode="json") | {"diagnosis_codes": [" c50.9 "]}
        assert HospitalFacts.model_validate(data).diagnosis_codes == ["C50.9"]

    def test_facts_of_another_kind_are_a_programming_error(self) -> None:
        facts = DailyFacts(
            admitted_on=date(2026, 6, 1),
            discharged_on=date(2026, 6, 2),
            hospital="h",
            diagnosis_codes=["K35"],
            invoice_numbers=["1"],
        )
        with pytest.raises(TypeError):
            assess(plan(), cover(), facts, Usage(), filed_on=date(2026, 7, 1), rules_version="v")
