"""The contributions ledger: payments allocated to enrolments, the rest each unit's credit.

- Each payment is a lot. What is left of it (its amount, plus its reversal's, minus the
  allocations of both) is the unit's credit for the plan, and `unit_plan_credit` holds the
  sum of those remainders. Every allocation row names the payment its money came from, so a
  reversal takes back exactly what its payment gave, wherever the money went.
- Money goes to the unit's unpaid active enrolments of the plan, oldest enrolment first
  (created_at, then id), and is drawn from the oldest lot first. An enrolment is paid when
  its contribution_paid reaches its contribution_due, with the paid_on of the lot whose money
  completed it. An enrolment owing nothing is paid on the day it is made.
- The lock: every change of one unit's money for one plan (payment, reversal, enrolment,
  bulk import, cancellation) first takes that unit's `unit_plan_credit` row (INSERT ... ON
  CONFLICT DO UPDATE ... RETURNING: the row is created if missing and row-locked, as by
  SELECT ... FOR UPDATE, in one round trip; SQLite's BEGIN IMMEDIATE serialises writers
  anyway), and only then reads or changes enrolments. Two payments for one unit and plan, or
  a payment and an import, queue: no yuan is given twice, and credit is never left beside an
  unpaid enrolment (every change that leaves credit gives it to the unpaid ones at once).

Amounts here are whole fen (int); the tables' Fen columns are yuan Decimals.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.bulk import CHUNK, BulkInsert, among, chunks
from members_api.models import Contribution, ContributionAllocation, Enrollment, UnitPlanCredit
from services.kit.clock import now
from services.kit.ids import new_ids
from services.kit.money import FEN, Fen

_credit = UnitPlanCredit.__table__  # type: ignore[attr-defined]
_contributions = Contribution.__table__  # type: ignore[attr-defined]
_allocations = ContributionAllocation.__table__  # type: ignore[attr-defined]
_enrollments = Enrollment.__table__  # type: ignore[attr-defined]
ALLOCATION_COLUMNS = ("id", "contribution_id", "enrollment_id", "amount", "at")
# Above this many rows, allocations are written by COPY on Postgres (members_api.bulk).
_COPY_FROM = 1_000


def fen(amount: Decimal) -> int:
    return int(amount * 100)


def yuan(amount: int) -> Decimal:
    return (Decimal(amount) / 100).quantize(FEN)


class LedgerOutOfBalance(RuntimeError):
    """The stored credit is not what the payments' remainders add up to: a bug, never a
    client's mistake (a 500, and nothing is written)."""


@dataclass(slots=True)
class Lot:
    contribution_id: str
    paid_on: date
    fen: int


@dataclass(frozen=True, slots=True)
class Part:
    """Money of one lot given to one enrolment."""

    contribution_id: str
    fen: int
    paid_on: date


class Pool:
    """The money allocation draws from, as lots, oldest first. Pure: the bulk import's
    planner (members_api.enrollments.batch_plan) draws from it in a worker thread."""

    def __init__(self, lots: Iterable[Lot] = ()) -> None:
        self.lots = [lot for lot in lots if lot.fen > 0]
        self.fen = sum(lot.fen for lot in self.lots)
        self._next = 0

    def take_whole(self, owed: int) -> Lot | None:
        """`owed` from the oldest lot if it holds that much (the lot, else nothing taken):
        the bulk import's fast path."""
        if self._next == len(self.lots) or self.lots[self._next].fen < owed:
            return None
        lot = self.lots[self._next]
        lot.fen -= owed
        self.fen -= owed
        if lot.fen == 0:
            self._next += 1
        return lot

    def take(self, owed: int) -> list[Part]:
        """Up to `owed` fen, oldest lot first (more than one part when a lot runs out)."""
        parts = []
        while owed > 0 and self._next < len(self.lots):
            lot = self.lots[self._next]
            amount = min(owed, lot.fen)
            lot.fen -= amount
            self.fen -= amount
            owed -= amount
            parts.append(Part(lot.contribution_id, amount, lot.paid_on))
            if lot.fen == 0:
                self._next += 1
        return parts


def paid_by(parts: Sequence[Part], paid: int, due: int) -> date | None:
    """The paid_on of an enrolment that has `paid` of `due` after `parts`: the last part's
    (the payment that completed it), or None while it still owes."""
    return parts[-1].paid_on if parts and paid == due else None


@dataclass(slots=True)
class Given:
    """One allocation row to write; `id` is given when it is written."""

    contribution_id: str
    enrollment_id: str
    fen: int
    id: str | None = None


