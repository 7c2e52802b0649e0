"""The claims payout engine: a pure function from plan terms, cover, facts and usage to an
explained assessment (DOMAIN.md, "Benefit rules by kind" and "Claims")."""

from .assess import assess, assess_snapshot, snapshot_of
from .assessment import REASON_CODES, Assessment, AssessmentLine, LineCategory, ReasonCode
from .facts import (
    ClaimFacts,
    DailyFacts,
    FixedFacts,
    HospitalFacts,
    Usage,
    facts_model_for,
)
from .fixed import match_condition
from .hospital import progressive, whole
from .periods import PeriodDecision, claim_deadline, period_ratio

__all__ = [
    "REASON_CODES",
    "Assessment",
    "AssessmentLine",
    "ClaimFacts",
    "DailyFacts",
    "FixedFacts",
    "HospitalFacts",
    "LineCategory",
    "PeriodDecision",
    "ReasonCode",
    "Usage",
    "assess",
    "assess_snapshot",
    "claim_deadline",
    "facts_model_for",
    "match_condition",
    "period_ratio",
    "progressive",
    "snapshot_of",
    "whole",
]
