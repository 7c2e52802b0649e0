"""Properties of the payout engine that hold for any plan, cover, stay and usage."""

import json
from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claims_api.engine import (
    DailyFacts,
    FixedFacts,
    HospitalFacts,
    Usage,
    assess,
    assess_snapshot,
    facts_model_for,
    snapshot_of,
)
from services.kit.plan_rules import (
    DailyAllowanceRules,
    EnrollmentCover,
    FixedBenefitRules,
    HospitalReimbursementRules,
    PlanTerms,
)

SETTINGS = settings(max_examples=120, deadline=None)
FILED_ON = date(2027, 1, 15)


def money(low: int = 0, high: int = 10_000_000) -> st.SearchStrategy[D]:
    """Yuan with fen, from whole fen."""
    return st.integers(low, high).map(lambda fen: D(fen) / 100)


ratios = st.integers(0, 1000).map(lambda permille: D(permille) / 1000)


@st.composite
def band_lists(draw: st.DrawFn, rising: bool = False) -> list[dict[str, str]]:
    starts = draw(st.lists(st.integers(1, 60_000), max_size=4, unique=True))
    aboves = [0, *sorted(starts)]
    band_ratios = draw(st.lists(ratios, min_size=len(aboves), max_size=len(aboves)))
    if rising:
        band_ratios.sort()
    return [
        {"above": str(above), "ratio": str(ratio)}
        for above, ratio in zip(aboves, band_ratios, strict=True)
    ]


def terms_of(kind: str, benefit: dict[str, Any], reduced_ratio: D) -> PlanTerms:
    return PlanTerms.model_validate(
        {
            "kind": kind,
            "coverage_start": "2026-01-01",
            "coverage_end": "2026-12-31",
            "enrol_from": "2025-11-01",
            "enrol_until": "2026-12-31",
            "contribution_per_share": "36",
            "max_shares": 3,
            "waiting_days": 30,
            "reduced_days": 90,
            "reduced_ratio": str(reduced_ratio),
            "benefit": {"kind": kind, **benefit},
        }
    )


@st.composite
def hospital_terms(
    draw: st.DrawFn, band_mode: str | None = None, rising: bool = False
) -> PlanTerms:
    benefit = {
        "base": draw(st.sampled_from(["out_of_pocket_in_policy", "total_in_policy"])),
        "deductible": str(draw(money(0, 200_000))),
        "threshold": str(draw(money(0, 200_000))),
        "bands": draw(band_lists(rising=rising)),
        "band_mode": band_mode or draw(st.sampled_from(["progressive", "whole"])),
        "per_stay_cap_per_share": str(draw(money(0, 5_000_000))),
        "term_cap_per_share": str(draw(money(0, 10_000_000))),
        "max_claims_per_term": draw(st.none() | st.integers(1, 5)),
    }
    return terms_of("hospital_reimbursement", benefit, draw(ratios))


@st.composite
def covers(draw: st.DrawFn) -> EnrollmentCover:
    start = date(2026, 1, 1)
    renewal = draw(st.booleans())
    return EnrollmentCover(
        enrollment_id="enr",
        member_id="mem",
        unit_id="unit",
        plan_code="PLAN-2026",
        shares=draw(st.integers(1, 3)),
        starts_on=start,
        ends_on=date(2026, 12, 31),
        waiting_ends_on=None if renewal else start + timedelta(days=29),
        reduced_ends_on=None if renewal else start + timedelta(days=89),
        renewal=renewal,
        member_left_on=draw(st.none() | st.dates(date(2026, 1, 1), date(2027, 1, 1))),
    )


event_dates = st.dates(date(2025, 12, 1), date(2027, 1, 31))


def hospital_stay(
    admitted_on: date, out_of_pocket: D, insurance: D, self_pay: D, total: D | None = None
) -> HospitalFacts:
    return HospitalFacts(
        admitted_on=admitted_on,
        discharged_on=admitted_on + timedelta(days=5),
        hospital="h",
        diagnosis_codes=["K35"],
        invoice_numbers=["1"],
        total_cost=insurance + out_of_pocket + self_pay if total is None else total,
        insurance_paid=insurance,
        out_of_pocket_in_policy=out_of_pocket,
        self_pay=self_pay,
    )


