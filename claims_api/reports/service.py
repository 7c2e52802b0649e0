"""The claims report of DOMAIN.md, computed in SQL on both databases: what the seed's
paragraph states (units, claimants, claim person-times, total paid, averages) and what auditors
add (largest payout, median days to pay, rejections by reason, per-unit rows)."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from claims_api.models import Claim
from claims_api.reports.schemas import ClaimsReport, UnitClaims
from services.auth import Principal, Role
from services.money import FEN


def _yuan(amount: Decimal | None) -> Decimal:
    """Sums and maxima of a Fen column come back as yuan Decimals (the column's type)."""
    return amount if amount is not None else Decimal("0.00")


def _average(total: Decimal, count: int) -> Decimal:
    return (total / count).quantize(FEN, ROUND_HALF_UP) if count else Decimal("0.00")


def _paid_filter(plan_code: str | None, paid_from: date | None, paid_to: date | None) -> Any:
    conditions: list[ColumnElement[bool]] = [Claim.status == "paid"]
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
    """The middle one or two values, fetched by OFFSET: portable SQL, no rows in Python."""
    if count == 0:
        return None
    days = _days_to_pay(session.bind.dialect.name).label("days")
    ordered = select(days).where(where).order_by(days)
    middle = list(
        (await session.scalars(ordered.offset((count - 1) // 2).limit(2 - count % 2))).all()
    )
    return (Decimal(sum(middle)) / len(middle)).quantize(Decimal("0.1"), ROUND_HALF_UP)


async def _rejections(
    session: AsyncSession, plan_code: str | None, filed_from: date | None, filed_to: date | None
) -> dict[str, int]:
    expand = (
        "json_array_elements_text(claim.reason_codes::json)"
        if session.bind.dialect.name == "postgresql"
        else "json_each(claim.reason_codes)"
    )
    code = "value" if session.bind.dialect.name != "postgresql" else "code.code"
    alias = "" if session.bind.dialect.name != "postgresql" else " AS code(code)"
    sql = (
        f"SELECT coalesce({code}, 'reviewer') AS reason, count(DISTINCT claim.id) AS n "
        f"FROM claim LEFT JOIN {expand}{alias} ON true "
        "WHERE claim.status = 'rejected'"
    )
    params: dict[str, Any] = {}
    if plan_code:
        sql += " AND claim.plan_code = :plan_code"
        params["plan_code"] = plan_code
    if filed_from:
        sql += " AND claim.filed_on >= :filed_from"
        params["filed_from"] = filed_from
    if filed_to:
        sql += " AND claim.filed_on <= :filed_to"
        params["filed_to"] = filed_to
    sql += " GROUP BY reason ORDER BY reason"
    rows = (await session.execute(text(sql), params)).all()
    return {row.reason: row.n for row in rows}


async def claims_report(
    session: AsyncSession,
    principal: Principal,
    plan_code: str | None,
    paid_from: date | None,
    paid_to: date | None,
) -> ClaimsReport:
    principal.require(Role.admin, Role.auditor)
    where = _paid_filter(plan_code, paid_from, paid_to)
    payable = Claim.__table__.c.payable
    totals = (
        await session.execute(
            select(
                func.count(func.distinct(Claim.unit_id)).label("units"),
                func.count(func.distinct(Claim.member_id)).label("claimants"),
                func.count().label("claims"),
                func.coalesce(func.sum(payable), 0).label("total"),
                func.coalesce(func.max(payable), 0).label("largest"),
            ).where(where)
        )
    ).one()
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
    by_unit = [
        UnitClaims(
            unit_id=row.unit_id or "",
            claimants=row.claimants,
            claims=row.claims,
            total_paid=_yuan(row.total),
            average_per_claimant=_average(_yuan(row.total), row.claimants),
            largest_payout=_yuan(row.largest),
        )
        for row in per_unit
    ]
    total = _yuan(totals.total)
    return ClaimsReport(
        plan_code=plan_code,
        paid_from=paid_from,
        paid_to=paid_to,
        units=totals.units,
        claimants=totals.claimants,
        claims=totals.claims,
        total_paid=total,
        average_per_claimant=_average(total, totals.claimants),
        average_per_claim=_average(total, totals.claims),
        largest_payout=_yuan(totals.largest),
        median_days_to_pay=await _median_days(session, where, totals.claims),
        rejections=await _rejections(session, plan_code, paid_from, paid_to),
        by_unit=by_unit,
    )
