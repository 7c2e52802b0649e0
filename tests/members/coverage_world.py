"""A seeded random registry for the batch coverage look-up's tests: workers of three units
enrolled in two plans (one that waits for payment), some through two units, some paid, some
not, some left, some enrolments cancelled; and the days worth asking about (each period's
edges, days outside the cover). Built through the API, but for the cancelled enrolments,
which no route can cancel once their cover has started."""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from members_api.models import Enrollment
from tests.dates import COVER_END, COVER_START, TODAY, day
from tests.payment_support import record_payment
from tests.support import ADMIN, enrol, member_leaves, national_id, new_plan, new_unit

PLAIN, GATED = "LOOKUP-PLAIN", "LOOKUP-GATED"
PLANS = {
    PLAIN: {"waiting_days": 30, "reduced_days": 60, "reduced_ratio": "0.6"},
    GATED: {
        "cover_requires_payment": True,
        "waiting_days": 15,
        "reduced_days": 30,
        "reduced_ratio": "0.5",
    },
}
STARTS = (COVER_START, day(1, 20), day(3, 1), day(5, 10), day(8, 1))


@dataclass
class World:
    members: dict[str, str] = field(default_factory=dict)
    """member id -> its stored national id"""
    days: set[date] = field(default_factory=set)


async def build_world(
    members: httpx.AsyncClient, app: FastAPI, rng: random.Random, workers: int = 30
) -> World:
    world = World()
    for code, terms in PLANS.items():
        await new_plan(members, code, **terms)
    units = [await new_unit(members, f"单位{n}") for n in range(3)]
    enrolments: list[dict] = []
    for _ in range(workers):
        home = rng.choice(units)
        member = await _new_worker(members, home, rng)
        world.members[member["id"]] = member["national_id"]
        for plan in PLANS:
            if rng.random() < 0.2:
                continue  # not enrolled in this plan
            first = rng.choice((1, 2))
            enrolments.append(await _enrol(members, member["id"], plan, first, home, rng))
            if rng.random() < 0.3:  # also through another unit, sharing the plan's 3 shares
                other = rng.choice([unit for unit in units if unit != home])
                enrolments.append(await _enrol(members, member["id"], plan, 1, other, rng))
    for unit in units:  # the gated plan's payments: some enrolments paid in full, some not
        for _ in range(rng.randint(1, 4)):
            paid_on = COVER_START + timedelta(days=rng.randint(0, (TODAY - COVER_START).days))
            await record_payment(members, unit, GATED, f"{36 * rng.randint(1, 4)}.00", paid_on)
            world.days |= {paid_on, paid_on - timedelta(days=1)}
    cancelled = [e["id"] for e in enrolments if rng.random() < 0.1]
    if cancelled:
        async with app.state.database.sessions() as session, session.begin():
            await session.execute(
                update(Enrollment).where(Enrollment.id.in_(cancelled)).values(status="cancelled")
            )
    for member_id in world.members:
        if rng.random() < 0.2:
            left_on = day(rng.randint(1, 9), rng.randint(1, 28))
            await member_leaves(members, member_id, left_on)
            world.days |= {left_on, left_on + timedelta(days=1)}
    world.days |= _edges([await _read(members, e["id"]) for e in enrolments])
    return world


async def _read(members: httpx.AsyncClient, enrollment_id: str) -> dict:
    """The enrolment as it stands now (paid or not, cancelled or not)."""
    response = await members.get(f"/api/v1/enrollments/{enrollment_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def _new_worker(members: httpx.AsyncClient, unit: str, rng: random.Random) -> dict:
    number = national_id(date(rng.randint(1970, 2000), rng.randint(1, 12), rng.randint(1, 28)))
    body = {"national_id": number, "name": rng.choice(("王芳", "李强", "张敏")), "unit_id": unit}
    response = await members.post("/api/v1/members", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def _enrol(
    members: httpx.AsyncClient, member: str, plan: str, shares: int, unit: str, rng: random.Random
) -> dict:
    starts_on = rng.choice(STARTS)
    response = await enrol(members, member, plan, shares, unit_id=unit, starts_on=str(starts_on))
    assert response.status_code == 201, response.text
    return response.json()


def _edges(enrolments: list[dict]) -> set[date]:
    """Every period's first and last day and the days either side, and days outside cover."""
    days = {COVER_START - timedelta(days=1), COVER_END, COVER_END + timedelta(days=1)}
    for enrolment in enrolments:
        for name in ("starts_on", "covered_from", "waiting_ends_on", "reduced_ends_on"):
            if enrolment.get(name):
                edge = date.fromisoformat(enrolment[name])
                days |= {edge - timedelta(days=1), edge, edge + timedelta(days=1)}
    return days
