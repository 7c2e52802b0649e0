import pytest
from stdnum.cn import uscc

from tests.support import ADMIN, bearer, credit_code


class TestCreateUnit:
    async def test_admin_registers_a_unit_and_reads_it_back(self, members):
        code = credit_code()
        created = await members.post(
            "/api/v1/units",
            json={"name": "呼和浩特市第一医院", "credit_code": code, "insured_headcount": 120},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        unit = created.json()
        assert unit["credit_code"] == code and unit["active"] is True
        fetched = await members.get(f"/api/v1/units/{unit['id']}", headers=ADMIN)
        assert fetched.json()["name"] == "呼和浩特市第一医院"

    async def test_wrong_credit_code_check_character_is_refused_naming_the_field(self, members):
        code = credit_code()
        wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
        response = await members.post(
            "/api/v1/units", json={"name": "X", "credit_code": wrong}, headers=ADMIN
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["credit_code"]

    # GB 32100 has letters in the first two places too: N (agriculture), Y (other authorities)
    @pytest.mark.parametrize("start", ["N2", "Y1", "91"])
    async def test_a_credit_code_led_by_letters_is_taken(self, members, start):
        body = f"{start}150102MA0N1234X"
        code = body + uscc.calc_check_digit(body + "0")
        response = await members.post(
            "/api/v1/units", json={"name": "X", "credit_code": code.lower()}, headers=ADMIN
        )
        assert response.status_code == 201, response.text
        assert response.json()["credit_code"] == code

    async def test_same_idempotency_key_returns_the_first_unit(self, members):
        headers = {**ADMIN, "Idempotency-Key": "unit-1"}
        first = await members.post("/api/v1/units", json={"name": "A"}, headers=headers)
        again = await members.post("/api/v1/units", json={"name": "A"}, headers=headers)
        other = await members.post("/api/v1/units", json={"name": "B"}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert other.status_code == 422
        listed = await members.get("/api/v1/units", headers=ADMIN)
        assert len(listed.json()["items"]) == 1

    async def test_hr_cannot_create_units(self, members):
        response = await members.post(
            "/api/v1/units", json={"name": "A"}, headers=bearer("hr", unit_id="unt_x")
        )
        assert response.status_code == 403


class TestUnitScoping:
    async def test_hr_sees_only_its_own_unit_and_others_are_404(self, members):
        own = (await members.post("/api/v1/units", json={"name": "Own"}, headers=ADMIN)).json()
        other = (await members.post("/api/v1/units", json={"name": "Other"}, headers=ADMIN)).json()
        hr = bearer("hr", unit_id=own["id"])
        listed = await members.get("/api/v1/units", headers=hr)
        assert [u["id"] for u in listed.json()["items"]] == [own["id"]]
        assert (await members.get(f"/api/v1/units/{other['id']}", headers=hr)).status_code == 404

    async def test_missing_token_is_401_problem(self, members):
        response = await members.get("/api/v1/units")
        assert response.status_code == 401
        assert response.json()["status"] == 401


class TestUnitBadInput:
    async def test_null_name_in_patch_is_refused_naming_the_field(self, members):
        unit = (await members.post("/api/v1/units", json={"name": "A"}, headers=ADMIN)).json()
        response = await members.patch(
            f"/api/v1/units/{unit['id']}", json={"name": None}, headers=ADMIN
        )
        assert response.status_code == 422
        assert "name" in response.json()["detail"]
        again = await members.get(f"/api/v1/units/{unit['id']}", headers=ADMIN)
        assert again.json()["name"] == "A"

    async def test_a_nul_in_the_path_is_404_not_a_crash(self, members):
        response = await members.get("/api/v1/units/a%00b", headers=ADMIN)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_a_nul_in_a_name_is_refused(self, members):
        response = await members.post("/api/v1/units", json={"name": "A\u0000B"}, headers=ADMIN)
        assert response.status_code == 422

    async def test_timestamps_are_utc_on_every_database(self, members):
        unit = (await members.post("/api/v1/units", json={"name": "A"}, headers=ADMIN)).json()
        fetched = (await members.get(f"/api/v1/units/{unit['id']}", headers=ADMIN)).json()
        assert fetched["created_at"].endswith("Z")
