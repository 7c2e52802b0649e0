"""The engine answers exactly what the engine as first written answers.

`claims_api.engine.assess` answers frozen dataclasses; the reference
(tests/claims/engine_reference.py, the frozen oracle) its pydantic models as first written.
For any plan, cover, facts, usage, filing date and rule version, both must give the same
assessment: the same JSON, the same values to the Decimal exponent (the repr), the same lines,
texts and reason codes; or both refuse it, for the same reason.
"""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claims_api.engine import DailyFacts, FixedFacts, HospitalFacts, Usage, assess
from services.kit.plan_rules import EnrollmentCover, PlanTerms
from tests.claims.engine_reference import reference_assess

SETTINGS = settings(max_examples=400, deadline=None)
START = date(2026, 1, 1)


def fen(low: int = 0, high: int = 10_000_000) -> st.SearchStrategy[D]:
    """Yuan with fen, from whole fen; now and then written without its two places."""
    amounts = st.integers(low, high).map(lambda whole_fen: D(whole_fen) / 100)
    return st.one_of(amounts, amounts.map(lambda amount: amount.quantize(D("0.01"))))


# Amounts near the largest the models take (a trillion yuan), where products overflow it.
huge = st.integers(10**11, 10**12 - 1).map(D)
amounts = st.integers(0, 9).flatmap(
    lambda n: fen() if n < 8 else fen(0, 200) if n == 8 else huge.map(lambda amount: amount / 10)
)

ratios = st.one_of(
    st.integers(0, 1000).map(lambda permille: D(permille) / 1000),
    st.integers(0, 10**6).map(lambda millionths: D(millionths) / 10**6),
    st.sampled_from(["0", "1", "1.000000", "0.5", "0.500", "0E+2", "0.000001"]).map(D),
)


def rarely(values: st.SearchStrategy[Any], usual: Any, one_in: int = 5) -> st.SearchStrategy[Any]:
    """A value drawn from `values` once in `one_in` draws, else `usual`."""
    return st.integers(1, one_in).flatmap(lambda n: values if n == 1 else st.just(usual))


def maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """{key: value} or {} (the model's default)."""
    return st.one_of(st.just({}), values.map(lambda value: {key: value}))


def plan_document(kind: str, benefit: dict[str, Any], **terms: Any) -> dict[str, Any]:
    """A 2026 plan of `kind` with `benefit`, as the registry stores its terms."""
    return {
        "kind": kind,
        "coverage_start": str(START),
        "coverage_end": "2026-12-31",
        "enrol_from": "2025-11-01",
        "enrol_until": "2026-12-31",
        "contribution_per_share": "36",
        "benefit": {"kind": kind, **benefit},
        **terms,
    }


@st.composite
def terms_of(draw: st.DrawFn, kind: str, benefit: dict[str, Any]) -> PlanTerms:
    plan = plan_document(kind, benefit, max_shares=3)
    plan |= draw(maybe("reduced_ratio", ratios.map(str)))
    plan |= draw(rarely(st.integers(1, 800).map(lambda days: {"claim_deadline_days": days}), {}))
    return PlanTerms.model_validate(plan)


@st.composite
def bands(draw: st.DrawFn) -> list[dict[str, str]]:
    starts = draw(st.lists(st.one_of(fen(1, 6_000_000), huge), max_size=5, unique=True))
    aboves = [D(0), *sorted(starts)]
    band_ratios = draw(st.lists(ratios, min_size=len(aboves), max_size=len(aboves)))
    return [
        {"above": str(above), "ratio": str(ratio)}
        for above, ratio in zip(aboves, band_ratios, strict=True)
    ]


