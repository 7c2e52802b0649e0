"""POST /api/v1/enrollments/batch: many workers of one unit into one plan, one result per row."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from members_api.bulk import MAX_UPLOAD_BYTES
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
from tests.support import (
    ADMIN,
    REVIEWER,
    bearer,
    enrol,
    member_leaves,
    new_member,
    new_plan,
    new_unit,
    with_wrong_check_digit,
)

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)


async def enrolments(client, **query):
    listed = await client.get("/api/v1/enrollments", params={"limit": 500, **query}, headers=ADMIN)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


class TestRows:
    async def test_each_bad_row_lists_every_error_and_the_good_rows_are_enrolled(self, members):
        unit, other_unit = await new_unit(members, "Own"), await new_unit(members, "Other")
        await new_plan(members, "WOMEN-2026", "fixed_benefit", **open_plan())  # F, 16 to 60
        left = await new_member(members, unit)
        await member_leaves(members, left, TODAY - timedelta(days=40))
        elsewhere = await new_member(members, other_unit)
        left_number = (await members.get(f"/api/v1/members/{left}", headers=ADMIN)).json()
        elsewhere_number = (await members.get(f"/api/v1/members/{elsewhere}", headers=ADMIN)).json()
        women = bulk_national_ids(6)
        man = bulk_national_ids(1, start=100, sex="M")[0]
        old = bulk_national_ids(1, born_from=date(1950, 1, 1))[0]
        old_man = bulk_national_ids(1, born_from=date(1951, 1, 1), sex="M")[0]
        rows = [
            {"national_id": women[0], "name": "李娜", "phone": "13800138000", "shares": 1},
            {"national_id": with_wrong_check_digit(women[1]), "name": "王芳", "shares": 1},
            {"national_id": women[2], "shares": 1},
            {"national_id": women[3], "name": "赵敏", "shares": 0},
            {"national_id": man, "name": "张伟", "shares": 1},
            {"national_id": old, "name": "刘秀英", "shares": 1},
            {"national_id": old_man, "shares": 0},
            {"national_id": women[0], "name": "李娜", "shares": 1},
            {"national_id": women[4], "name": "陈静", "shares": 4},
            {"national_id": left_number["national_id"], "name": "王芳", "shares": 1},
            {"national_id": elsewhere_number["national_id"], "name": "王芳", "shares": 2},
            {"national_id": f" {women[5]} ", "name": " 杨丽 ", "shares": "3"},
        ]
        response = await post_batch(members, unit, "WOMEN-2026", rows)
        assert response.status_code == 200, response.text
        answer = response.json()
        results = by_row(answer)
        assert list(results) == list(range(1, 13))
        assert {n for n, r in results.items() if r["status"] == "ok"} == {1, 11, 12}
        assert (
            fields(results[2]) == ["national_id"]
            and "check digit" in results[2]["errors"][0]["msg"]
        )
        assert fields(results[3]) == ["name"]
        assert fields(results[4]) == ["shares"]
        assert codes(results[5]) == ["sex_not_eligible"]
        assert codes(results[6]) == ["age_out_of_range"]
        assert fields(results[7]) == ["name", "shares", "national_id", "national_id"]
        assert codes(results[7])[2:] == ["sex_not_eligible", "age_out_of_range"]
        assert codes(results[8]) == ["duplicate_national_id"]
        assert "row 1" in results[8]["errors"][0]["msg"]
        assert codes(results[9]) == ["max_shares_exceeded"] and fields(results[9]) == ["shares"]
        assert codes(results[10]) == ["member_left"]
        assert answer["totals"] == {
            "rows": 12,
            "ok": 3,
            "failed": 9,
            "created_members": 2,
            "enrolled": 3,
            "already_enrolled": 0,
        }

        first = results[1]
        assert first["created_member"] is True and first["already_enrolled"] is False
        member = (await members.get(f"/api/v1/members/{first['member_id']}", headers=ADMIN)).json()
        assert (member["name"], member["phone"], member["unit_id"]) == ("李娜", "13800138000", unit)
        assert (member["sex"], member["birth_date"]) == ("F", "1980-01-01")
        trimmed = await members.get(f"/api/v1/members/{results[12]['member_id']}", headers=ADMIN)
        assert trimmed.json()["name"] == "杨丽"

        # The other unit's worker is enrolled through this unit and stays where it is.
        assert results[11] == {**results[11], "member_id": elsewhere, "created_member": False}
        assert (await members.get(f"/api/v1/members/{elsewhere}", headers=ADMIN)).json()[
            "unit_id"
        ] == other_unit
        listed = await enrolments(members, plan_code="WOMEN-2026")
        assert sorted(e["id"] for e in listed) == sorted(
            results[n]["enrollment_id"] for n in (1, 11, 12)
        )
        assert {e["unit_id"] for e in listed} == {unit}
        shares = {e["member_id"]: e["shares"] for e in listed}
        assert shares[elsewhere] == 2 and shares[results[12]["member_id"]] == 3

    async def test_enrolments_get_the_plans_dates_and_contribution(self, members):
        unit = await new_unit(members)
        await new_plan(
            members, "MED-2026", **open_plan(waiting_days=30, reduced_days=90, reduced_ratio="0.5")
        )
        rows = [
            {"national_id": number, "name": "王芳", "shares": 2} for number in bulk_national_ids(2)
        ]
        answer = (await post_batch(members, unit, "MED-2026", rows)).json()
        enrolment = (
            await members.get(
                f"/api/v1/enrollments/{answer['results'][0]['enrollment_id']}", headers=ADMIN
            )
        ).json()
        starts = TODAY + timedelta(days=1)
        assert answer["starts_on"] == enrolment["starts_on"] == str(starts)
        assert enrolment["enrolled_on"] == str(TODAY)
        assert enrolment["waiting_ends_on"] == str(starts + timedelta(days=29))
        assert enrolment["reduced_ends_on"] == str(starts + timedelta(days=89))
        assert enrolment["contribution_due"] == "72.00" and enrolment["renewal"] is False

    async def test_a_row_that_is_not_an_object_is_its_own_error(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        rows = [{"national_id": bulk_national_ids(1)[0], "name": "王芳", "shares": 1, "note": "x"}]
        answer = (await post_batch(members, unit, "MED-2026", rows)).json()
        assert answer["results"][0]["status"] == "error"
        assert fields(answer["results"][0]) == ["note"]


class TestSendingAgain:
    async def test_the_same_rows_again_create_nothing(self, members):
        unit = await new_unit(members, insured_headcount=10)
        await new_plan(members, "MED-2026", **open_plan())
        rows = [{"national_id": n, "name": "王芳", "shares": 1} for n in bulk_national_ids(3)]
        first = (await post_batch(members, unit, "MED-2026", rows)).json()
        again = await post_batch(members, unit, "MED-2026", rows)
        assert again.status_code == 200, again.text
        assert again.json()["totals"] == {
            "rows": 3,
            "ok": 3,
            "failed": 0,
            "created_members": 0,
            "enrolled": 0,
            "already_enrolled": 3,
        }
        for before, after in zip(first["results"], again.json()["results"], strict=True):
            assert after["already_enrolled"] is True and after["created_member"] is False
            assert (after["member_id"], after["enrollment_id"]) == (
                before["member_id"],
                before["enrollment_id"],
            )
        assert len(await enrolments(members, plan_code="MED-2026")) == 3
        report = await members.get("/api/v1/reports/enrollment?plan_code=MED-2026", headers=ADMIN)
        assert (report.json()["person_times"], report.json()["members"]) == (3, 3)

    async def test_the_same_idempotency_key_replays_the_first_answer(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        body = {
            "unit_id": unit,
            "plan_code": "MED-2026",
            "rows": [{"national_id": bulk_national_ids(1)[0], "name": "王芳", "shares": 1}],
        }
        headers = {**ADMIN, "Idempotency-Key": "batch-1"}
        first = await members.post("/api/v1/enrollments/batch", json=body, headers=headers)
        again = await members.post("/api/v1/enrollments/batch", json=body, headers=headers)
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        other = {**body, "rows": [{**body["rows"][0], "shares": 2}]}
        refused = await members.post("/api/v1/enrollments/batch", json=other, headers=headers)
        assert refused.status_code == 422
        assert len(await enrolments(members)) == 1

    async def test_other_shares_through_the_same_unit_are_refused_not_added(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan(max_shares=3))
        number = bulk_national_ids(1)[0]
        await post_batch(
            members, unit, "MED-2026", [{"national_id": number, "name": "王芳", "shares": 1}]
        )
        changed = await post_batch(
            members, unit, "MED-2026", [{"national_id": number, "name": "王芳", "shares": 2}]
        )
        [result] = changed.json()["results"]
        assert codes(result) == ["enrolled_with_other_shares"] and fields(result) == ["shares"]
        assert len(await enrolments(members)) == 1


class TestAcrossUnitsAndEditions:
    async def test_max_shares_count_the_enrolments_through_other_units(self, members):
        home, second = await new_unit(members, "Home"), await new_unit(members, "Second")
        await new_plan(members, "MED-2026", **open_plan(max_shares=3))
        number = bulk_national_ids(1)[0]
        row = {"national_id": number, "name": "王芳", "shares": 2}
        member_id = (await post_batch(members, home, "MED-2026", [row])).json()["results"][0][
            "member_id"
        ]
        too_many = (await post_batch(members, second, "MED-2026", [row])).json()["results"][0]
        assert codes(too_many) == ["max_shares_exceeded"]
        one_more = (await post_batch(members, second, "MED-2026", [{**row, "shares": 1}])).json()
        assert one_more["results"][0]["status"] == "ok"
        on = TODAY + timedelta(days=5)
        covered = await members.get(
            f"/api/v1/coverage?member_id={member_id}&plan_code=MED-2026&on={on}", headers=ADMIN
        )
        assert covered.json()["cover"]["shares"] == 3

    async def test_a_renewal_has_no_waiting_period_and_a_newcomer_has(self, members):
        unit = await new_unit(members)
        new_cover = TODAY - timedelta(days=10)
        await new_plan(
            members,
            "MED-2025",
            coverage_start=str(new_cover - timedelta(days=365)),
            coverage_end=str(new_cover - timedelta(days=1)),
            enrol_from=str(new_cover - timedelta(days=400)),
            enrol_until=str(new_cover - timedelta(days=1)),
        )
        await new_plan(members, "MED-2026", **open_plan(waiting_days=30, renewal_grace_days=30))
        returning = await new_member(members, unit)
        enrolled = await enrol(
            members, returning, "MED-2025", enrolled_on=str(new_cover - timedelta(days=380))
        )
        assert enrolled.status_code == 201, enrolled.text
        number = (await members.get(f"/api/v1/members/{returning}", headers=ADMIN)).json()[
            "national_id"
        ]
        rows = [
            {"national_id": number, "name": "王芳", "shares": 1},
            {"national_id": bulk_national_ids(1)[0], "name": "新人", "shares": 1},
        ]
        answer = (await post_batch(members, unit, "MED-2026", rows)).json()
        renewed, newcomer = [
            (await members.get(f"/api/v1/enrollments/{r['enrollment_id']}", headers=ADMIN)).json()
            for r in answer["results"]
        ]
        assert (renewed["renewal"], renewed["waiting_ends_on"]) == (True, None)
        assert newcomer["renewal"] is False and newcomer["waiting_ends_on"] is not None


class TestWholeBatchRefusals:
    async def test_refusals_that_would_hit_every_row_refuse_the_batch(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        rows = [{"national_id": bulk_national_ids(1)[0], "name": "王芳", "shares": 1}]

        async def refused(code, **extra):
            body = {"unit_id": unit, "plan_code": "MED-2026", "rows": rows, **extra}
            response = await members.post("/api/v1/enrollments/batch", json=body, headers=ADMIN)
            assert response.status_code == 422, response.text
            assert response.json()["code"] == code

        await refused("enrolment_closed", enrolled_on=str(TODAY - timedelta(days=31)))
        await refused("starts_on_before_cover", starts_on=str(TODAY - timedelta(days=11)))
        patched = await members.patch(
            f"/api/v1/units/{unit}", json={"active": False}, headers=ADMIN
        )
        assert patched.status_code == 200
        await refused("unit_inactive")
        assert (await post_batch(members, unit, "NOPE-2026", rows)).status_code == 404
        assert await enrolments(members) == []

    async def test_an_admin_may_date_the_batch(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        body = {
            "unit_id": unit,
            "plan_code": "MED-2026",
            "rows": [{"national_id": bulk_national_ids(1)[0], "name": "王芳", "shares": 1}],
            "enrolled_on": str(TODAY - timedelta(days=20)),
            "starts_on": str(TODAY - timedelta(days=10)),
        }
        answer = (await members.post("/api/v1/enrollments/batch", json=body, headers=ADMIN)).json()
        assert answer["starts_on"] == str(TODAY - timedelta(days=10))
        [enrolment] = await enrolments(members)
        assert enrolment["enrolled_on"] == body["enrolled_on"]
        assert enrolment["starts_on"] == body["starts_on"]

    async def test_more_than_200000_rows_are_refused(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        response = await post_batch(members, unit, "MED-2026", [{}] * 200_001)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["rows"]

    async def test_a_batch_over_the_2_mib_limit_of_other_routes_is_accepted(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        padding = "x" * (3 * 1024 * 1024)
        rows = [
            {"national_id": bulk_national_ids(1)[0], "name": "王芳", "shares": 1, "note": padding}
        ]
        response = await post_batch(members, unit, "MED-2026", rows)
        assert response.status_code == 200, response.text[:500]
        assert fields(response.json()["results"][0]) == ["note"]
        too_big = await members.post(
            "/api/v1/units", json={"name": "x", "contact_name": padding}, headers=ADMIN
        )
        assert too_big.status_code == 413

    async def test_a_declared_body_over_200_mib_is_refused_before_it_is_read(self, members_app):
        sent = []

        async def receive():
            raise AssertionError("the body was read")

        async def send(message):
            sent.append(message)

        for path in ("/api/v1/enrollments/batch", "/api/v1/enrollments/import"):
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(MAX_UPLOAD_BYTES + 1).encode()),
                (b"authorization", ADMIN["Authorization"].encode()),
            ]
            scope = {
                "type": "http",
                "method": "POST",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "headers": headers,
                "http_version": "1.1",
                "scheme": "http",
                "server": ("members", 80),
                "client": ("tests", 1),
                "root_path": "",
            }
            sent.clear()
            await members_app(scope, receive, send)
            assert sent[0]["status"] == 413
            assert (b"content-type", b"application/problem+json") in sent[0]["headers"]


class TestHr:
    async def test_hr_enrols_its_own_units_workers(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        hr = bearer("hr", unit_id=unit)
        rows = [{"national_id": n, "name": "王芳", "shares": 1} for n in bulk_national_ids(2)]
        answer = (await post_batch(members, unit, "MED-2026", rows, headers=hr)).json()
        assert answer["totals"]["enrolled"] == 2
        member = await members.get(
            f"/api/v1/members/{answer['results'][0]['member_id']}", headers=hr
        )
        assert member.status_code == 200 and member.json()["unit_id"] == unit

    async def test_another_units_worker_is_a_row_error_for_hr(self, members):
        own, other = await new_unit(members, "Own"), await new_unit(members, "Other")
        await new_plan(members, "MED-2026", **open_plan())
        stranger = await new_member(members, other)
        number = (await members.get(f"/api/v1/members/{stranger}", headers=ADMIN)).json()[
            "national_id"
        ]
        rows = [
            {"national_id": number, "name": "王芳", "shares": 1},
            {"national_id": bulk_national_ids(1)[0], "name": "李娜", "shares": 1},
        ]
        answer = await post_batch(members, own, "MED-2026", rows, headers=bearer("hr", unit_id=own))
        results = by_row(answer.json())
        assert codes(results[1]) == ["member_in_other_unit"]
        assert "member_id" not in results[1]
        assert results[2]["status"] == "ok"

    async def test_hr_cannot_use_another_unit_date_a_batch_or_reviewers_enrol(self, members):
        own, other = await new_unit(members, "Own"), await new_unit(members, "Other")
        await new_plan(members, "MED-2026", **open_plan())
        hr = bearer("hr", unit_id=own)
        rows = [{"national_id": bulk_national_ids(1)[0], "name": "王芳", "shares": 1}]
        assert (await post_batch(members, other, "MED-2026", rows, headers=hr)).status_code == 404
        dated = {"unit_id": own, "plan_code": "MED-2026", "rows": rows, "enrolled_on": str(TODAY)}
        response = await members.post("/api/v1/enrollments/batch", json=dated, headers=hr)
        assert response.status_code == 403
        assert (
            await post_batch(members, own, "MED-2026", rows, headers=REVIEWER)
        ).status_code == 403
        assert await enrolments(members) == []


class TestAudit:
    async def test_one_audit_event_records_the_batch(self, members, members_app):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        rows = [{"national_id": n, "name": "王芳", "shares": 1} for n in bulk_national_ids(3)]
        rows.append({"national_id": "nonsense", "name": "王芳", "shares": 1})
        answer = (await post_batch(members, unit, "MED-2026", rows)).json()
        table = audit_event
        query = select(table.c.action, table.c.entity_id, table.c.after).where(
            table.c.entity == "enrollment_batch"
        )
        async with members_app.state.database.sessions() as session:
            [(action, entity_id, after)] = (await session.execute(query)).all()
            everything = (await session.execute(select(table.c.id))).all()
        assert (action, entity_id) == ("enrollment.batch", answer["batch_id"])
        assert after["totals"] == answer["totals"] and after["row_range"] == [1, 4]
        assert (after["unit_id"], after["plan_code"], after["source"]) == (unit, "MED-2026", "json")
        # the unit and the plan, then the batch: no event per row
        assert len(everything) == 3
