"""Fixed benefit (critical illness): a sum per share for a first diagnosis (DOMAIN.md,
fixed_benefit). Expected amounts are worked out by hand in each test."""

from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

from claims_api.engine import Assessment, FixedFacts, Usage, assess, match_condition
from services.kit.plan_rules import EnrollmentCover, FixedBenefitRules, PlanTerms

START = date(2026, 1, 1)
CONDITIONS = [
    {
        "code": "BREAST_CA",
        "name": "乳腺癌",
        "icd10": ["C50"],
        "amount_per_share": "10000",
        "group": "malignant",
    },
    {
        "code": "BREAST_CA_NOS",
        "name": "乳腺恶性肿瘤，未特指",
        "icd10": ["C50.9"],
        "amount_per_share": "6000",
        "group": "malignant_nos",
    },
    {
        "code": "CERVIX_CA",
        "name": "宫颈癌",
        "icd10": ["C53"],
        "amount_per_share": "8000",
        "group": "malignant",
    },
    {
        "code": "CIS_BREAST",
        "name": "乳腺原位癌",
        "icd10": ["D05"],
        "amount_per_share": "3000",
        "group": "in_situ",
    },
]


def plan(**benefit: Any) -> PlanTerms:
    rules = {"kind": "fixed_benefit", "conditions": CONDITIONS, "fixed_extra": "2000", **benefit}
    return PlanTerms.model_validate(
        {
            "kind": "fixed_benefit",
            "coverage_start": "2026-01-01",
            "coverage_end": "2026-12-31",
            "enrol_from": "2025-11-01",
            "enrol_until": "2026-12-31",
            "contribution_per_share": "50",
            "max_shares": 2,
            "eligibility": {"sex": "F", "min_age": 16, "max_age": 60},
            "waiting_days": 90,
            "reduced_days": 180,
            "reduced_ratio": "0.5",
            "benefit": rules,
        }
    )


def cover(shares: int = 1, **changes: Any) -> EnrollmentCover:
    data: dict[str, Any] = {
        "enrollment_id": "enr-9",
        "member_id": "mem-9",
        "unit_id": "unit-1",
        "plan_code": "WOMEN-2026",
        "shares": shares,
        "starts_on": START,
        "ends_on": date(2026, 12, 31),
        "waiting_ends_on": START + timedelta(days=90 - 1),  # 2026-03-31
        "reduced_ends_on": START + timedelta(days=180 - 1),  # 2026-06-29
        **changes,
    }
    return EnrollmentCover.model_validate(data)


def diagnosis(code: str = "C50.1", on: date = date(2026, 8, 1)) -> FixedFacts:
    return FixedFacts(
        diagnosed_on=on, diagnosis_code=code, hospital="天津市肿瘤医院", pathology_report_no="P-1"
    )


def run(
    terms: PlanTerms,
    facts: FixedFacts,
    *,
    cover_: EnrollmentCover | None = None,
    usage: Usage | None = None,
) -> Assessment:
    return assess(
        terms,
        cover() if cover_ is None else cover_,
        facts,
        usage or Usage(),
        filed_on=date(2026, 9, 1),
        rules_version="WOMEN-2026@1",
    )


def test_seed_pays_22000_on_two_shares_and_12000_on_one() -> None:
    two = run(plan(), diagnosis(), cover_=cover(shares=2))
    one = run(plan(), diagnosis(), cover_=cover(shares=1))
    assert two.payable == D("10000") * 2 + D("2000")  # 22000.00
    assert one.payable == D("10000") * 1 + D("2000")  # 12000.00
    assert str(two.payable) == "22000.00"
    assert str(one.payable) == "12000.00"
    assert two.reason_codes == one.reason_codes == ()
    assert (two.condition_code, two.group) == ("BREAST_CA", "malignant")


def test_explanation_names_the_condition_and_the_extra() -> None:
    result = run(plan(), diagnosis(), cover_=cover(shares=2))
    eligible = result.line("eligible")
    benefit = result.line("benefit")
    assert eligible is not None and eligible.amount == D("20000.00")
    assert "BREAST_CA" in eligible.text and "10000.00 x 2 shares = 20000.00" in eligible.text
    assert benefit is not None and "fixed extra 2000.00 = 22000.00" in benefit.text
    assert [line.category for line in result.lines] == [
        "submitted",
        "eligible",
        "eligpercent",
        "benefit",
    ]