@st.composite
def hospital_terms(draw: st.DrawFn) -> PlanTerms:
    benefit: dict[str, Any] = {
        "bands": draw(bands()),
        "per_stay_cap_per_share": str(draw(amounts)),
        "term_cap_per_share": str(draw(amounts)),
    }
    benefit |= draw(maybe("base", st.sampled_from(["out_of_pocket_in_policy", "total_in_policy"])))
    benefit |= draw(maybe("deductible", fen(0, 500_000).map(str)))
    benefit |= draw(maybe("threshold", fen(0, 100_000).map(str)))
    benefit |= draw(maybe("band_mode", st.sampled_from(["progressive", "whole"])))
    benefit |= draw(maybe("max_claims_per_term", st.none() | st.integers(1, 5)))
    return draw(terms_of("hospital_reimbursement", benefit))


def condition(code: str, prefixes: list[str], amount: D, group: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"condition {code.lower()}",
        "icd10": prefixes,
        "amount_per_share": str(amount),
        "group": group,
    }


@st.composite
def fixed_terms(draw: st.DrawFn) -> PlanTerms:
    benefit: dict[str, Any] = {
        "conditions": [
            condition("A", ["C50"], draw(amounts), "g1"),
            condition("B", ["C50.9", "c53"], draw(amounts), "g2"),
            condition("C", ["D05", "C56.1"], draw(amounts), "g1"),
        ][: draw(st.integers(1, 3))]
    }
    benefit |= draw(maybe("fixed_extra", fen(0, 300_000).map(str)))
    benefit |= draw(maybe("ends_cover_after_payout", st.booleans()))
    benefit |= draw(maybe("term_cap_per_share", st.none() | amounts.map(str)))
    return draw(terms_of("fixed_benefit", benefit))


@st.composite
def daily_terms(draw: st.DrawFn) -> PlanTerms:
    benefit: dict[str, Any] = {
        "amount_per_day_per_share": str(draw(st.one_of(fen(0, 100_000), huge))),
        "max_days_per_stay": draw(st.integers(1, 400)),
        "term_cap_per_share": str(draw(amounts)),
    }
    benefit |= draw(maybe("from_day", st.integers(1, 30)))
    return draw(terms_of("daily_allowance", benefit))


days_of_2026 = (
    st.integers(0, 9)
    .flatmap(lambda n: st.integers(-40, 400) if n == 0 else st.integers(0, 364))
    .map(lambda offset: START + timedelta(days=offset))
)


@st.composite
def covers(draw: st.DrawFn) -> EnrollmentCover:
    starts_on = draw(rarely(st.just(date(2026, 3, 1)), START))
    waiting = draw(st.none() | st.integers(0, 30))
    reduced = draw(st.none() | st.integers(0, 90))
    return EnrollmentCover(
        enrollment_id="enr",
        member_id="mem",
        unit_id="unit",
        plan_code="PLAN-2026",
        shares=draw(st.one_of(st.integers(1, 3), st.integers(1, 150))),
        starts_on=starts_on,
        ends_on=date(2026, 12, 31),
        waiting_ends_on=None if waiting is None else starts_on + timedelta(days=waiting),
        reduced_ends_on=None if reduced is None else starts_on + timedelta(days=reduced),
        renewal=draw(st.booleans()),
        member_left_on=draw(rarely(days_of_2026, None)),
    )


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    return Usage(
        used=draw(st.one_of(fen(0, 20_000_000), st.just(D("0")))),
        claims_count=draw(st.integers(0, 3)),
        groups_paid=frozenset(draw(st.lists(st.sampled_from(["g1", "g2", "g3"]), max_size=2))),
        cover_ended=draw(rarely(st.just(True), False, one_in=10)),
    )


@st.composite
def hospital_facts(draw: st.DrawFn) -> HospitalFacts:
    admitted_on = draw(days_of_2026)
    insurance, out_of_pocket, self_pay = (draw(amounts) for _ in range(3))
    total = draw(rarely(amounts, None))
    return HospitalFacts(
        admitted_on=admitted_on,
        discharged_on=admitted_on + timedelta(days=draw(st.integers(0, 60))),
        hospital=draw(st.sampled_from(["h", " 市第一人民医院 "])),
        diagnosis_codes=["K35"],
        invoice_numbers=["1"],
        total_cost=insurance + out_of_pocket + self_pay if total is None else total,
        insurance_paid=insurance,
        out_of_pocket_in_policy=out_of_pocket,
        self_pay=self_pay,
    )