@dataclass
class UnitLedger:
    """One unit's money for one plan, locked for the rest of the transaction."""

    session: AsyncSession
    unit_id: str
    plan_code: str
    credit: int
    """The unit's credit in fen, as it will be saved."""
    stored_credit: int
    at: datetime = field(default_factory=now)
    _pending: list[Given] = field(default_factory=list)
    _paid: dict[str, tuple[int, date | None]] = field(default_factory=dict)
    _last_id: str = ""

    @classmethod
    async def lock(cls, session: AsyncSession, unit_id: str, plan_code: str) -> "UnitLedger":
        """The unit's credit row, created if missing, locked until the transaction ends.
        The unit and the plan must exist (their foreign keys)."""
        dialect = (await session.connection()).dialect.name
        upsert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            upsert(_credit)
            .values(unit_id=unit_id, plan_code=plan_code, credit=Decimal(0))
            .on_conflict_do_update(
                index_elements=[_credit.c.unit_id, _credit.c.plan_code],
                set_={"credit": _credit.c.credit},
            )
            .returning(_credit.c.credit)
        )
        credit = fen((await session.execute(statement)).scalar_one())
        return cls(session, unit_id, plan_code, credit, credit)

    # --- what the ledger holds ------------------------------------------------------------

    async def pool(self) -> Pool:
        """The unit's credit as its payments' remainders, oldest payment first."""
        await self.flush()
        if self.credit == 0:
            return Pool()
        c, a = _contributions.c, _allocations.c
        query = (
            select(c.id, c.amount, c.paid_on, c.reverses_id)
            .where(c.unit_id == self.unit_id, c.plan_code == self.plan_code)
            .order_by(c.id)
        )
        rows = (await self.session.execute(query)).all()
        reversed_ids = {row.reverses_id for row in rows if row.reverses_id is not None}
        live = [row for row in rows if row.reverses_id is None and row.id not in reversed_ids]
        given: dict[str, int] = {}
        dialect = (await self.session.connection()).dialect.name
        for chunk in chunks([row.id for row in live]):
            sums = (
                select(a.contribution_id, func.sum(a.amount))
                .where(among(a.contribution_id, chunk, dialect))
                .group_by(a.contribution_id)
            )
            for contribution_id, total in await self.session.execute(sums):
                given[contribution_id] = fen(total)
        pool = Pool(
            Lot(row.id, row.paid_on, fen(row.amount) - given.get(row.id, 0)) for row in live
        )
        if pool.fen != self.credit:
            raise LedgerOutOfBalance(
                f"unit {self.unit_id}, plan {self.plan_code}: credit {yuan(self.credit)}, "
                f"payments' remainders {yuan(pool.fen)}"
            )
        return pool

    # --- changes ------------------------------------------------------------------------

    def give(self, contribution_id: str, enrollment_id: str, amount: int) -> Given:
        given = Given(contribution_id, enrollment_id, amount)
        self._pending.append(given)
        return given

    async def give_to_unpaid(self, pool: Pool) -> list[Given]:
        """The pool's money to the unit's unpaid active enrolments of the plan, oldest
        first, until it runs out. What is left stays in the pool."""
        await self.flush()
        e = _enrollments.c
        given: list[Given] = []
        after: tuple[datetime, str] | None = None
        while pool.fen > 0:
            query = (
                select(e.id, e.contribution_due, e.contribution_paid, e.created_at)
                .where(
                    e.unit_id == self.unit_id,
                    e.plan_code == self.plan_code,
                    e.paid_on.is_(None),
                    e.status == "active",
                )
                .order_by(e.created_at, e.id)
                .limit(CHUNK)
            )
            if after is not None:
                query = query.where(tuple_(e.created_at, e.id) > tuple_(*after))
            rows = (await self.session.execute(query)).all()
            for row in rows:
                due, paid = fen(row.contribution_due), fen(row.contribution_paid)
                parts = pool.take(due - paid)
                if not parts:
                    continue  # owes nothing (contribution_due 0): paid when it was made
                paid += sum(part.fen for part in parts)
                given.extend(self.give(p.contribution_id, row.id, p.fen) for p in parts)
                self._paid[row.id] = (paid, paid_by(parts, paid, due))
                if pool.fen == 0:
                    break
            if len(rows) < CHUNK:
                break
            after = (rows[-1].created_at, rows[-1].id)
        return given

    async def release(self, enrollment: Enrollment) -> int:
        """Everything allocated to `enrollment` back to the payments it came from, so to the
        unit's credit (a cancellation before cover starts). Answers the fen returned; the
        enrolment (an ORM object the caller flushes) owes its whole due again."""
        await self.flush()
        a, c = _allocations.c, _contributions.c
        lot = func.coalesce(c.reverses_id, c.id)
        query = (
            select(lot.label("lot"), func.sum(a.amount).label("net"))
            .select_from(_allocations.join(_contributions, c.id == a.contribution_id))
            .where(a.enrollment_id == enrollment.id)
            .group_by(lot)
            .order_by(lot)
        )
        returned = 0
        for row in await self.session.execute(query):
            net = fen(row.net)
            if net > 0:
                self.give(row.lot, enrollment.id, -net)
                returned += net
        self.credit += returned
        enrollment.contribution_paid = yuan(fen(enrollment.contribution_paid) - returned)
        enrollment.paid_on = None
        return returned

    async def take_back(self, payment: Contribution, reversal: Contribution) -> list[Given]:
        """Undo `payment`: every enrolment it still pays loses that money (latest enrolment
        first) and owes again; what of it was still credit leaves the credit. `reversal`
        must be flushed (its allocation rows name it)."""
        await self.flush()
        a, e = _allocations.c, _enrollments.c
        net = func.sum(a.amount)
        query = (
            select(e.id, e.contribution_paid, net.label("net"))
            .select_from(_allocations.join(_enrollments, e.id == a.enrollment_id))
            .where(a.contribution_id == payment.id)
            .group_by(e.id, e.contribution_paid, e.created_at)
            .having(net > 0)
            .order_by(e.created_at.desc(), e.id.desc())
        )
        taken: list[Given] = []
        total = 0
        for row in await self.session.execute(query):
            amount = fen(row.net)
            taken.append(self.give(reversal.id, row.id, -amount))
            self._paid[row.id] = (fen(row.contribution_paid) - amount, None)
            total += amount
        left = fen(payment.amount) - total
        if left < 0 or left > self.credit:
            raise LedgerOutOfBalance(
                f"payment {payment.id}: {yuan(left)} left of it, credit {yuan(self.credit)}"
            )
        self.credit -= left
        return taken

    # --- writing --------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the allocations and enrolment changes made so far (before any query)."""
        if self._pending:
            ids = self._ids(len(self._pending))
            records = []
            for given, allocation_id in zip(self._pending, ids, strict=True):
                given.id = allocation_id
                records.append(
                    (
                        allocation_id,
                        given.contribution_id,
                        given.enrollment_id,
                        yuan(given.fen),
                        self.at,
                    )
                )
            self._pending = []
            await write_allocations(self.session, records)
        if self._paid:
            await write_paid(self.session, self._paid)
            self._paid = {}

    def _ids(self, count: int) -> list[str]:
        """Ascending from one flush to the next too (a listing by id is the order they were
        given in); ids made within the same millisecond as the last wait for the next."""
        ids = new_ids("cal", count)
        while ids[0] <= self._last_id:
            ids = new_ids("cal", count)
        self._last_id = ids[-1]
        return ids

    async def save(self) -> None:
        await self.flush()
        if self.credit != self.stored_credit:
            if self.credit < 0:
                raise LedgerOutOfBalance(f"unit {self.unit_id}: credit {yuan(self.credit)}")
            await self.session.execute(
                update(_credit)
                .where(_credit.c.unit_id == self.unit_id, _credit.c.plan_code == self.plan_code)
                .values(credit=yuan(self.credit))
            )
            self.stored_credit = self.credit