@st.composite
def hospital_facts(draw: st.DrawFn) -> HospitalFacts:
    parts = [draw(money(0, 5_000_000)) for _ in range(3)]
    total = draw(st.none() | money(0, 15_000_000))
    return hospital_stay(draw(event_dates), *parts, total=total)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    return Usage(
        used=draw(money(0, 20_000_000)),
        claims_count=draw(st.integers(0, 6)),
        groups_paid=frozenset(draw(st.lists(st.sampled_from(["g1", "g2"]), max_size=2))),
        cover_ended=draw(st.booleans()),
    )


def condition(code: str, prefix: str, amount: D, group: str) -> dict[str, str | list[str]]:
    return {
        "code": code,
        "name": code.lower(),
        "icd10": [prefix],
        "amount_per_share": str(amount),
        "group": group,
    }


@st.composite
def fixed_terms(draw: st.DrawFn) -> PlanTerms:
    benefit = {
        "conditions": [
            condition("A", "C50", D("10000"), "g1"),
            condition("B", "C50.9", D("7000.5"), "g2"),
            condition("C", "D05", draw(money()), "g1"),
        ],
        "fixed_extra": str(draw(money(0, 300_000))),
        "ends_cover_after_payout": draw(st.booleans()),
        "term_cap_per_share": draw(st.none() | money(0, 3_000_000).map(str)),
    }
    return terms_of("fixed_benefit", benefit, draw(ratios))


@st.composite
def fixed_facts(draw: st.DrawFn) -> FixedFacts:
    return FixedFacts(
        diagnosed_on=draw(event_dates),
        diagnosis_code=draw(st.sampled_from(["C50", "C50.1", "C50.9", "c509", "D05.1", "C61"])),
        hospital="h",
        pathology_report_no="p",
    )


@st.composite
def daily_terms(draw: st.DrawFn) -> PlanTerms:
    benefit = {
        "amount_per_day_per_share": str(draw(money(0, 100_000))),
        "from_day": draw(st.integers(1, 10)),
        "max_days_per_stay": draw(st.integers(1, 60)),
        "term_cap_per_share": str(draw(money(0, 1_000_000))),
    }
    return terms_of("daily_allowance", benefit, draw(ratios))


@st.composite
def daily_facts(draw: st.DrawFn) -> DailyFacts:
    admitted_on = draw(event_dates)
    return DailyFacts(
        admitted_on=admitted_on,
        discharged_on=admitted_on + timedelta(days=draw(st.integers(0, 90))),
        hospital="h",
        diagnosis_codes=["J18"],
        invoice_numbers=["1"],
    )


def run(terms: PlanTerms, cover: EnrollmentCover | None, facts: Any, usage: Usage) -> Any:
    return assess(terms, cover, facts, usage, filed_on=FILED_ON, rules_version="prop")


@SETTINGS
@given(hospital_terms(), st.none() | covers(), hospital_facts(), usages())
def test_hospital_payout_stays_within_zero_and_the_caps(
    terms: PlanTerms, cover: EnrollmentCover | None, facts: HospitalFacts, usage: Usage
) -> None:
    result = run(terms, cover, facts, usage)
    assert result.payable >= 0
    assert result.payable == result.payable.quantize(D("0.01"))
    if result.reason_codes:
        assert result.payable == 0
    if cover is None:
        assert result.reason_codes[0] == "not_enrolled"
        return
    rules = terms.benefit
    assert isinstance(rules, HospitalReimbursementRules)
    term_left = max(D(0), rules.term_cap_per_share * cover.shares - usage.used)
    assert result.payable <= rules.per_stay_cap_per_share * cover.shares
    assert result.payable <= term_left
    assert result.cap_left == term_left - result.payable


@SETTINGS
@given(fixed_terms(), st.none() | covers(), fixed_facts(), usages())
def test_fixed_payout_stays_within_the_term_cap(
    terms: PlanTerms, cover: EnrollmentCover | None, facts: FixedFacts, usage: Usage
) -> None:
    result = run(terms, cover, facts, usage)
    assert result.payable >= 0
    if result.reason_codes:
        assert result.payable == 0 and not result.ends_cover
    assert isinstance(terms.benefit, FixedBenefitRules)
    cap = terms.benefit.term_cap_per_share
    if cover is not None and cap is not None:
        assert result.payable <= max(D(0), cap * cover.shares - usage.used)


