"""The pure half of the batch enrolment: each row's fields checked, then each row decided
with the rules of the single enrolment (members_api.enrollments.rules), given what the
database already holds. No I/O, no clock: members_api.enrollments.batch does those.

A row is `ok` (a member and an enrolment to create, or `already_enrolled`) or `error` with
every error it has: its bad fields, an identity number repeated in the upload, and each
refusal of a rule that can still be judged (sex and age need only a valid identity number,
max_shares needs valid shares too)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from members_api.bulk import Duplicates, RowErrors, check_row, row_error
from members_api.contributions.ledger import Part, Pool, fen, paid_by, yuan
from members_api.enrollments import periods, rules
from members_api.enrollments.schemas import EnrollmentBatchRow, Shares
from members_api.members.schemas import NationalId
from members_api.payout_accounts.bulk import PARTIAL as CARD_PARTIAL
from members_api.payout_accounts.bulk import BatchAccounts, Card, row_card
from services.kit.auth import Principal, Role
from services.kit.identity import birth_date_of, sex_of
from services.kit.ids import new_ids
from services.kit.plan_rules import PlanTerms

ZERO = Decimal("0.00")
_PARTIAL = {
    "national_id": TypeAdapter(NationalId),
    "shares": TypeAdapter(Shares),
    **CARD_PARTIAL,
}

MEMBER_COLUMNS = (
    "id",
    "national_id",
    "name",
    "sex",
    "birth_date",
    "phone",
    "unit_id",
    "status",
    "created_at",
    "updated_at",
)
ENROLLMENT_COLUMNS = (
    "id",
    "member_id",
    "plan_code",
    "unit_id",
    "shares",
    "enrolled_on",
    "starts_on",
    "ends_on",
    "waiting_ends_on",
    "reduced_ends_on",
    "renewal",
    "contribution_due",
    "contribution_paid",
    "paid_on",
    "status",
    "created_at",
)


@dataclass(frozen=True)
class BatchTarget:
    """What every row of a batch shares: checked once, before any row."""

    unit_id: str
    plan_code: str
    plan_line: str
    terms: PlanTerms
    enrolled_on: date
    starts_on: date
    starts_on_set: bool


@dataclass(slots=True)
class BatchRow:
    """A row after its fields are checked: None where a field is bad (`errors` says why)."""

    row: int
    national_id: str | None
    shares: int | None
    name: str | None = None
    phone: str | None = None
    errors: RowErrors = field(default_factory=list)
    duplicate: bool = False
    card: Card | None = None
    """The payout account's card (members_api.payout_accounts.bulk), if the row has one."""


@dataclass(frozen=True, slots=True)
class KnownMember:
    id: str
    unit_id: str
    status: str
    left_on: date | None
    sex: str
    birth_date: date
    name: str = ""


@dataclass(frozen=True, slots=True)
class Holding:
    """An active enrolment of a known member in the batch's plan (any unit)."""

    id: str
    member_id: str
    unit_id: str
    shares: int
    created_at: datetime


@dataclass
class Known:
    """What the database holds about the batch's identity numbers."""

    members: dict[str, KnownMember]
    holdings: dict[str, list[Holding]]
    previous_ends: dict[str, list[date]]


@dataclass
class Planned:
    """One part's decisions: the rows to insert (in the order of the *_COLUMNS)."""

    new_members: list[tuple[Any, ...]] = field(default_factory=list)
    new_enrollments: list[tuple[Any, ...]] = field(default_factory=list)
    new_allocations: list[tuple[Any, ...]] = field(default_factory=list)
    """In members_api.contributions.ledger.ALLOCATION_COLUMNS order: the enrolments paid from
    two payments' credit (a payment's credit ran out on them)."""
    paid_from: list[list[str]] = field(default_factory=list)
    """[payment id, first enrolment id, last enrolment id]: the part's enrolments in that id
    range with a contribution_paid took all of it from that one payment; their allocation
    rows are made from them in the database (batch._Writer)."""


def allocation_id_of(enrollment_id: str, part: int | None = None) -> str:
    """A batch's allocation ids come from its enrolments' (`cal_` and the same digits; a
    part's number after them when two payments paid one), so that they sort as the
    enrolments do: oldest first. The database makes the one-part ones the same way
    (batch._allocations_from)."""
    digits = enrollment_id.split("_", 1)[1]
    return f"cal_{digits}" if part is None else f"cal_{digits}{part:x}"


