"""The enrolment report of DOMAIN.md, computed in SQL: units, person-times (人次), distinct
members, contributions due, and each unit's participation against its insured headcount."""

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import distinct, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.models import Enrollment, Plan, Unit
from members_api.reports.schemas import EnrollmentReport, UnitParticipation
from services.kit.auth import Principal
from services.kit.errors import InvalidInput, NotFound

PARTICIPATION_FLOOR = Decimal("0.80")


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


async def enrollment_report(
    session: AsyncSession,
    principal: Principal,
    plan_code: str | None,
    line: str | None = None,
    year: int | None = None,
) -> EnrollmentReport:
    plan_codes = await plan_codes_for(session, plan_code, line, year)
    live = (Enrollment.plan_code.in_(plan_codes)) & (Enrollment.status != "cancelled")  # type: ignore[attr-defined]
    # Summing a Fen column gives a Fen result: SQLAlchemy hands back yuan Decimals.
    contributions = func.coalesce(func.sum(Enrollment.__table__.c.contribution_due), 0)
    per_unit = (
        select(
            Unit.id,
            Unit.name,
            Unit.insured_headcount,
            func.count().label("person_times"),
            func.count(distinct(Enrollment.member_id)).label("members"),
            contributions.label("contributions"),
        )
        .join(Unit, Unit.id == Enrollment.unit_id)
        .where(live)
        .group_by(Unit.id, Unit.name, Unit.insured_headcount)
        .order_by(Unit.name, Unit.id)
    )
    totals = select(
        func.count().label("person_times"),
        func.count(distinct(Enrollment.member_id)).label("members"),
        contributions.label("contributions"),
    ).where(live)
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
            )
        )
    total = (await session.execute(totals)).one()
    return EnrollmentReport(
        plan_codes=plan_codes,
        units=len(by_unit),
        person_times=total.person_times,
        members=total.members,
        contributions=total.contributions,
        units_below_80_percent=sum(1 for unit in by_unit if unit.below_80_percent),
        by_unit=by_unit,
    )
