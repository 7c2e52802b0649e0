"""The claims report of DOMAIN.md, computed in SQL on both databases: what the seed's
paragraph states (units, claimants, claim person-times, total paid, averages) and what auditors
add (largest payout, median days to pay, rejections by reason, per-unit rows, the payments the
bank returned: their claims are back to approved, so not paid)."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.models import Claim, PayoutEntry
from claims_api.reports.schemas import ClaimsReport, UnitClaims
from services.kit.auth import Principal
from services.kit.money import FEN


def _yuan(amount: Decimal | None) -> Decimal:
    """Sums and maxima of a Fen column come back as yuan Decimals (the column's type)."""
    return amount if amount is not None else Decimal("0.00")


def _average(total: Decimal, count: int) -> Decimal:
    return (total / count).quantize(FEN, ROUND_HALF_UP) if count else Decimal("0.00")


def _paid_filter(
    plan_code: str | None, paid_from: date | None, paid_to: date | None, source: str | None
) -> Any:
    conditions: list[ColumnElement[bool]] = [Claim.status == "paid"]
    if source:
        conditions.append(Claim.source == source)
    if plan_code:
        conditions.append(Claim.plan_code == plan_code)
    if paid_from:
        conditions.append(Claim.paid_on >= paid_from)  # type: ignore[operator]
    if paid_to:
        conditions.append(Claim.paid_on <= paid_to)  # type: ignore[operator]
    return and_(*conditions)


def _days_to_pay(dialect: str) -> Any:
    if dialect == "postgresql":
        return Claim.paid_on - Claim.filed_on  # type: ignore[operator]
    return cast(func.julianday(Claim.paid_on) - func.julianday(Claim.filed_on), Integer)


async def _median_days(session: AsyncSession, where: Any, count: int) -> Decimal | None:
    """The middle one or two values of days-to-pay, from how many claims took each number of
    days (a few hundred rows at most, whatever the number of claims): the same values as
    sorting every claim and reading the middle, without the sort."""
    if count == 0:
        return None
    dialect = session.bind.dialect.name
    days = _days_to_pay(dialect).label("days")
    histogram = select(days, func.count().label("claims")).where(where).group_by(days)
    rows = [(row.days, row.claims) for row in await session.execute(histogram)]
    # as ORDER BY would: NULL last on PostgreSQL, first on SQLite (a paid claim has a date)
    nulls_last = dialect == "postgresql"
    counts = sorted(rows, key=lambda row: ((row[0] is None) == nulls_last, row[0] or 0))
    wanted = [(count - 1) // 2] if count % 2 else [count // 2 - 1, count // 2]
    middle: list[int] = []
    seen = 0
    for value, claims in counts:
        while wanted and wanted[0] < seen + claims:
            middle.append(value)
            wanted.pop(0)
        seen += claims
    return (Decimal(sum(middle)) / len(middle)).quantize(Decimal("0.1"), ROUND_HALF_UP)


async def _rejections(
    session: AsyncSession,
    plan_code: str | None,
    filed_from: date | None,
    filed_to: date | None,
    source: str | None,
) -> dict[str, int]:
    """Rejected claims by reason code. The claims are first counted by their list of codes
    (a handful of distinct lists), and only those lists are taken apart: the JSON of each
    claim is not parsed. Each reason counts a claim once, even if listed twice in it."""
    postgres = session.bind.dialect.name == "postgresql"
    codes = "claim.reason_codes::text" if postgres else "claim.reason_codes"
    expand = (
        "json_array_elements_text(counted.codes::json) AS code(code)"
        if postgres
        else "json_each(counted.codes) AS code"
    )
    value = "code.code" if postgres else "code.value"
    where = "claim.status = 'rejected'"
    params: dict[str, Any] = {}
    if source:
        where += " AND claim.source = :source"
        params["source"] = source
    if plan_code:
        where += " AND claim.plan_code = :plan_code"
        params["plan_code"] = plan_code
    if filed_from:
        where += " AND claim.filed_on >= :filed_from"
        params["filed_from"] = filed_from
    if filed_to:
        where += " AND claim.filed_on <= :filed_to"
        params["filed_to"] = filed_to
    sql = (
        "SELECT reason, sum(claims) AS n FROM ("
        f"SELECT DISTINCT counted.codes, counted.claims, coalesce({value}, 'reviewer') AS reason "
        f"FROM (SELECT {codes} AS codes, count(*) AS claims FROM claim WHERE {where} "
        f"GROUP BY {codes}) AS counted LEFT JOIN {expand} ON true"
        ") AS reasons GROUP BY reason ORDER BY reason"
    )
    rows = (await session.execute(text(sql), params)).all()
    return {row.reason: int(row.n) for row in rows}


async def _returned_payments(
    session: AsyncSession,
    plan_code: str | None,
    paid_from: date | None,
    paid_to: date | None,
    source: str | None,
) -> tuple[int, Decimal]:
    """How many payments of the range came back, and their amount (payments dated in it)."""
    amount = PayoutEntry.__table__.c.amount
    query = select(func.count(), func.sum(amount)).where(
        PayoutEntry.entry_kind == "payment", PayoutEntry.bank_status == "returned"
    )
    if source:
        of_source = select(Claim.id).where(Claim.source == source)
        query = query.where(PayoutEntry.claim_id.in_(of_source))  # type: ignore[attr-defined]
    if plan_code:
        query = query.where(PayoutEntry.plan_code == plan_code)
    if paid_from:
        query = query.where(PayoutEntry.paid_on >= paid_from)
    if paid_to:
        query = query.where(PayoutEntry.paid_on <= paid_to)
    count, total = (await session.execute(query)).one()
    return count, _yuan(total)


async def claims_report(
    session: AsyncSession,
    principal: Principal,
    plan_code: str | None,
    paid_from: date | None,
    paid_to: date | None,
    source: str | None = None,
) -> ClaimsReport:
    """Four queries, each on an index that holds every column it reads (migration
    0004_report_indexes): the per-unit rows, whose sums are also the totals; the claimants (a
    member paid through two units is one claimant); how many claims took each number of days
    to pay; the rejections. A fifth counts the returned payments (few: on the index of
    bank_status). `source`: only the claims filed by people (`filed`) or made from settlement
    data (`settlement`); the indexes do not hold it, so filtered reports read the claims."""
    where = _paid_filter(plan_code, paid_from, paid_to, source)
    payable = Claim.__table__.c.payable
    per_unit = await session.execute(
        select(
            Claim.unit_id,
            func.count(func.distinct(Claim.member_id)).label("claimants"),
            func.count().label("claims"),
            func.sum(payable).label("total"),
            func.max(payable).label("largest"),
        )
        .where(where)
        .group_by(Claim.unit_id)
        .order_by(Claim.unit_id)
    )
    by_unit = []
    units = claims = 0
    total = largest = Decimal("0.00")
    for row in per_unit:
        unit_total, unit_largest = _yuan(row.total), _yuan(row.largest)
        by_unit.append(
            UnitClaims(
                unit_id=row.unit_id or "",
                claimants=row.claimants,
                claims=row.claims,
                total_paid=unit_total,
                average_per_claimant=_average(unit_total, row.claimants),
                largest_payout=unit_largest,
            )
        )
        units += row.unit_id is not None  # count(DISTINCT unit_id) leaves NULL out
        claims += row.claims
        total += unit_total
        largest = max(largest, unit_largest)
    returned = await _returned_payments(session, plan_code, paid_from, paid_to, source)
    paid_members = select(Claim.member_id).where(where).group_by(Claim.member_id).subquery()
    claimants = await session.scalar(select(func.count()).select_from(paid_members)) or 0
    return ClaimsReport(
        plan_code=plan_code,
        paid_from=paid_from,
        paid_to=paid_to,
        source=source,
        units=units,
        claimants=claimants,
        claims=claims,
        total_paid=total,
        average_per_claimant=_average(total, claimants),
        average_per_claim=_average(total, claims),
        largest_payout=largest,
        median_days_to_pay=await _median_days(session, where, claims),
        returned_payments=returned[0],
        returned_total=returned[1],
        rejections=await _rejections(session, plan_code, paid_from, paid_to, source),
        by_unit=by_unit,
    )
