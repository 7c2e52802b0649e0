"""A date the registry's arithmetic cannot hold (a plan's cover, an enrolment's start, a
leaving date, a coverage question near year 9999) is a 422 naming its field, never a 500."""

import pytest

from tests.support import ADMIN, enrol, new_member, new_plan, new_unit, plan_body

FAR_OFF = ["9999-12-31", "9998-06-01", "2200-01-01", "1899-12-31"]


def names(response, field: str) -> bool:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [field] in [error["loc"] for error in response.json()["errors"]]


@pytest.mark.parametrize("bad", FAR_OFF)
@pytest.mark.parametrize("field", ["coverage_start", "coverage_end", "enrol_from", "enrol_until"])
async def test_a_plan_date_far_off_is_a_422_naming_it(members, field, bad):
    body = plan_body("FAR-2026") | {field: bad}
    assert names(await members.post("/api/v1/plans", json=body, headers=ADMIN), field)


@pytest.mark.parametrize("bad", FAR_OFF)
async def test_an_enrolment_start_far_off_is_a_422_naming_it(members, bad):
    await new_plan(members, "FAR-2026")
    member = await new_member(members, await new_unit(members))
    assert names(await enrol(members, member, "FAR-2026", starts_on=bad), "starts_on")


@pytest.mark.parametrize("bad", FAR_OFF)
async def test_a_leaving_date_far_off_is_a_422_naming_it(members, bad):
    member = await new_member(members, await new_unit(members))
    body = {"status": "left", "left_on": bad}
    response = await members.patch(f"/api/v1/members/{member}", json=body, headers=ADMIN)
    assert names(response, "left_on")


@pytest.mark.parametrize("bad", FAR_OFF)
async def test_a_coverage_question_far_off_is_a_422_naming_it(members, bad):
    await new_plan(members, "FAR-2026")
    member = await new_member(members, await new_unit(members))
    params = {"member_id": member, "plan_code": "FAR-2026", "on": bad}
    response = await members.get("/api/v1/coverage", params=params, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert "on" in str(response.json()["errors"])