@st.composite
def fixed_facts(draw: st.DrawFn) -> FixedFacts:
    return FixedFacts(
        diagnosed_on=draw(days_of_2026),
        diagnosis_code=draw(
            st.sampled_from(["C50", "C50.1", "C50.9", "c509", "D05.1", "C61", "C53.0", "C56.1"])
        ),
        hospital="h",
        pathology_report_no=draw(st.sampled_from(["p", "PATH-1"])),
    )


@st.composite
def daily_facts(draw: st.DrawFn) -> DailyFacts:
    admitted_on = draw(days_of_2026)
    return DailyFacts(
        admitted_on=admitted_on,
        discharged_on=admitted_on + timedelta(days=draw(st.integers(0, 400))),
        hospital="h",
        diagnosis_codes=["J18"],
        invoice_numbers=["1"],
    )


filing_dates = (
    st.integers(0, 9)
    .flatmap(lambda n: st.integers(-30, 1200) if n == 0 else st.integers(380, 420))
    .map(lambda offset: START + timedelta(days=offset))
)
optional_covers = rarely(st.none(), True, one_in=10).flatmap(
    lambda usual: covers() if usual is True else st.none()
)
rule_versions = st.one_of(st.sampled_from(["v1", "2026-01"]), st.text(max_size=210))


def answer(call: Any, json_of: Callable[[Any], Any]) -> tuple[Any, ...]:
    """Everything an assessment is made of, or what made it fail."""
    try:
        result = call()
    except TypeError as error:  # facts of another kind: the same words
        return ("raised", TypeError, str(error))
    except ValueError as error:  # pydantic's ValidationError for the oracle
        return ("refused", refused_for(error))
    return (
        "answered",
        json_of(result),  # the JSON stored with the claim and served
        repr(result.payable),  # the values, Decimals with their exponents
        [(line.category, repr(line.amount), repr(line.ratio), line.text) for line in result.lines],
        list(result.reason_codes),
        repr(result.cap_left),
        result.rules_version,
        repr(result.benefit_ratio),
        (result.group, result.condition_code, result.ends_cover),
    )


def refused_for(error: ValueError) -> str:
    """What an assessment that cannot be stored is refused for, in either engine's words."""
    said = str(error)
    if "implausibly large" in said:
        return "an amount of a trillion yuan or more"
    if "rules_version" in said:
        return "a rules version longer than 200 characters"
    return said


def check(
    terms: PlanTerms,
    cover: EnrollmentCover | None,
    facts: Any,
    usage: Usage,
    filed_on: date,
    rules_version: str,
) -> None:
    def engine() -> Any:
        return assess(terms, cover, facts, usage, filed_on=filed_on, rules_version=rules_version)

    def reference() -> Any:
        return reference_assess(
            terms, cover, facts, usage, filed_on=filed_on, rules_version=rules_version
        )

    expected = answer(reference, lambda result: result.model_dump(mode="json"))
    assert answer(engine, lambda result: result.json()) == expected


@SETTINGS
@given(hospital_terms(), optional_covers, hospital_facts(), usages(), filing_dates)
def test_hospital_assessments_equal_the_reference(
    terms: PlanTerms,
    cover: EnrollmentCover | None,
    facts: HospitalFacts,
    usage: Usage,
    filed_on: date,
) -> None:
    check(terms, cover, facts, usage, filed_on, "v1")


@SETTINGS
@given(fixed_terms(), optional_covers, fixed_facts(), usages(), filing_dates, rule_versions)
def test_fixed_assessments_equal_the_reference(
    terms: PlanTerms,
    cover: EnrollmentCover | None,
    facts: FixedFacts,
    usage: Usage,
    filed_on: date,
    rules_version: str,
) -> None:
    check(terms, cover, facts, usage, filed_on, rules_version)