class RowChecker:
    """Checks the rows' fields, part by part, remembering the identity numbers seen."""

    def __init__(self) -> None:
        self.duplicates = Duplicates()

    def check(self, raw_rows: Iterable[tuple[int, Mapping[str, Any]]]) -> list[BatchRow]:
        rows = []
        for number, raw in raw_rows:
            valid, good, errors = check_row(EnrollmentBatchRow, raw, _PARTIAL)
            if valid is not None:
                row = BatchRow(number, valid.national_id, valid.shares, valid.name, valid.phone)
                card, card_errors = row_card(raw, valid.account_number, valid.bank_name)
            else:
                row = BatchRow(number, good.get("national_id"), good.get("shares"), errors=errors)
                card, card_errors = row_card(raw, good.get("account_number"), good.get("bank_name"))
            row.card = card
            row.errors.extend(card_errors)
            if (repeated := self.duplicates.error(number, row.national_id)) is not None:
                row.errors.insert(0, repeated)
                row.duplicate = True
            rows.append(row)
        return rows


class Planner:
    """Decides each row: its result (kept in row order in `results`) and what to insert."""

    def __init__(
        self,
        principal: Principal,
        target: BatchTarget,
        known: Known,
        at: datetime,
        credit: Pool | None = None,
        accounts: BatchAccounts | None = None,
    ) -> None:
        self.principal, self.target, self.known, self.at = principal, target, known, at
        self.accounts = accounts or BatchAccounts({}, at, principal.sub)
        terms = target.terms
        self.first_time = periods.periods(terms, target.starts_on, renewal=False)
        self.renewed = periods.periods(terms, target.starts_on, renewal=True)
        self.contribution = {s: periods.contribution_due(terms, s) for s in range(1, 101)}
        self.contribution_fen = {s: fen(due) for s, due in self.contribution.items()}
        self.credit = credit or Pool()
        self.results: list[dict[str, Any]] = []
        self.ok = self.created_members = self.enrolled = self.already_enrolled = 0
        self.paid_in_full = self.allocated = 0
        self.part = Planned()
        self._last_enrollment_id = ""

    def plan(self, rows: list[BatchRow]) -> Planned:
        self.part = Planned()
        self.member_ids = iter(new_ids("mbr", len(rows)))
        self.enrollment_ids = iter(self._enrollment_ids(len(rows)))
        self._allocations: list[tuple[str, str, str, int]] = []
        self._paid_from: list[str] | None = None
        for row in rows:
            self._row(row)
        if self._allocations:
            at = self.at
            self.part.new_allocations = [
                (allocation_id, lot, enrollment_id, yuan(amount), at)
                for allocation_id, lot, enrollment_id, amount in self._allocations
            ]
        return self.part

    def _enrollment_ids(self, count: int) -> list[str]:
        """Ascending across parts too: the batch's enrolments share one created_at, so their
        ids order them (oldest first is the order credit pays them in). Two parts made within
        the same millisecond wait for the next one."""
        ids = new_ids("enr", count)
        while ids and ids[0] <= self._last_enrollment_id:
            ids = new_ids("enr", count)
        if ids:
            self._last_enrollment_id = ids[-1]
        return ids

    def totals(self) -> dict[str, int]:
        return {
            "rows": len(self.results),
            "ok": self.ok,
            "failed": len(self.results) - self.ok,
            "created_members": self.created_members,
            "enrolled": self.enrolled,
            "already_enrolled": self.already_enrolled,
        }

    def contributions(self) -> dict[str, Any]:
        """What the unit's credit paid: new enrolments paid in full, the amount, what is left."""
        return {
            "paid_in_full": self.paid_in_full,
            "allocated": str(yuan(self.allocated)),
            "credit": str(yuan(self.credit.fen)),
        }

    def _row(self, row: BatchRow) -> None:
        errors = list(row.errors)
        number = row.national_id
        if number is None or row.duplicate:
            self._error(row, errors)
            return
        member = self.known.members.get(number)
        if member is not None and self._other_unit(member):
            errors.append(
                row_error(
                    "national_id",
                    "this worker is registered to another unit: that unit enrols them",
                    "member_in_other_unit",
                )
            )
            self._error(row, errors)
            return
        holdings = self.known.holdings.get(member.id, []) if member else []
        if holdings and row.shares is not None:
            here = [h for h in holdings if h.unit_id == self.target.unit_id]
            if here and sum(h.shares for h in here) == row.shares:
                # Sent before: the enrolment stands; only the row's own bad fields are errors.
                if errors:
                    self._error(row, errors)
                    return
                first = min(here, key=lambda h: (h.created_at, h.id))
                self.already_enrolled += 1
                self._ok(row, first.member_id, first.id, created=False, already=True)
                return
            if here:
                errors.append(self._other_shares(here))
        if member is None:
            sex, birth_date = sex_of(number), birth_date_of(number)
            found: list[rules.Refusal | None] = []
        else:
            sex, birth_date = member.sex, member.birth_date
            found = [rules.member_left("the member", member.status, member.left_on)]
        found.extend(rules.ineligible(sex, birth_date, self.target.terms, self.target.starts_on))
        if row.shares is not None:
            held = sum(h.shares for h in holdings)
            found.append(rules.too_many_shares(self.target.terms, held, row.shares))
        errors.extend(row_error(r.field, r.detail, r.code) for r in found if r is not None)
        if errors:
            self._error(row, errors)
        elif member is None:
            self._enrol_new(row, sex, birth_date)
        else:
            self._enrol_known(row, member)

    def _other_unit(self, member: KnownMember) -> bool:
        return self.principal.role == Role.hr and member.unit_id != self.principal.unit_id

    def _other_shares(self, here: list[Holding]) -> dict[str, Any]:
        held = sum(h.shares for h in here)
        return row_error(
            "shares",
            f"already enrolled in this plan through this unit with {held} share(s); cancel "
            "that enrolment to change the shares",
            "enrolled_with_other_shares",
        )

    def _enrol_new(self, row: BatchRow, sex: str, birth_date: date) -> None:
        member_id = next(self.member_ids)
        at, unit_id = self.at, self.target.unit_id
        member = (member_id, row.national_id, row.name, sex, birth_date, row.phone, unit_id)
        self.part.new_members.append((*member, "active", at, at))
        self.created_members += 1
        self._enrol(row, member_id, self.first_time, created=True)

    def _enrol_known(self, row: BatchRow, member: KnownMember) -> None:
        previous = self.known.previous_ends.get(member.id)
        grace = self.target.terms.renewal_grace_days
        renewal = previous is not None and periods.is_renewal(
            self.target.starts_on, previous, grace
        )
        self._enrol(row, member.id, self.renewed if renewal else self.first_time, created=False)

    def _enrol(
        self, row: BatchRow, member_id: str, dates: periods.Periods, *, created: bool
    ) -> None:
        assert row.shares is not None
        target, enrollment_id = self.target, next(self.enrollment_ids)
        due = self.contribution_fen[row.shares]
        paid_yuan, paid_on = ZERO, None
        if due == 0:
            paid_on = target.enrolled_on
        elif self.credit.fen:
            lot = self.credit.take_whole(due)
            if lot is not None:  # the usual case: one payment pays it all (no Part made)
                self._paid_from_lot(lot.contribution_id, enrollment_id)
                self.allocated += due
                paid_yuan, paid_on = self.contribution[row.shares], lot.paid_on
            else:
                parts = self.credit.take(due)
                paid = sum(part.fen for part in parts)
                self._allocate(enrollment_id, parts)
                self.allocated += paid
                paid_yuan, paid_on = yuan(paid), paid_by(parts, paid, due)
        if paid_on is not None:
            self.paid_in_full += 1
        self.part.new_enrollments.append(
            (
                enrollment_id,
                member_id,
                target.plan_code,
                target.unit_id,
                row.shares,
                target.enrolled_on,
                dates.starts_on,
                dates.ends_on,
                dates.waiting_ends_on,
                dates.reduced_ends_on,
                dates.renewal,
                self.contribution[row.shares],
                paid_yuan,
                paid_on,
                "active",
                self.at,
            )
        )
        self.enrolled += 1
        self._ok(row, member_id, enrollment_id, created=created, already=False)

    def _paid_from_lot(self, lot: str, enrollment_id: str) -> None:
        if self._paid_from is not None and self._paid_from[0] == lot:
            self._paid_from[2] = enrollment_id
        else:
            self._paid_from = [lot, enrollment_id, enrollment_id]
            self.part.paid_from.append(self._paid_from)

    def _allocate(self, enrollment_id: str, parts: list[Part]) -> None:
        """Enrolments paid from one payment extend its id range (ids ascend); one paid from
        two gets explicit rows, and ends the range."""
        if len(parts) == 1:
            self._paid_from_lot(parts[0].contribution_id, enrollment_id)
            return
        self._paid_from = None
        for n, part in enumerate(parts):
            allocation_id = allocation_id_of(enrollment_id, n)
            self._allocations.append((allocation_id, part.contribution_id, enrollment_id, part.fen))

    def _ok(
        self, row: BatchRow, member_id: str, enrollment_id: str, *, created: bool, already: bool
    ) -> None:
        self.ok += 1
        if row.card is not None:
            member = self.known.members.get(row.national_id or "")
            name = member.name if member is not None else row.name
            assert name is not None
            self.accounts.plan(member_id, name, row.card, registered=member is not None)
        self.results.append(
            {
                "row": row.row,
                "status": "ok",
                "member_id": member_id,
                "enrollment_id": enrollment_id,
                "created_member": created,
                "already_enrolled": already,
            }
        )

    def _error(self, row: BatchRow, errors: RowErrors) -> None:
        self.results.append({"row": row.row, "status": "error", "errors": errors})
