"""The reports of DOMAIN.md, computed in SQL. Enrolment: units, person-times (人次), distinct
members, contributions due, paid, owed and credit, and each unit's participation against its
insured headcount. Contributions: per unit due, paid, owed, credit, what was received, the
unpaid enrolments and the days overdue after the plan's enrol_until."""

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, distinct, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.models import Contribution, Enrollment, Plan, Unit, UnitPlanCredit
from members_api.plans.service import get_plan
from members_api.reports.schemas import (
    ContributionsReport,
    ContributionsTotals,
    EnrollmentReport,
    UnitContributions,
    UnitParticipation,
)
from services.kit.auth import Principal
from services.kit.clock import today
from services.kit.errors import InvalidInput, NotFound
from services.kit.plan_rules import PlanTerms

PARTICIPATION_FLOOR = Decimal("0.80")
ZERO = Decimal("0.00")
# Summing a Fen column gives a Fen result: SQLAlchemy hands back yuan Decimals.
_DUE = Enrollment.__table__.c.contribution_due  # type: ignore[attr-defined]
_PAID = Enrollment.__table__.c.contribution_paid  # type: ignore[attr-defined]
_CREDIT = UnitPlanCredit.__table__.c.credit  # type: ignore[attr-defined]
_AMOUNT = Contribution.__table__.c.amount  # type: ignore[attr-defined]
_PAID_ON = Enrollment.__table__.c.paid_on  # type: ignore[attr-defined]
_UNIT_ID = Unit.__table__.c.id  # type: ignore[attr-defined]


def _sum(column: object) -> object:
    return func.coalesce(func.sum(column), 0)


async def plan_codes_for(
    session: AsyncSession, plan_code: str | None, line: str | None, year: int | None
) -> list[str]:
    if plan_code:
        if await session.scalar(select(Plan.code).where(Plan.code == plan_code)) is None:
            raise NotFound(f"plan {plan_code} not found")
        return [plan_code]
    if not (line and year):
        raise InvalidInput(["query", "plan_code"], "give plan_code, or line and year")
    query = select(Plan.code).where(Plan.line == line, extract("year", Plan.coverage_start) == year)
    codes = list((await session.scalars(query.order_by(Plan.code))).all())
    if not codes:
        raise NotFound(f"no plan of line {line} covers {year}")
    return codes


