"""Each row of a settlement file decided as the single claim would be (claims_api.claims:
`decide`, the engine's `assess`, `payment_reason`, auto-approval), in memory, from what the
stored claims say, read in bulk before (claims_api.settlement.reading).

The rows of one member are decided in order of admission (入院日期, then the file's line), each
seeing the ones before it as if they had been filed one after the other: an approved row uses
the enrolment's cap for the next, a stored (not rejected) row's stay is overlapped by a later
one. Pure: no I/O, no clock (it runs in a worker thread)."""

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from claims_api.claims.assessing import Decided, payment_reason
from claims_api.claims.service import auto_approves
from claims_api.coverage_answers import Coverage
from claims_api.engine import Usage, assess, facts_model_for
from claims_api.settlement.parsing import MONEY_FIELDS, SettlementRow

ZERO = Decimal("0.00")
Outcome = str  # filed | already_filed | not_enrolled | name_mismatch | error


@dataclass
class Stored:
    """What the stored claims say about the file's members and settlement numbers."""

    usage: dict[str, Usage]
    """By enrolment: what its approved and paid claims took."""
    filed_numbers: dict[str, str]
    """Settlement and invoice numbers already on a claim under the plan, with that claim."""
    stays: dict[str, list[tuple[str, date, date]]]
    """By member: the live claims' (id, first day, last day) under the plan."""


@dataclass(slots=True)
class RowResult:
    row: int
    outcome: Outcome
    settlement_number: str | None = None
    member_id: str | None = None
    claim_id: str | None = None
    status: str | None = None
    payable: Decimal | None = None
    reason_codes: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    detail: str | None = None


@dataclass
class Decision:
    """A row to store: the claim's facts, cover and assessment, and its place in the file."""

    row: SettlementRow
    coverage: Coverage
    facts: Any
    decided: Decided
    status: str
    claim_id: str


def names_match(in_file: str, registered: str | None) -> bool:
    """Compared without spaces, fullwidth forms folded (张 三 is 张三; Ａ is A)."""
    if registered is None:
        return False

    def folded(name: str) -> str:
        return "".join(unicodedata.normalize("NFKC", name).split()).casefold()

    return folded(in_file) == folded(registered)


def facts_for(kind: str, facts: dict[str, Any]) -> Any:
    """A hospital claim's facts take the whole row; a daily allowance's, the stay only."""
    values = dict(facts)
    if kind != "hospital_reimbursement":
        for name in MONEY_FIELDS:
            values.pop(name, None)
    return facts_model_for(kind).model_validate(values)  # type: ignore[arg-type]


def screen(
    rows: list[SettlementRow], found: dict[int, Any], filed_numbers: dict[str, str]
) -> tuple[list[RowResult | None], list[tuple[SettlementRow, Coverage]]]:
    """The outcomes decided without the engine, by row (None: to be decided), and the rows to
    decide with their coverage. `found`: the registry's answer by line."""
    outcomes: list[RowResult | None] = []
    candidates = []
    first_line: dict[str, int] = {}
    for row in rows:
        number = row.settlement_number
        # A number is one stay: a later row with it is an error whatever the first row's
        # outcome (already_filed is a claim stored before this file, not an earlier row).
        if number is not None and number in first_line:
            said = f"{number} is on row {first_line[number]} of this file already"
            detail = f"结算单号 {said}"
            errors = [*row.errors, {"loc": ["settlement_number"], "msg": f"结算单号: {said}"}]
            outcomes.append(RowResult(row.line, "error", number, errors=errors, detail=detail))
            continue
        if number is not None:
            first_line[number] = row.line
        if row.errors:
            outcomes.append(RowResult(row.line, "error", number, errors=row.errors))
            continue
        assert number is not None
        if number in filed_numbers:
            claim_id = filed_numbers[number]
            detail = f"结算单号 {number} is on claim {claim_id} under this plan already"
            result = RowResult(row.line, "already_filed", number, claim_id=claim_id, detail=detail)
            outcomes.append(result)
            continue
        answer = found.get(row.line)
        coverage = answer.coverage if answer is not None and answer.found else None
        if coverage is None:
            detail = "no member with this identity number in the registry"
            outcomes.append(RowResult(row.line, "not_enrolled", number, detail=detail))
            continue
        member_id = coverage.member.id
        assert row.name is not None
        if not names_match(row.name, answer.member_name):
            detail = "姓名 is not the name the registry holds for this identity number"
            outcomes.append(RowResult(row.line, "name_mismatch", number, member_id, detail=detail))
            continue
        if coverage.cover is None:
            detail = f"no enrolment in the plan covers {row.admitted_on}"
            outcomes.append(RowResult(row.line, "not_enrolled", number, member_id, detail=detail))
            continue
        outcomes.append(None)
        candidates.append((row, coverage))
    return outcomes, candidates


class Assessor:
    """The engine over the candidates, member by member, in order of admission."""

    def __init__(self, stored: Stored, filed_on: date) -> None:
        self.usage = dict(stored.usage)
        self.stays = defaultdict(list, {k: list(v) for k, v in stored.stays.items()})
        self.filed_on = filed_on

    @staticmethod
    def order(candidates: list[tuple[SettlementRow, Coverage]]) -> list[int]:
        """The candidates' indexes in the order they are decided: by member, then admission,
        then the file's line."""
        return sorted(
            range(len(candidates)),
            key=lambda i: (
                candidates[i][1].member.id,
                candidates[i][0].admitted_on,
                candidates[i][0].line,
            ),
        )

    def decide(self, row: SettlementRow, coverage: Coverage, claim_id: str) -> Any:
        """A Decision, or a RowResult for a row whose facts the plan's kind refuses; the rows
        of a member in `order`."""
        plan, cover = coverage.plan, coverage.cover
        assert cover is not None
        try:
            facts = facts_for(plan.kind, row.facts)
        except ValidationError as exc:
            errors = [
                {"loc": [str(p) for p in error["loc"]], "msg": error["msg"]}
                for error in exc.errors()
            ]
            return RowResult(row.line, "error", row.settlement_number, errors=errors)
        usage = self.usage.get(cover.enrollment_id, Usage())
        assessment = assess(
            plan.terms,
            cover,
            facts,
            usage,
            filed_on=self.filed_on,
            rules_version=plan.rules_version,
        )
        extra: list[tuple[str, str]] = []
        unpaid = payment_reason(plan.terms, cover, facts.event_date)
        if unpaid is not None:
            extra.append(unpaid)
        member_stays = self.stays[cover.member_id]
        overlapping = sorted(
            other
            for other, start, end in member_stays
            if start <= facts.end_date and end >= facts.event_date
        )
        if overlapping:
            extra.append(
                ("overlapping_stay", f"the stay overlaps claim {overlapping[0]} under this plan")
            )
        decided = Decided(assessment, extra, usage)
        if decided.refused:
            status = "rejected"
        elif auto_approves(plan.terms, decided.payable):
            status = "approved"
        else:
            status = "pending_review"
        if status != "rejected":
            member_stays.append((claim_id, facts.event_date, facts.end_date))
        if status == "approved":
            groups = usage.groups_paid | ({assessment.group} if assessment.group else set())
            self.usage[cover.enrollment_id] = Usage(
                used=usage.used + decided.payable,
                claims_count=usage.claims_count + 1,
                groups_paid=frozenset(groups),
                cover_ended=usage.cover_ended or assessment.ends_cover,
            )
        return Decision(row, coverage, facts, decided, status, claim_id)