async def write_allocations(session: AsyncSession, records: list[tuple[Any, ...]]) -> None:
    """Allocation rows in ALLOCATION_COLUMNS order: COPY on Postgres when there are many."""
    if not records:
        return
    dialect = (await session.connection()).dialect
    if len(records) >= _COPY_FROM:
        writer = BulkInsert(_allocations, ALLOCATION_COLUMNS, dialect)
        await writer.write(session, writer.prepare(records))
        return
    rows = [dict(zip(ALLOCATION_COLUMNS, record, strict=True)) for record in records]
    await session.execute(insert(_allocations), rows)


_SET_PAID_POSTGRES = text(
    "UPDATE enrollment SET contribution_paid = v.paid, paid_on = v.paid_on "
    "FROM unnest(CAST(:ids AS varchar[]), CAST(:paid AS bigint[]), CAST(:paid_on AS date[])) "
    "AS v(id, paid, paid_on) WHERE enrollment.id = v.id"
)


_SET_PAID = (
    update(_enrollments)
    .where(_enrollments.c.id == bindparam("eid"))
    .values(contribution_paid=bindparam("paid", type_=Fen), paid_on=bindparam("on", type_=Date))
)


async def write_paid(session: AsyncSession, paid: dict[str, tuple[int, date | None]]) -> None:
    """Each enrolment's new contribution_paid (fen) and paid_on: on Postgres one UPDATE per
    chunk from arrays, elsewhere one executemany."""
    dialect = (await session.connection()).dialect.name
    items = list(paid.items())
    for chunk in chunks(items, 50_000):
        if dialect == "postgresql":
            parameters = {
                "ids": [enrollment_id for enrollment_id, _ in chunk],
                "paid": [amount for _, (amount, _) in chunk],
                "paid_on": [on for _, (_, on) in chunk],
            }
            await session.execute(_SET_PAID_POSTGRES, parameters)
            continue
        await session.execute(
            _SET_PAID,
            [{"eid": i, "paid": yuan(amount), "on": on} for i, (amount, on) in chunk],
        )
