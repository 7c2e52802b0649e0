"""From a claim's facts to its assessment: the engine plus the checks that need the database
(duplicate invoices, overlapping stays), merged into one answer."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.claims import repository
from claims_api.claims.schemas import AssessmentRead
from claims_api.engine import (
    REASON_CODES,
    Assessment,
    ClaimFacts,
    Usage,
    assess,
    facts_model_for,
)
from services.kit.dates import SchemeDate
from services.kit.errors import Problem
from services.kit.money import MAX_YUAN
from services.kit.plan_rules import EnrollmentCover, PlanTerms

PAYMENT_REASON_CODES = ("contribution_unpaid",)
"""Decided here, before the engine (whose frozen reference knows nothing of payment), from
the plan's terms and the cover as snapshotted: a replay of the claim decides the same."""
DB_REASON_CODES = ("duplicate_invoice", "overlapping_stay")
_WAITING = REASON_CODES.index("waiting_period")
ALL_REASON_CODES = (
    *REASON_CODES[:_WAITING],
    *PAYMENT_REASON_CODES,
    *REASON_CODES[_WAITING:],
    *DB_REASON_CODES,
)
"""Every reason a claim is refused for, in the order they are reported: a cover that has not
started for want of payment before the waiting period counted from that payment."""


class InvalidFacts(Problem):
    status, title, type_slug = 422, "Invalid claim facts", "validation"


def parse_facts(kind: str, raw: dict[str, Any], where: str = "facts") -> ClaimFacts:
    try:
        return facts_model_for(kind).model_validate(raw)  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = [
            {"loc": [where, *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        first = errors[0]
        raise InvalidFacts(
            f"{'.'.join(map(str, first['loc']))}: {first['msg']}", errors=errors
        ) from None


_EVENT_DATE = TypeAdapter(SchemeDate)


def event_date_of(raw: dict[str, Any], where: str = "facts") -> date:
    """The event date (admission or diagnosis) before the plan's kind is known."""
    for name in ("admitted_on", "diagnosed_on"):
        if name in raw:
            try:
                return _EVENT_DATE.validate_python(str(raw[name]))
            except ValidationError as exc:
                message = exc.errors()[0]["msg"]
                raise InvalidFacts(
                    f"{where}.{name}: {message}",
                    errors=[{"loc": [where, name], "msg": message}],
                ) from None
    raise InvalidFacts(
        f"{where}: needs admitted_on (a stay) or diagnosed_on (a diagnosis)",
        errors=[{"loc": [where, "admitted_on"], "msg": "field required"}],
    )


def invoices_of(facts: ClaimFacts) -> list[str]:
    return list(getattr(facts, "invoice_numbers", []) or [])


_READ_FIELDS = tuple(name for name in AssessmentRead.model_fields if name != "usage")
"""AssessmentRead's fields in its order, but the last (usage), as its JSON has them."""


@lru_cache(maxsize=4096)  # by value: most claims of an import share their usage
def _usage_of(usage: Usage) -> dict[str, Any]:
    return usage.model_dump(mode="json")


def _usage_json(usage: Usage) -> dict[str, Any]:
    # Equal sets of paid groups may list in different orders: those are not shared.
    return _usage_of(usage) if not usage.groups_paid else usage.model_dump(mode="json")


@dataclass
class Decided:
    """Not changed once made (its reasons are read many times, and kept once worked out)."""

    assessment: Assessment
    extra_reasons: list[tuple[str, str]]
    usage: Usage

    @cached_property
    def reason_codes(self) -> list[str]:
        codes = list(self.assessment.reason_codes) + [code for code, _ in self.extra_reasons]
        return sorted(set(codes), key=ALL_REASON_CODES.index)

    @property
    def refused(self) -> bool:
        return bool(self.reason_codes)

    @property
    def payable(self) -> Decimal:
        return Decimal("0.00") if self.refused else self.assessment.payable

    def _folded(self) -> dict[str, Any]:
        """The engine's answer with the database's refusals folded into it, as JSON values."""
        data = self.assessment.json()
        data["reason_codes"] = list(self.reason_codes)
        if self.extra_reasons:
            why = "; ".join(f"{code} ({text})" for code, text in self.extra_reasons)
            benefit = data["lines"][-1]
            if self.assessment.refused:
                benefit["text"] = f"{benefit['text']}; {why}"
            else:
                benefit["text"] = f"not payable: {why}"
                if self.assessment.cap_left is not None:
                    data["cap_left"] = str(self.assessment.cap_left + self.assessment.payable)
            benefit["amount"] = "0.00"
            data.update(payable="0.00", ends_cover=False)
        return data

    def read(self) -> AssessmentRead:
        """The engine's answer with the database's refusals folded into it."""
        data = self._folded()
        data["usage"] = self.usage.model_dump(mode="json")
        return AssessmentRead.model_validate(data)

    def read_json(self) -> str:
        """`read().model_dump_json()`, the same text, made without validating again what the
        engine made and checked (the validation was a tenth of a settlement import's time)."""
        data = self._folded()
        cap_left = data["cap_left"] if self.extra_reasons else None
        if cap_left is not None and Decimal(cap_left) >= MAX_YUAN:  # read() refuses it
            return self.read().model_dump_json()
        ordered = {name: data[name] for name in _READ_FIELDS}
        ordered["usage"] = _usage_json(self.usage)
        return to_json(ordered).decode()


def payment_reason(
    terms: PlanTerms, cover: EnrollmentCover | None, event_date: date
) -> tuple[str, str] | None:
    """`contribution_unpaid` (DOMAIN.md, "Contributions"): under `cover_requires_payment`, an
    event in the enrolment's cover but before the day its contribution was paid in full."""
    if not terms.cover_requires_payment or cover is None:
        return None
    if not cover.starts_on <= event_date <= cover.ends_on:
        return None  # not_enrolled, the engine's
    if cover.covered_from is None:
        return (
            "contribution_unpaid",
            f"the enrolment's contribution is not paid in full: the plan covers an enrolment "
            f"from the day it is paid, so the event on {event_date} is not covered",
        )
    if event_date < cover.covered_from:
        return (
            "contribution_unpaid",
            f"the contribution was paid in full on {cover.covered_from}, when the cover "
            f"started: the event on {event_date} is before it",
        )
    return None


async def decide(
    session: AsyncSession,
    *,
    terms: PlanTerms,
    cover: EnrollmentCover | None,
    facts: ClaimFacts,
    member_id: str,
    plan_code: str,
    filed_on: date,
    rules_version: str,
    claim_id: str | None = None,
) -> Decided:
    prior = await repository.prior_claims(
        session,
        enrollment_id=cover.enrollment_id if cover else None,
        member_id=member_id,
        plan_code=plan_code,
        invoices=invoices_of(facts),
        stay=None if terms.kind == "fixed_benefit" else (facts.event_date, facts.end_date),
        excluding_claim=claim_id,
    )
    usage = prior.usage
    assessment = assess(terms, cover, facts, usage, filed_on=filed_on, rules_version=rules_version)
    extra: list[tuple[str, str]] = []
    unpaid = payment_reason(terms, cover, facts.event_date)
    if unpaid is not None:
        extra.append(unpaid)
    if prior.duplicate_invoices:
        duplicates = ", ".join(prior.duplicate_invoices)
        extra.append(("duplicate_invoice", f"invoice {duplicates} is already in a live claim"))
    if prior.overlapping_claim:
        other = prior.overlapping_claim
        extra.append(("overlapping_stay", f"the stay overlaps claim {other} under this plan"))
    return Decided(assessment, extra, usage)