def test_longest_listed_prefix_wins() -> None:
    terms = plan()
    nos = run(terms, diagnosis("C50.9"))
    assert nos.condition_code == "BREAST_CA_NOS"
    assert nos.payable == D("6000") + D("2000")
    assert run(terms, diagnosis("C50.1")).condition_code == "BREAST_CA"
    assert run(terms, diagnosis("C50")).condition_code == "BREAST_CA"
    # the dot does not matter, nor the case a member typed
    assert run(terms, diagnosis("c509")).condition_code == "BREAST_CA_NOS"
    assert run(terms, diagnosis("C50.92")).condition_code == "BREAST_CA_NOS"


def test_match_condition_returns_the_matched_prefix() -> None:
    rules = plan().benefit
    assert isinstance(rules, FixedBenefitRules)
    match = match_condition(rules, "C53.0")
    assert match is not None
    condition, prefix = match
    assert (condition.code, prefix) == ("CERVIX_CA", "C53")
    assert match_condition(rules, "C5") is None


def test_unlisted_diagnosis_is_not_covered() -> None:
    result = run(plan(), diagnosis("C61"))
    assert result.reason_codes == ("condition_not_covered",)
    assert result.payable == D("0.00")
    assert result.condition_code is None


def test_a_group_pays_once_per_enrolment() -> None:
    usage = Usage(used=D("12000"), claims_count=1, groups_paid=frozenset({"malignant"}))
    again = run(plan(), diagnosis("C53.0"), usage=usage)  # cervix, same group as breast
    other = run(plan(), diagnosis("D05.1"), usage=usage)  # in situ, another group
    assert again.reason_codes == ("already_paid_group",)
    assert again.payable == D("0.00")
    assert again.group == "malignant"
    assert other.reason_codes == ()
    assert other.payable == D("3000") + D("2000")


def test_payout_ends_the_cover_when_the_plan_says_so() -> None:
    result = run(plan(ends_cover_after_payout=True), diagnosis())
    assert result.ends_cover is True
    assert run(plan(), diagnosis()).ends_cover is False


def test_no_claim_after_the_cover_ended() -> None:
    result = run(
        plan(ends_cover_after_payout=True), diagnosis("D05"), usage=Usage(cover_ended=True)
    )
    assert result.reason_codes == ("not_enrolled",)
    assert result.payable == D("0.00")
    assert result.ends_cover is False


def test_refused_claim_does_not_end_the_cover() -> None:
    result = run(plan(ends_cover_after_payout=True), diagnosis(on=date(2026, 3, 31)))
    assert result.reason_codes == ("waiting_period",)
    assert result.ends_cover is False


def test_reduced_period_halves_the_sum_but_not_the_extra() -> None:
    result = run(plan(), diagnosis(on=date(2026, 6, 29)), cover_=cover(shares=2))
    assert result.payable == D("10000") * 2 * D("0.5") + D("2000")  # 12000.00
    assert result.benefit_ratio == D("0.5")
    assert run(plan(), diagnosis(on=date(2026, 6, 30))).benefit_ratio == D("1")


def test_term_cap_limits_the_payout_per_share() -> None:
    terms = plan(term_cap_per_share="15000")
    usage = Usage(used=D("6000"), claims_count=1, groups_paid=frozenset({"in_situ"}))
    result = run(terms, diagnosis(), cover_=cover(shares=2), usage=usage)
    # 15000 x 2 - 6000 = 24000 left; 10000 x 2 + 2000 = 22000 fits
    assert result.payable == D("22000.00")
    assert result.cap_left == D("24000") - D("22000")
    capped = run(terms, diagnosis(), cover_=cover(shares=2), usage=Usage(used=D("25000")))
    # 30000 - 25000 = 5000 left, below 22000
    assert capped.payable == D("5000.00")
    assert capped.reason_codes == ()
    assert capped.cap_left == D("0.00")


def test_term_cap_used_up_is_refused() -> None:
    result = run(plan(term_cap_per_share="15000"), diagnosis(), usage=Usage(used=D("15000")))
    assert result.reason_codes == ("cap_reached",)
    assert result.payable == D("0.00")


def test_without_a_term_cap_there_is_no_cap_left() -> None:
    assert run(plan(), diagnosis()).cap_left is None


def test_unenrolled_member_still_learns_the_condition_was_not_covered() -> None:
    result = assess(
        plan(),
        None,
        diagnosis("Z00"),
        Usage(),
        filed_on=date(2026, 9, 1),
        rules_version="v",
    )
    assert result.reason_codes == ("not_enrolled", "condition_not_covered")
