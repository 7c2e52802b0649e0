"""Plan bodies as `POST /api/v1/plans` takes them, one builder for the demo year
(services.stack.demo) and the tests (tests/support.py): the three kinds of benefit with the
figures of the federation's schemes (a medical reimbursement in two bands, a women's fixed
benefit for two cancers, a daily allowance), changed only where a caller says so."""

import copy
from typing import Any

BENEFITS: dict[str, dict[str, Any]] = {
    "hospital_reimbursement": {
        "kind": "hospital_reimbursement",
        "threshold": "1000",
        "bands": [{"above": "0", "ratio": "0.5"}, {"above": "5000", "ratio": "0.6"}],
        "band_mode": "progressive",
        "per_stay_cap_per_share": "10000",
        "term_cap_per_share": "20000",
    },
    "fixed_benefit": {
        "kind": "fixed_benefit",
        "conditions": [
            {
                "code": "BREAST_CA",
                "name": "乳腺癌",
                "icd10": ["C50"],
                "amount_per_share": "10000",
                "group": "malignant",
            },
            {
                "code": "CERVIX_CA",
                "name": "宫颈癌",
                "icd10": ["C53"],
                "amount_per_share": "10000",
                "group": "malignant",
            },
        ],
        "fixed_extra": "2000",
    },
    "daily_allowance": {
        "kind": "daily_allowance",
        "amount_per_day_per_share": "50",
        "from_day": 4,
        "max_days_per_stay": 30,
        "term_cap_per_share": "3000",
    },
}
# Who a women's plan covers; the other kinds cover every worker the plan's ages allow.
WOMEN_ELIGIBILITY = {"sex": "F", "min_age": 16, "max_age": 60}


def benefit(kind: str, **changes: Any) -> dict[str, Any]:
    """The benefit of `kind`, with `changes` to its top-level keys (a fresh copy each call)."""
    return {**copy.deepcopy(BENEFITS[kind]), **changes}


def plan_body(
    code: str,
    kind: str = "hospital_reimbursement",
    *,
    coverage_start: str,
    coverage_end: str,
    enrol_from: str,
    enrol_until: str,
    **overrides: Any,
) -> dict[str, Any]:
    """A plan `code` (its line is the code before the last "-") of `kind` with its dates;
    `overrides` replace top-level keys (`benefit=benefit(kind, ...)` to change the benefit)."""
    body: dict[str, Any] = {
        "code": code,
        "line": code.rsplit("-", 1)[0],
        "name": f"Plan {code}",
        "kind": kind,
        "coverage_start": coverage_start,
        "coverage_end": coverage_end,
        "enrol_from": enrol_from,
        "enrol_until": enrol_until,
        "contribution_per_share": "36.00",
        "max_shares": 3,
        "benefit": benefit(kind),
    }
    if kind == "fixed_benefit":
        body["eligibility"] = dict(WOMEN_ELIGIBILITY)
    body.update(overrides)
    return body
