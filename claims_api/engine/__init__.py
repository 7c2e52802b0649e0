"""The claims payout engine: a pure function from plan terms, cover, facts and usage to an
explained assessment (DOMAIN.md, "Benefit rules by kind" and "Claims").

One module a step: `dispatch` (the checks every kind shares, then the kind's rules, then the
verdict), `cover_periods` (cover, waiting and reduced periods, deadlines), one module per plan
kind (`hospital`, `fixed`, `daily`), `assessment` (what it answers), `facts` (what it is
given, validated where it crosses the API).
"""

from .assessment import REASON_CODES, Assessment, AssessmentLine, LineCategory, ReasonCode
from .cover_periods import claim_deadline
from .dispatch import assess, assess_snapshot, snapshot_of
from .facts import (
    ClaimFacts,
    DailyFacts,
    FixedFacts,
    HospitalFacts,
    Usage,
    facts_model_for,
)
from .fixed import match_condition

__all__ = [
    "REASON_CODES",
    "Assessment",
    "AssessmentLine",
    "ClaimFacts",
    "DailyFacts",
    "FixedFacts",
    "HospitalFacts",
    "LineCategory",
    "ReasonCode",
    "Usage",
    "assess",
    "assess_snapshot",
    "claim_deadline",
    "facts_model_for",
    "match_condition",
    "snapshot_of",
]