@SETTINGS
@given(daily_terms(), optional_covers, daily_facts(), usages(), filing_dates)
def test_daily_assessments_equal_the_reference(
    terms: PlanTerms,
    cover: EnrollmentCover | None,
    facts: DailyFacts,
    usage: Usage,
    filed_on: date,
) -> None:
    check(terms, cover, facts, usage, filed_on, "v1")


def test_the_bench_cases_equal_the_reference() -> None:
    """The bench's own mix (bench/engine.py), case by case."""
    import random

    from bench.engine import cases

    filed_on = date(2024, 1, 15)
    for terms, cover, facts, usage in cases(3000, random.Random(7)):
        check(terms, cover, facts, usage, filed_on, "bench")


@SETTINGS
@given(
    st.one_of(
        st.tuples(hospital_terms(), fixed_facts()),
        st.tuples(fixed_terms(), daily_facts()),
        st.tuples(daily_terms(), hospital_facts()),
    ),
    covers(),
    usages(),
)
def test_facts_of_another_kind_are_refused_alike(
    case: tuple[PlanTerms, Any], cover: EnrollmentCover, usage: Usage
) -> None:
    terms, facts = case
    check(terms, cover, facts, usage, START, "v1")


# A few plans for a whole run: claim after claim under the same rules objects.
def plan(kind: str, benefit: dict[str, Any], **terms: Any) -> PlanTerms:
    return PlanTerms.model_validate(plan_document(kind, benefit, **terms))


BANDS = [{"above": "0", "ratio": "0.5"}, {"above": "5000", "ratio": "0.6"}]
SHARED_PLANS = {
    "hospital": [
        plan(
            "hospital_reimbursement",
            {"threshold": "1000", "bands": BANDS, "per_stay_cap_per_share": "10000"}
            | {"term_cap_per_share": "20000"},
        ),
        plan(
            "hospital_reimbursement",
            {"base": "total_in_policy", "deductible": "800.50", "band_mode": "whole"}
            | {"bands": BANDS, "per_stay_cap_per_share": "9000", "term_cap_per_share": "30000"}
            | {"max_claims_per_term": 2},
            reduced_ratio="0.75",
        ),
    ],
    "fixed": [
        plan(
            "fixed_benefit",
            {"conditions": [condition("A", ["C50"], D("10000"), "g1")], "fixed_extra": "2000"}
            | {"ends_cover_after_payout": True},
        ),
        plan(
            "fixed_benefit",
            {"conditions": [condition("B", ["C50.9", "D05"], D("7000.5"), "g2")]}
            | {"term_cap_per_share": "9000"},
            reduced_ratio="0.5",
        ),
    ],
    "daily": [
        plan(
            "daily_allowance",
            {"amount_per_day_per_share": "50", "from_day": 4, "max_days_per_stay": 30}
            | {"term_cap_per_share": "3000"},
        ),
        plan(
            "daily_allowance",
            {"amount_per_day_per_share": "80.25", "max_days_per_stay": 10}
            | {"term_cap_per_share": "1000"},
            reduced_ratio="0.333333",
        ),
    ],
}


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.tuples(st.sampled_from(SHARED_PLANS["hospital"]), hospital_facts()),
        st.tuples(st.sampled_from(SHARED_PLANS["fixed"]), fixed_facts()),
        st.tuples(st.sampled_from(SHARED_PLANS["daily"]), daily_facts()),
    ),
    optional_covers,
    usages(),
    filing_dates,
)
def test_claims_under_the_same_plans_equal_the_reference(
    case: tuple[PlanTerms, Any], cover: EnrollmentCover | None, usage: Usage, filed_on: date
) -> None:
    terms, facts = case
    check(terms, cover, facts, usage, filed_on, "v1")
