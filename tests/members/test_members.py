import asyncio
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from stdnum.cn import ric

from members_api.models import audit_event
from services.kit.clock import today
from tests.support import (
    ADMIN,
    AUDITOR,
    FINANCE,
    REVIEWER,
    bearer,
    valid_national_id,
    with_wrong_check_digit,
)

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

MEMBERS = "/api/v1/members"


async def make_unit(members, name="第一医院"):
    response = await members.post("/api/v1/units", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def make_member(members, unit_id, headers=ADMIN, **fields):
    body = {"national_id": valid_national_id(), "name": "王芳", "unit_id": unit_id, **fields}
    response = await members.post(MEMBERS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response, status, loc=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    if loc is not None:
        assert problem["errors"][0]["loc"] == loc, problem
    return problem


class TestRegisterMember:
    async def test_sex_and_birth_date_are_read_from_the_identity_number(self, members):
        unit = await make_unit(members)
        number = valid_national_id(birth=date(1988, 2, 29), sex="M")
        created = await members.post(
            MEMBERS,
            json={
                "national_id": number,
                "name": "李强",
                "phone": "13800138000",
                "unit_id": unit["id"],
            },
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        member = created.json()
        assert member["sex"] == "M" and member["birth_date"] == "1988-02-29"
        assert member["national_id"] == number
        assert member["status"] == "active" and member["left_on"] is None
        fetched = await members.get(f"{MEMBERS}/{member['id']}", headers=ADMIN)
        assert fetched.json() == member

    async def test_a_woman_is_registered_as_f(self, members):
        unit = await make_unit(members)
        number = valid_national_id(birth=date(1990, 12, 1), sex="F")
        member = await make_member(members, unit["id"], national_id=number)
        assert member["sex"] == "F" and member["birth_date"] == "1990-12-01"

    async def test_typing_in_sex_or_birth_date_is_refused(self, members):
        unit = await make_unit(members)
        body = {
            "national_id": valid_national_id(),
            "name": "王芳",
            "unit_id": unit["id"],
            "sex": "M",
        }
        response = await members.post(MEMBERS, json=body, headers=ADMIN)
        assert_problem(response, 422, ["sex"])

    async def test_same_idempotency_key_returns_the_first_member(self, members):
        unit = await make_unit(members)
        body = {"national_id": valid_national_id(), "name": "王芳", "unit_id": unit["id"]}
        headers = {**ADMIN, "Idempotency-Key": "member-1"}
        first = await members.post(MEMBERS, json=body, headers=headers)
        again = await members.post(MEMBERS, json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        listed = await members.get(MEMBERS, headers=ADMIN)
        assert len(listed.json()["items"]) == 1

    async def test_registration_is_in_the_audit_log_with_the_number_masked(
        self, members, members_app
    ):
        unit = await make_unit(members)
        member = await make_member(members, unit["id"])
        events = await audit_events(members_app, member["id"])
        assert [e.action for e in events] == ["member.create"]
        assert events[0].after["national_id"] == mask(member["national_id"])

    async def test_an_inactive_unit_takes_no_new_members(self, members):
        unit = await make_unit(members)
        await members.patch(f"/api/v1/units/{unit['id']}", json={"active": False}, headers=ADMIN)
        body = {"national_id": valid_national_id(), "name": "王芳", "unit_id": unit["id"]}
        problem = assert_problem(await members.post(MEMBERS, json=body, headers=ADMIN), 422)
        assert problem["code"] == "unit_inactive"

    async def test_an_unknown_unit_is_404(self, members):
        body = {"national_id": valid_national_id(), "name": "王芳", "unit_id": "unt_missing"}
        assert_problem(await members.post(MEMBERS, json=body, headers=ADMIN), 404)

    async def test_a_member_cannot_register_workers(self, members):
        unit = await make_unit(members)
        body = {"national_id": valid_national_id(), "name": "王芳", "unit_id": unit["id"]}
        token = bearer("member", member_id="mbr_x")
        assert_problem(await members.post(MEMBERS, json=body, headers=token), 403)


class TestInvalidIdentityNumber:
    async def test_wrong_check_digit_is_refused_naming_national_id(self, members):
        unit = await make_unit(members)
        body = {
            "national_id": with_wrong_check_digit(valid_national_id()),
            "name": "王芳",
            "unit_id": unit["id"],
        }
        assert_problem(await members.post(MEMBERS, json=body, headers=ADMIN), 422, ["national_id"])

    async def test_wrong_length_and_impossible_date_are_refused(self, members):
        unit = await make_unit(members)
        good = valid_national_id()
        february_30 = "15010219850230001"
        february_30 += ric.calc_check_digit(february_30 + "0")
        for bad in (good[:17], good + "1", february_30):
            body = {"national_id": bad, "name": "王芳", "unit_id": unit["id"]}
            response = await members.post(MEMBERS, json=body, headers=ADMIN)
            assert_problem(response, 422, ["national_id"])
        assert (await members.get(MEMBERS, headers=ADMIN)).json()["items"] == []


class TestDuplicateIdentityNumber:
    async def test_second_registration_of_a_number_is_409_naming_the_member(self, members):
        unit = await make_unit(members)
        number = valid_national_id()
        first = await make_member(members, unit["id"], national_id=number)
        body = {"national_id": number, "name": "王芳", "unit_id": unit["id"]}
        problem = assert_problem(await members.post(MEMBERS, json=body, headers=ADMIN), 409)
        assert problem["code"] == "member_exists"
        assert problem["member_id"] == first["id"]

    async def test_hr_of_another_unit_is_not_told_the_existing_member_id(self, members):
        unit, other = await make_unit(members, "A"), await make_unit(members, "B")
        number = valid_national_id()
        await make_member(members, unit["id"], national_id=number)
        body = {"national_id": number, "name": "王芳", "unit_id": other["id"]}
        hr = bearer("hr", unit_id=other["id"])
        problem = assert_problem(await members.post(MEMBERS, json=body, headers=hr), 409)
        assert problem["code"] == "member_exists"
        assert "member_id" not in problem


def mask(number):
    return number[:6] + "*" * 8 + number[-4:]


class TestIdentityNumberMasking:
    async def test_admin_and_own_unit_hr_see_the_full_number(self, members):
        unit = await make_unit(members)
        member = await make_member(members, unit["id"])
        hr = bearer("hr", unit_id=unit["id"])
        for headers in (ADMIN, hr):
            fetched = await members.get(f"{MEMBERS}/{member['id']}", headers=headers)
            assert fetched.json()["national_id"] == member["national_id"]

    async def test_other_roles_and_the_member_itself_see_it_masked(self, members):
        unit = await make_unit(members)
        member = await make_member(members, unit["id"])
        itself = bearer("member", member_id=member["id"])
        for headers in (REVIEWER, FINANCE, AUDITOR, itself):
            fetched = await members.get(f"{MEMBERS}/{member['id']}", headers=headers)
            assert fetched.status_code == 200, fetched.text
            shown = fetched.json()["national_id"]
            assert re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", shown)
            assert shown == mask(member["national_id"])
            listed = await members.get(MEMBERS, headers=headers)
            assert [m["national_id"] for m in listed.json()["items"]] == [shown]

    async def test_hr_creating_a_member_sees_the_full_number(self, members):
        unit = await make_unit(members)
        number = valid_national_id()
        hr = bearer("hr", unit_id=unit["id"])
        member = await make_member(members, unit["id"], headers=hr, national_id=number)
        assert member["national_id"] == number


class TestHrScoping:
    async def test_hr_lists_only_its_unit(self, members):
        own, other = await make_unit(members, "Own"), await make_unit(members, "Other")
        mine = await make_member(members, own["id"])
        await make_member(members, other["id"])
        hr = bearer("hr", unit_id=own["id"])
        listed = await members.get(MEMBERS, headers=hr)
        assert [m["id"] for m in listed.json()["items"]] == [mine["id"]]
        filtered = await members.get(MEMBERS, params={"unit_id": other["id"]}, headers=hr)
        assert filtered.status_code == 200 and filtered.json()["items"] == []

    async def test_another_units_member_is_404_to_read_and_to_change(self, members):
        own, other = await make_unit(members, "Own"), await make_unit(members, "Other")
        theirs = await make_member(members, other["id"])
        hr = bearer("hr", unit_id=own["id"])
        url = f"{MEMBERS}/{theirs['id']}"
        assert_problem(await members.get(url, headers=hr), 404)
        assert_problem(await members.patch(url, json={"name": "X"}, headers=hr), 404)
        unchanged = await members.get(url, headers=ADMIN)
        assert unchanged.json()["name"] == theirs["name"]

    async def test_hr_cannot_register_into_another_unit(self, members):
        own, other = await make_unit(members, "Own"), await make_unit(members, "Other")
        body = {"national_id": valid_national_id(), "name": "王芳", "unit_id": other["id"]}
        hr = bearer("hr", unit_id=own["id"])
        problem = assert_problem(await members.post(MEMBERS, json=body, headers=hr), 404)
        assert "unit" in problem["detail"]
        assert (await members.get(MEMBERS, headers=ADMIN)).json()["items"] == []

    async def test_hr_changes_its_own_members_but_cannot_move_them(self, members):
        own, other = await make_unit(members, "Own"), await make_unit(members, "Other")
        mine = await make_member(members, own["id"])
        hr = bearer("hr", unit_id=own["id"])
        url = f"{MEMBERS}/{mine['id']}"
        changed = await members.patch(url, json={"phone": "0471-1234567"}, headers=hr)
        assert changed.status_code == 200 and changed.json()["phone"] == "0471-1234567"
        moved = await members.patch(url, json={"unit_id": other["id"]}, headers=hr)
        assert_problem(moved, 403)


class TestMemberSeesOnlyItself:
    async def test_a_member_reads_itself_and_nobody_else(self, members):
        unit = await make_unit(members)
        me = await make_member(members, unit["id"])
        someone = await make_member(members, unit["id"])
        token = bearer("member", member_id=me["id"])
        assert (await members.get(f"{MEMBERS}/{me['id']}", headers=token)).status_code == 200
        assert_problem(await members.get(f"{MEMBERS}/{someone['id']}", headers=token), 404)
        listed = await members.get(MEMBERS, headers=token)
        assert [m["id"] for m in listed.json()["items"]] == [me["id"]]

    async def test_a_member_cannot_change_its_record(self, members):
        unit = await make_unit(members)
        me = await make_member(members, unit["id"])
        token = bearer("member", member_id=me["id"])
        response = await members.patch(f"{MEMBERS}/{me['id']}", json={"name": "X"}, headers=token)
        assert_problem(response, 403)


class TestLeaving:
    async def test_leaving_sets_status_and_date_and_is_audited(self, members, members_app):
        unit = await make_unit(members)
        member = await make_member(members, unit["id"])
        url = f"{MEMBERS}/{member['id']}"
        left = await members.patch(
            url, json={"status": "left", "left_on": "2024-03-01"}, headers=ADMIN
        )
        assert left.status_code == 200, left.text
        fetched = (await members.get(url, headers=ADMIN)).json()
        assert fetched["status"] == "left" and fetched["left_on"] == "2024-03-01"
        events = await audit_events(members_app, member["id"])
        assert events[-1].action == "member.update"
        assert events[-1].before == {"status": "active", "left_on": None}
        assert events[-1].after == {"status": "left", "left_on": "2024-03-01"}

    async def test_reactivating_clears_the_leaving_date(self, members):
        unit = await make_unit(members)
        member = await make_member(members, unit["id"])
        url = f"{MEMBERS}/{member['id']}"
        await members.patch(url, json={"status": "left", "left_on": "2024-03-01"}, headers=ADMIN)
        back = await members.patch(url, json={"status": "active"}, headers=ADMIN)
        assert back.json()["status"] == "active" and back.json()["left_on"] is None

    async def test_status_filter_lists_those_who_left(self, members):
        unit = await make_unit(members)
        stays = await make_member(members, unit["id"])
        leaves = await make_member(members, unit["id"])
        await members.patch(
            f"{MEMBERS}/{leaves['id']}",
            json={"status": "left", "left_on": "2024-03-01"},
            headers=ADMIN,
        )
        left = await members.get(MEMBERS, params={"status": "left"}, headers=ADMIN)
        active = await members.get(MEMBERS, params={"status": "active"}, headers=ADMIN)
        assert [m["id"] for m in left.json()["items"]] == [leaves["id"]]
        assert [m["id"] for m in active.json()["items"]] == [stays["id"]]

    async def test_impossible_leaving_dates_are_refused_naming_left_on(self, members):
        unit = await make_unit(members)
        member = await make_member(
            members, unit["id"], national_id=valid_national_id(date(1985, 6, 15))
        )
        url = f"{MEMBERS}/{member['id']}"
        too_late = str(today() + timedelta(days=400))
        for body in (
            {"status": "left"},
            {"status": "left", "left_on": "1985-06-14"},
            {"status": "left", "left_on": too_late},
            {"left_on": "2024-03-01"},
        ):
            assert_problem(await members.patch(url, json=body, headers=ADMIN), 422, ["left_on"])
        fetched = (await members.get(url, headers=ADMIN)).json()
        assert fetched["status"] == "active" and fetched["left_on"] is None


class TestMovingToAnotherUnit:
    async def test_admin_moves_a_worker_to_an_active_unit_only(self, members):
        first, second = await make_unit(members, "A"), await make_unit(members, "B")
        closed = await make_unit(members, "C")
        await members.patch(f"/api/v1/units/{closed['id']}", json={"active": False}, headers=ADMIN)
        member = await make_member(members, first["id"])
        url = f"{MEMBERS}/{member['id']}"
        moved = await members.patch(url, json={"unit_id": second["id"]}, headers=ADMIN)
        assert moved.json()["unit_id"] == second["id"]
        refused = await members.patch(url, json={"unit_id": closed["id"]}, headers=ADMIN)
        assert assert_problem(refused, 422)["code"] == "unit_inactive"


class TestMalformedInput:
    async def test_a_10000_character_name_is_refused_naming_name(self, members):
        unit = await make_unit(members)
        body = {"national_id": valid_national_id(), "name": "王" * 10_000, "unit_id": unit["id"]}
        assert_problem(await members.post(MEMBERS, json=body, headers=ADMIN), 422, ["name"])

    async def test_malformed_json_is_a_422_problem(self, members):
        response = await members.post(
            MEMBERS,
            content=b'{"national_id": "1501',
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["type"] == "json_invalid"

    async def test_unknown_fields_and_bad_phones_are_refused_naming_them(self, members):
        unit = await make_unit(members)
        base = {"national_id": valid_national_id(), "name": "王芳", "unit_id": unit["id"]}
        extra = await members.post(MEMBERS, json={**base, "salary": 1}, headers=ADMIN)
        assert_problem(extra, 422, ["salary"])
        phone = await members.post(MEMBERS, json={**base, "phone": "call me"}, headers=ADMIN)
        assert_problem(phone, 422, ["phone"])

    async def test_null_name_in_a_change_is_refused(self, members):
        unit = await make_unit(members)
        member = await make_member(members, unit["id"])
        response = await members.patch(
            f"{MEMBERS}/{member['id']}", json={"name": None}, headers=ADMIN
        )
        assert_problem(response, 422, ["name"])


class TestValuesTheDatabaseCannotHold:
    async def test_a_phone_longer_than_30_characters_is_refused_naming_phone(self, members):
        unit = await make_unit(members)
        body = {
            "national_id": valid_national_id(),
            "name": "王芳",
            "phone": "+" + "1" * 30,
            "unit_id": unit["id"],
        }
        assert_problem(await members.post(MEMBERS, json=body, headers=ADMIN), 422, ["phone"])

    async def test_nul_characters_are_refused_not_a_server_error(self, members):
        unit = await make_unit(members)
        base = {"national_id": valid_national_id(), "name": "王芳", "unit_id": unit["id"]}
        name = await members.post(MEMBERS, json={**base, "name": "王\u0000芳"}, headers=ADMIN)
        assert_problem(name, 422, ["name"])
        unit_id = await members.post(MEMBERS, json={**base, "unit_id": "unt\u0000"}, headers=ADMIN)
        assert_problem(unit_id, 422, ["unit_id"])
        assert_problem(await members.get(f"{MEMBERS}/mbr%00", headers=ADMIN), 404)
        for params in ({"q": "王\u0000"}, {"unit_id": "unt\u0000"}):
            listed = await members.get(MEMBERS, params=params, headers=ADMIN)
            assert_problem(listed, 422, ["query", next(iter(params))])


class TestConcurrentRegistration:
    async def test_two_simultaneous_registrations_of_one_number_make_one_member(self, members):
        unit = await make_unit(members)
        body = {"national_id": valid_national_id(), "name": "王芳", "unit_id": unit["id"]}
        responses = await asyncio.gather(
            members.post(MEMBERS, json=body, headers=ADMIN),
            members.post(MEMBERS, json=body, headers=ADMIN),
        )
        assert sorted(r.status_code for r in responses) == [201, 409]
        conflict = next(r for r in responses if r.status_code == 409)
        assert conflict.json()["code"] == "member_exists"
        assert len((await members.get(MEMBERS, headers=ADMIN)).json()["items"]) == 1


class TestSearch:
    async def test_q_matches_part_of_the_name_the_full_number_or_the_phone(self, members):
        unit = await make_unit(members)
        wang = await make_member(members, unit["id"], name="王小芳", phone="13800138000")
        li = await make_member(members, unit["id"], name="李强")
        for q, expected in (
            ("小芳", [wang["id"]]),
            (li["national_id"], [li["id"]]),
            ("13800138000", [wang["id"]]),
            (li["national_id"][:10], []),
            ("%", []),
        ):
            listed = await members.get(MEMBERS, params={"q": q}, headers=ADMIN)
            assert [m["id"] for m in listed.json()["items"]] == expected, q


class TestPagination:
    async def test_following_next_cursor_returns_every_member_exactly_once(self, members):
        unit = await make_unit(members)
        created = [(await make_member(members, unit["id"]))["id"] for _ in range(5)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await members.get(MEMBERS, params=params, headers=ADMIN)).json()
            assert len(page["items"]) <= 2
            seen += [m["id"] for m in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(created) and len(seen) == 5
        assert pages == 3


async def audit_events(app, entity_id):
    async with app.state.database.engine.connect() as connection:
        query = (
            select(audit_event)
            .where(audit_event.c.entity == "member", audit_event.c.entity_id == entity_id)
            .order_by(audit_event.c.at, audit_event.c.id)
        )
        return list((await connection.execute(query)).all())