def _ratio(members: int, headcount: int) -> Decimal | None:
    if headcount <= 0:
        return None
    return (Decimal(members) / Decimal(headcount)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


async def _credit_by_unit(session: AsyncSession, plan_codes: Sequence[str]) -> dict[str, Decimal]:
    query = (
        select(UnitPlanCredit.unit_id, _sum(_CREDIT).label("credit"))
        .where(UnitPlanCredit.plan_code.in_(plan_codes))  # type: ignore[attr-defined]
        .group_by(UnitPlanCredit.unit_id)
    )
    return {row.unit_id: row.credit for row in (await session.execute(query)).all()}


async def enrollment_report(
    session: AsyncSession,
    principal: Principal,
    plan_code: str | None,
    line: str | None = None,
    year: int | None = None,
) -> EnrollmentReport:
    plan_codes = await plan_codes_for(session, plan_code, line, year)
    live = (Enrollment.plan_code.in_(plan_codes)) & (Enrollment.status != "cancelled")  # type: ignore[attr-defined]
    per_unit = (
        select(
            Unit.id,
            Unit.name,
            Unit.insured_headcount,
            func.count().label("person_times"),
            func.count(distinct(Enrollment.member_id)).label("members"),
            _sum(_DUE).label("contributions"),
            _sum(_PAID).label("paid"),
        )
        .join(Unit, Unit.id == Enrollment.unit_id)
        .where(live)
        .group_by(Unit.id, Unit.name, Unit.insured_headcount)
        .order_by(Unit.name, Unit.id)
    )
    totals = select(
        func.count().label("person_times"),
        func.count(distinct(Enrollment.member_id)).label("members"),
        _sum(_DUE).label("contributions"),
        _sum(_PAID).label("paid"),
    ).where(live)
    credit = await _credit_by_unit(session, plan_codes)
    by_unit = []
    for row in (await session.execute(per_unit)).all():
        ratio = _ratio(row.members, row.insured_headcount)
        by_unit.append(
            UnitParticipation(
                unit_id=row.id,
                unit_name=row.name,
                insured_headcount=row.insured_headcount,
                person_times=row.person_times,
                members=row.members,
                contributions=row.contributions,
                participation_ratio=ratio,
                below_80_percent=ratio is not None and ratio < PARTICIPATION_FLOOR,
                paid=row.paid,
                owed=row.contributions - row.paid,
                credit=credit.get(row.id, ZERO),
            )
        )
    total = (await session.execute(totals)).one()
    return EnrollmentReport(
        plan_codes=plan_codes,
        units=len(by_unit),
        person_times=total.person_times,
        members=total.members,
        contributions=total.contributions,
        paid=total.paid,
        owed=total.contributions - total.paid,
        credit=sum((unit.credit for unit in by_unit), ZERO),
        units_below_80_percent=sum(1 for unit in by_unit if unit.below_80_percent),
        by_unit=by_unit,
    )


def days_overdue(owed: Decimal, enrol_until: date, on: date) -> int:
    """Days from the end of the enrolment window to `on`, while something is owed."""
    if owed <= 0 or on <= enrol_until:
        return 0
    return (on - enrol_until).days


async def contributions_report(
    session: AsyncSession, principal: Principal, plan_code: str
) -> ContributionsReport:
    plan = await get_plan(session, plan_code)
    enrol_until = PlanTerms.model_validate(plan.terms).enrol_until
    on = today()
    live = (Enrollment.plan_code == plan.code) & (Enrollment.status != "cancelled")
    enrolments = (
        select(
            Enrollment.unit_id,
            func.count().label("enrollments"),
            _sum(_DUE).label("due"),
            _sum(_PAID).label("paid"),
            func.sum(case((_PAID_ON.is_(None), 1), else_=0)).label("unpaid"),
        )
        .where(live)
        .group_by(Enrollment.unit_id)
    )
    received = (
        select(Contribution.unit_id, _sum(_AMOUNT).label("received"))
        .where(Contribution.plan_code == plan.code)
        .group_by(Contribution.unit_id)
    )
    by_enrolments = {row.unit_id: row for row in (await session.execute(enrolments)).all()}
    by_payments = {row.unit_id: row.received for row in (await session.execute(received)).all()}
    credit = await _credit_by_unit(session, [plan.code])
    # a credit row is made by the ledger's lock: one of 0.00 is not a unit with a credit
    unit_ids = set(by_enrolments) | set(by_payments) | {u for u, c in credit.items() if c}
    named = select(Unit.id, Unit.name).where(_UNIT_ID.in_(unit_ids))
    units = (await session.execute(named.order_by(Unit.name, Unit.id))).all()
    by_unit = []
    for unit in units:
        row = by_enrolments.get(unit.id)
        due, paid = (row.due, row.paid) if row is not None else (ZERO, ZERO)
        owed = due - paid
        by_unit.append(
            UnitContributions(
                unit_id=unit.id,
                unit_name=unit.name,
                enrollments=row.enrollments if row is not None else 0,
                due=due,
                paid=paid,
                owed=owed,
                credit=credit.get(unit.id, ZERO),
                received=by_payments.get(unit.id, ZERO),
                unpaid_enrollments=int(row.unpaid or 0) if row is not None else 0,
                days_overdue=days_overdue(owed, enrol_until, on),
            )
        )
    owed_in_all = sum((u.owed for u in by_unit), ZERO)
    totals = ContributionsTotals(
        units=len(by_unit),
        units_owing=sum(1 for u in by_unit if u.owed > 0),
        enrollments=sum(u.enrollments for u in by_unit),
        due=sum((u.due for u in by_unit), ZERO),
        paid=sum((u.paid for u in by_unit), ZERO),
        owed=owed_in_all,
        credit=sum((u.credit for u in by_unit), ZERO),
        received=sum((u.received for u in by_unit), ZERO),
        unpaid_enrollments=sum(u.unpaid_enrollments for u in by_unit),
    )
    return ContributionsReport(
        plan_code=plan.code,
        enrol_until=enrol_until,
        as_of=on,
        days_overdue=days_overdue(owed_in_all, enrol_until, on),
        totals=totals,
        by_unit=by_unit,
    )
