"""POST /api/v1/members/leaving: workers leaving their unit, in bulk, one result per row."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from members_api.models import audit_event
from tests.members.bulk_support import (
    TODAY,
    bulk_national_ids,
    by_row,
    codes,
    fields,
    open_plan,
    post_batch,
)
from tests.support import ADMIN, bearer, new_member, new_plan, new_unit

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


async def leave(client, rows, headers=None):
    return await client.post(
        "/api/v1/members/leaving", json={"rows": rows}, headers=headers or ADMIN
    )


async def registered(client, unit, count, start=0):
    """`count` workers enrolled in MED-2026 through `unit`: (member id, identity number)."""
    numbers = bulk_national_ids(count, start=start)
    rows = [{"national_id": n, "name": "王芳", "shares": 1} for n in numbers]
    answer = (await post_batch(client, unit, "MED-2026", rows)).json()
    return [(r["member_id"], n) for r, n in zip(answer["results"], numbers, strict=True)]


async def member(client, member_id):
    return (await client.get(f"/api/v1/members/{member_id}", headers=ADMIN)).json()


class TestLeaving:
    async def test_each_row_is_set_left_or_says_why_not(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        workers = await registered(members, unit, 4)
        (first, first_number), (second, second_number) = workers[:2]
        third_number, fourth_number = workers[2][1], workers[3][1]
        left_on = TODAY - timedelta(days=3)
        rows = [
            {"national_id": first_number, "left_on": str(left_on)},
            {"national_id": bulk_national_ids(1, start=400)[0], "left_on": str(left_on)},
            {"national_id": "11010519491231002Y", "left_on": str(left_on)},
            {"national_id": second_number, "left_on": "1970-01-01"},
            {"national_id": third_number, "left_on": str(TODAY + timedelta(days=400))},
            {"national_id": first_number, "left_on": str(left_on)},
            {"national_id": fourth_number},
        ]
        response = await leave(members, rows)
        assert response.status_code == 200, response.text
        answer = response.json()
        results = by_row(answer)
        assert results[1] == {
            "row": 1,
            "status": "ok",
            "member_id": first,
            "left_on": str(left_on),
            "already_left": False,
        }
        assert codes(results[2]) == ["not_found"]
        assert fields(results[3]) == ["national_id"]
        assert fields(results[4]) == ["left_on"] and "birth" in results[4]["errors"][0]["msg"]
        assert fields(results[5]) == ["left_on"] and "366" in results[5]["errors"][0]["msg"]
        assert codes(results[6]) == ["duplicate_national_id"]
        assert fields(results[7]) == ["left_on"]
        assert answer["totals"] == {"rows": 7, "ok": 1, "failed": 6, "left": 1, "already_left": 0}
        assert (await member(members, first))["status"] == "left"
        assert (await member(members, first))["left_on"] == str(left_on)
        assert (await member(members, second))["status"] == "active"

    async def test_cover_ends_with_the_leaving_date(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        [(worker, number)] = await registered(members, unit, 1)
        left_on = TODAY + timedelta(days=20)
        await leave(members, [{"national_id": number, "left_on": str(left_on)}])

        async def coverage(on: date):
            query = f"member_id={worker}&plan_code=MED-2026&on={on}"
            return (await members.get(f"/api/v1/coverage?{query}", headers=ADMIN)).json()

        assert (await coverage(left_on))["covered"] is True
        after = await coverage(left_on + timedelta(days=1))
        assert (after["covered"], after["reason"]) == (False, "member_left")

    async def test_sending_the_same_list_again_changes_nothing(self, members, members_app):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        workers = await registered(members, unit, 3)
        rows = [{"national_id": n, "left_on": str(TODAY)} for _, n in workers]
        first = (await leave(members, rows)).json()
        assert first["totals"]["left"] == 3
        again = (await leave(members, rows)).json()
        assert again["totals"] == {"rows": 3, "ok": 3, "failed": 0, "left": 0, "already_left": 3}
        assert all(result["already_left"] for result in again["results"])
        # one audit event per worker who left, as a PATCH would record
        table = audit_event
        query = select(table.c.entity_id, table.c.action, table.c.before, table.c.after).where(
            table.c.entity == "member", table.c.action == "member.update"
        )
        async with members_app.state.database.sessions() as session:
            events = (await session.execute(query)).all()
        assert sorted(e.entity_id for e in events) == sorted(w for w, _ in workers)
        assert events[0].before == {"status": "active", "left_on": None}
        assert events[0].after == {"status": "left", "left_on": str(TODAY)}

    async def test_a_later_list_moves_the_leaving_date(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        [(worker, number)] = await registered(members, unit, 1)
        await leave(members, [{"national_id": number, "left_on": str(TODAY)}])
        later = TODAY + timedelta(days=5)
        answer = (await leave(members, [{"national_id": number, "left_on": str(later)}])).json()
        assert answer["results"][0]["already_left"] is False
        assert (await member(members, worker))["left_on"] == str(later)

    async def test_the_same_idempotency_key_replays(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        [(_, number)] = await registered(members, unit, 1)
        body = {"rows": [{"national_id": number, "left_on": str(TODAY)}]}
        headers = {**ADMIN, "Idempotency-Key": "leaving-1"}
        first = await members.post("/api/v1/members/leaving", json=body, headers=headers)
        again = await members.post("/api/v1/members/leaving", json=body, headers=headers)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()


class TestHrScoping:
    async def test_hr_sets_its_own_workers_left_and_finds_no_others(self, members):
        own, other = await new_unit(members, "Own"), await new_unit(members, "Other")
        await new_plan(members, "MED-2026", **open_plan())
        [(mine, my_number)] = await registered(members, own, 1)
        [(theirs, their_number)] = await registered(members, other, 1, start=50)
        hr = bearer("hr", unit_id=own)
        rows = [
            {"national_id": my_number, "left_on": str(TODAY)},
            {"national_id": their_number, "left_on": str(TODAY)},
        ]
        answer = (await leave(members, rows, headers=hr)).json()
        results = by_row(answer)
        assert results[1]["status"] == "ok"
        assert codes(results[2]) == ["not_found"]
        assert "member_id" not in results[2]
        assert (await member(members, theirs))["status"] == "active"
        assert (await member(members, mine))["status"] == "left"

    async def test_other_roles_may_not(self, members):
        unit = await new_unit(members)
        worker = await new_member(members, unit)
        number = (await member(members, worker))["national_id"]
        rows = [{"national_id": number, "left_on": str(TODAY)}]
        for role in ("reviewer", "auditor", "finance"):
            assert (await leave(members, rows, headers=bearer(role))).status_code == 403
        own = bearer("member", member_id=worker)
        assert (await leave(members, rows, headers=own)).status_code == 403
