"""POST /api/v1/coverage/lookup: many workers' coverage by one plan, each on its day, for the
claims service's settlement imports. Each answer found is exactly what GET /api/v1/coverage
answers for the same worker, plan and day; the whole batch takes the same three queries
whatever its size."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import event

from members_api.coverage.schemas import MAX_LOOKUP_ITEMS, CoverageLookupRead
from tests.dates import COVER_START, day
from tests.members.coverage_world import GATED, PLAIN, PLANS, build_world
from tests.support import ADMIN, national_id, new_member, new_plan, new_unit

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

LOOKUP = "/api/v1/coverage/lookup"


async def lookup(members, plan_code: str, items: list[dict], status: int = 200) -> dict:
    response = await members.post(
        LOOKUP, json={"plan_code": plan_code, "items": items}, headers=ADMIN
    )
    assert response.status_code == status, response.text
    return response.json()


async def single(members, member_id: str, plan_code: str, on) -> dict:
    params = {"member_id": member_id, "plan_code": plan_code, "on": str(on)}
    response = await members.get("/api/v1/coverage", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def as_typed(number: str, rng: random.Random) -> str:
    """The number as a clerk might type it: a lower-case x, spaces around it."""
    typed = number.lower() if rng.random() < 0.5 else number
    return f" {typed} " if rng.random() < 0.3 else typed


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_each_answer_is_the_single_look_ups(members, members_app, seed):
    rng = random.Random(seed)
    world = await build_world(members, members_app, rng)
    days = sorted(world.days)
    strangers = [national_id(), "mbr_nobody", national_id()]
    for plan in PLANS:
        items, asked = [], []
        for _ in range(600):
            if rng.random() < 0.05:
                stranger = rng.choice(strangers)
                key = "member_id" if stranger.startswith("mbr") else "national_id"
                items.append({key: stranger, "on": str(rng.choice(days))})
                asked.append(None)
                continue
            member_id = rng.choice(list(world.members))
            on = rng.choice(days)
            if rng.random() < 0.5:
                items.append({"member_id": member_id, "on": str(on)})
            else:
                items.append(
                    {"national_id": as_typed(world.members[member_id], rng), "on": str(on)}
                )
            asked.append((member_id, on))
        answer = await lookup(members, plan, items)
        assert answer["plan_code"] == plan
        CoverageLookupRead.model_validate(answer)  # the documented schema
        found = [result for result in answer["results"] if result["found"]]
        assert all(result["coverage"]["plan"] == answer["plan"] for result in found)
        assert [result["index"] for result in answer["results"]] == list(range(len(items)))
        singles: dict = {}
        reasons = set()
        for result, question in zip(answer["results"], asked, strict=True):
            if question is None:
                assert result == {
                    "index": result["index"],
                    "found": False,
                    "reason": "member_not_found",
                }
                continue
            if question not in singles:
                singles[question] = await single(members, *question[:1], plan, question[1])
            assert result["found"] is True, (question, items[result["index"]])
            assert result["coverage"] == singles[question]
            assert result["national_id"] == world.members[question[0]]
            assert result["member_name"] in ("王芳", "李强", "张敏")
            reasons.add(result["coverage"]["reason"])
        # the world holds every kind of answer the plan can give
        expected = {None, "not_enrolled", "member_left", "waiting_period"}
        if plan == GATED:
            expected.add("contribution_unpaid")
        assert expected <= reasons, reasons


async def test_a_number_is_matched_as_stored(members):
    unit = await new_unit(members)
    await new_plan(members, PLAIN)
    while True:  # a number whose check character is X
        number = national_id(region="110101")
        if number.endswith("X"):
            break
    body = {"national_id": number, "name": "李强", "unit_id": unit}
    created = await members.post("/api/v1/members", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    on = str(day(6, 1))
    typed = [number, number.lower(), f" {number.lower()}\t"]
    answer = await lookup(members, PLAIN, [{"national_id": n, "on": on} for n in typed])
    for result in answer["results"]:
        assert result["found"] is True and result["national_id"] == number
        assert result["member_name"] == "李强"
        assert result["coverage"]["reason"] == "not_enrolled"


async def test_a_number_that_is_no_valid_number_is_not_found_not_refused(members):
    await new_plan(members, PLAIN)
    items = [{"national_id": "123", "on": str(day(6, 1))}, {"member_id": "x", "on": "2026-01-01"}]
    answer = await lookup(members, PLAIN, items)
    assert [r["found"] for r in answer["results"]] == [False, False]
    assert {r["reason"] for r in answer["results"]} == {"member_not_found"}


async def test_no_items_answers_the_plan_alone(members):
    await new_plan(members, PLAIN)
    answer = await lookup(members, PLAIN, [])
    assert answer["results"] == []
    plan = (await members.get(f"/api/v1/plans/{PLAIN}", headers=ADMIN)).json()
    assert answer["plan"]["code"] == PLAIN
    assert answer["plan"]["rules_version"] == plan["rules_version"]
    assert answer["plan"]["kind"] == plan["kind"]


async def test_unknown_plan_is_404_for_the_whole_request(members):
    member = await new_member(members, await new_unit(members))
    response = await members.post(
        LOOKUP,
        json={"plan_code": "NOPE-2026", "items": [{"member_id": member, "on": "2026-01-01"}]},
        headers=ADMIN,
    )
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert "NOPE-2026" in response.json()["detail"]


@pytest.mark.parametrize(
    ("item", "loc"),
    [
        ({"on": "2026-01-01"}, ["items", 1, "national_id"]),
        (
            {"member_id": "mbr_a", "national_id": "110101198506150022", "on": "2026-01-01"},
            ["items", 1, "national_id"],
        ),
        ({"member_id": "mbr_a"}, ["items", 1, "on"]),
        ({"member_id": "mbr_a", "on": "2026-02-30"}, ["items", 1, "on"]),
        ({"member_id": "mbr a", "on": "2026-01-01"}, ["items", 1, "member_id"]),
        ({"member_id": "mbr_a", "on": "2026-01-01", "shares": 1}, ["items", 1, "shares"]),
    ],
)
async def test_an_item_that_is_not_one_worker_and_a_day_is_422_naming_it(members, item, loc):
    await new_plan(members, PLAIN)
    items = [{"member_id": "mbr_fine", "on": "2026-01-01"}, item]
    problem = await lookup(members, PLAIN, items, status=422)
    assert problem["type"].endswith("/validation")
    assert [error["loc"] for error in problem["errors"]] == [loc]


async def test_too_many_items_is_422_naming_items(members):
    await new_plan(members, PLAIN)
    items = [{"member_id": f"mbr_{n}", "on": "2026-01-01"} for n in range(MAX_LOOKUP_ITEMS + 1)]
    problem = await lookup(members, PLAIN, items, status=422)
    assert problem["type"].endswith("/validation")
    assert [error["loc"] for error in problem["errors"]] == [["items"]]


async def test_five_thousand_items_in_one_call(members, members_app):
    world = await build_world(members, members_app, random.Random(5), workers=20)
    rng = random.Random(6)
    ids = list(world.members)
    days = [COVER_START + timedelta(days=n) for n in range(0, 360, 7)]
    items = [
        {"member_id": rng.choice(ids), "on": str(rng.choice(days))} for _ in range(MAX_LOOKUP_ITEMS)
    ]
    answer = await lookup(members, PLAIN, items)
    assert len(answer["results"]) == MAX_LOOKUP_ITEMS
    for index in (0, 2_500, MAX_LOOKUP_ITEMS - 1):
        result, item = answer["results"][index], items[index]
        assert result["index"] == index
        assert result["coverage"] == await single(members, item["member_id"], PLAIN, item["on"])


async def test_the_batch_takes_the_same_three_queries_for_10_or_1000_items(members, members_app):
    world = await build_world(members, members_app, random.Random(7), workers=12)
    rng = random.Random(8)
    engine = members_app.state.database.engine.sync_engine

    async def statements_for(count: int) -> int:
        items = [
            {"national_id": rng.choice(list(world.members.values())), "on": str(day(6, 1))}
            if n % 2
            else {"member_id": f"mbr_unknown{n}", "on": str(day(6, 1))}
            for n in range(count)
        ]
        statements = []

        def count_statement(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count_statement)
        try:
            await lookup(members, GATED, items)
        finally:
            event.remove(engine, "before_cursor_execute", count_statement)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    assert await statements_for(10) == await statements_for(1_000) == 3