@SETTINGS
@given(daily_terms(), covers(), daily_facts(), usages())
def test_daily_payout_stays_within_the_term_cap_and_the_days(
    terms: PlanTerms, cover: EnrollmentCover, facts: DailyFacts, usage: Usage
) -> None:
    result = run(terms, cover, facts, usage)
    rules = terms.benefit
    assert isinstance(rules, DailyAllowanceRules)
    assert result.payable >= 0
    assert result.payable <= max(D(0), rules.term_cap_per_share * cover.shares - usage.used)
    most_days = min(rules.max_days_per_stay, max(0, facts.days))
    assert result.payable <= most_days * rules.amount_per_day_per_share * cover.shares


@st.composite
def monotone_terms(draw: st.DrawFn) -> PlanTerms:
    mode = draw(st.sampled_from(["progressive", "whole"]))
    # whole bands are monotone only when ratios rise band by band; progressive always
    return draw(hospital_terms(band_mode=mode, rising=mode == "whole"))


@SETTINGS
@given(
    monotone_terms(),
    covers(),
    event_dates,
    money(0, 5_000_000),
    money(0, 5_000_000),
    money(0, 5_000_000),
    usages(),
)
def test_more_base_never_pays_less(
    terms: PlanTerms,
    cover: EnrollmentCover,
    admitted_on: date,
    first: D,
    second: D,
    insurance: D,
    usage: Usage,
) -> None:
    low, high = sorted([first, second])
    paid_low = run(terms, cover, hospital_stay(admitted_on, low, insurance, D(0)), usage)
    paid_high = run(terms, cover, hospital_stay(admitted_on, high, insurance, D(0)), usage)
    assert paid_low.payable <= paid_high.payable


@SETTINGS
@given(hospital_terms(rising=True), covers(), hospital_facts(), usages())
def test_progressive_never_pays_more_than_whole_when_ratios_rise(
    terms: PlanTerms, cover: EnrollmentCover, facts: HospitalFacts, usage: Usage
) -> None:
    def in_mode(mode: str) -> PlanTerms:
        data = terms.model_dump(mode="json")
        data["benefit"]["band_mode"] = mode
        return PlanTerms.model_validate(data)

    progressive = run(in_mode("progressive"), cover, facts, usage)
    whole = run(in_mode("whole"), cover, facts, usage)
    assert progressive.payable <= whole.payable


def replay(terms: PlanTerms, cover: EnrollmentCover | None, facts: Any, usage: Usage) -> None:
    stored = json.dumps(
        {
            "terms": terms.model_dump_json(),
            "cover": None if cover is None else cover.model_dump_json(),
            "facts": facts.model_dump_json(),
            "usage": usage.model_dump_json(),
        }
    )
    loaded = json.loads(stored)
    terms_again = PlanTerms.model_validate_json(loaded["terms"])
    cover_again = None
    if loaded["cover"] is not None:
        cover_again = EnrollmentCover.model_validate_json(loaded["cover"])
    facts_again = facts_model_for(terms_again.kind).model_validate_json(loaded["facts"])
    usage_again = Usage.model_validate_json(loaded["usage"])
    first = run(terms, cover, facts, usage)
    again = run(terms_again, cover_again, facts_again, usage_again)
    assert str(again.payable) == str(first.payable)
    assert again.json() == first.json()
    snapshot = json.loads(json.dumps(snapshot_of(terms, cover, facts, usage)))
    replayed = assess_snapshot(snapshot, filed_on=FILED_ON, rules_version="prop")
    assert replayed.json() == first.json()
    assert replayed == first


@SETTINGS
@given(hospital_terms(), st.none() | covers(), hospital_facts(), usages())
def test_replaying_a_hospital_snapshot_gives_the_same_fen(
    terms: PlanTerms, cover: EnrollmentCover | None, facts: HospitalFacts, usage: Usage
) -> None:
    replay(terms, cover, facts, usage)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.tuples(fixed_terms(), st.none() | covers(), fixed_facts(), usages()),
        st.tuples(daily_terms(), st.none() | covers(), daily_facts(), usages()),
    )
)
def test_replaying_a_fixed_or_daily_snapshot_gives_the_same_fen(case: tuple[Any, ...]) -> None:
    replay(*case)
