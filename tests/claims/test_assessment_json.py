"""A claim's assessment as stored by a settlement import (Decided.read_json, made without
validating the engine's answer again) is the very text a single filing stores
(Decided.read().model_dump_json()), whatever the engine answered and the database added."""

from datetime import date
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from claims_api.claims.assessing import DB_REASON_CODES, PAYMENT_REASON_CODES, Decided
from claims_api.engine import Assessment, AssessmentLine, Usage, assess
from services.kit.plan_rules import EnrollmentCover, PlanTerms
from tests.claims.test_engine_equivalence import (
    daily_facts,
    daily_terms,
    filing_dates,
    fixed_facts,
    fixed_terms,
    hospital_facts,
    hospital_terms,
    optional_covers,
    usages,
)

sentences = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(["the stay overlaps claim clm_1 under this plan", '未缴清 "费用"\n'])
extra_reasons = st.lists(
    st.tuples(st.sampled_from([*PAYMENT_REASON_CODES, *DB_REASON_CODES]), sentences),
    max_size=3,
)


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("made", call())
    except ValueError as error:  # pydantic's ValidationError too
        return ("refused", type(error))


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.tuples(hospital_terms(), hospital_facts()),
        st.tuples(fixed_terms(), fixed_facts()),
        st.tuples(daily_terms(), daily_facts()),
    ),
    optional_covers,
    usages(),
    filing_dates,
    extra_reasons,
)
def test_the_imports_assessment_text_is_the_single_filings(
    case: tuple[PlanTerms, Any],
    cover: EnrollmentCover | None,
    usage: Usage,
    filed_on: date,
    extra: list[tuple[str, str]],
) -> None:
    terms, facts = case
    made = outcome(
        lambda: assess(terms, cover, facts, usage, filed_on=filed_on, rules_version="v1")
    )
    if made[0] == "refused":
        return
    decided = Decided(made[1], extra, usage)
    assert outcome(decided.read_json) == outcome(lambda: decided.read().model_dump_json())


def test_a_cap_left_past_what_a_claim_stores_is_refused_alike() -> None:
    """Not payable for the database's reason, the payout goes back to the cap left: past a
    trillion yuan neither way stores it."""
    benefit = AssessmentLine("benefit", "pays 0.6 trillion", D("600000000000.00"))
    assessment = Assessment(
        payable=D("600000000000.00"),
        lines=(benefit,),
        reason_codes=(),
        cap_left=D("900000000000.00"),
        rules_version="v1",
        benefit_ratio=D("1"),
    )
    decided = Decided(assessment, [("overlapping_stay", "overlaps clm_1")], Usage())
    assert outcome(decided.read_json) == ("refused", ValidationError)
    assert outcome(lambda: decided.read().model_dump_json()) == ("refused", ValidationError)
