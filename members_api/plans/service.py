"""Plans: one yearly edition of one scheme, created by an admin, read by everyone.

The terms are stored as the JSON of services.kit.plan_rules.PlanTerms, exactly what the claims
service receives in a coverage answer, and `rules_version` fingerprints them."""

import hashlib
import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from members_api.audit import audit
from members_api.models import Plan
from members_api.plans.schemas import CODE_PATTERN, PlanCreate, PlanRead
from members_api.problems import PLAN_EXISTS
from services.kit.auth import Principal
from services.kit.clock import now
from services.kit.errors import NotFound
from services.kit.ids import new_id
from services.kit.pagination import PageParams

_CODE = re.compile(CODE_PATTERN)


def rules_version(terms: dict[str, Any]) -> str:
    """The first 16 hex characters of the SHA-256 of the terms' canonical JSON (sorted keys,
    no spaces, UTF-8): two plans with the same rules have the same version."""
    canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


async def get_plan(session: AsyncSession, code: str) -> Plan:
    # A string that is not a plan code names nothing (and Postgres refuses some, e.g. NUL).
    known = _CODE.fullmatch(code)
    plan = await session.scalar(select(Plan).where(Plan.code == code)) if known else None
    if plan is None:
        raise NotFound(f"plan {code} not found")
    return plan


async def create_plan(session: AsyncSession, principal: Principal, data: PlanCreate) -> Plan:
    if await session.scalar(select(Plan.id).where(Plan.code == data.code)) is not None:
        raise PLAN_EXISTS.error(f"a plan with code {data.code} already exists")
    terms = data.terms()
    plan = Plan(
        id=new_id("pln"),
        code=data.code,
        line=data.line,
        name=data.name,
        kind=data.kind,
        coverage_start=data.coverage_start,
        coverage_end=data.coverage_end,
        terms=terms,
        rules_version=rules_version(terms),
        created_at=now(),
    )
    session.add(plan)
    await session.flush()
    await audit.record(
        session,
        principal,
        action="plan.create",
        entity="plan",
        entity_id=plan.code,
        after=PlanRead.of(plan).model_dump(mode="json"),
    )
    return plan


async def list_plans(session: AsyncSession, page: PageParams, line: str | None) -> list[Plan]:
    query = select(Plan).order_by(Plan.id).limit(page.limit + 1)
    if line:
        query = query.where(Plan.line == line)
    if page.after_id:
        query = query.where(Plan.id > page.after_id)
    return list((await session.scalars(query)).all())
