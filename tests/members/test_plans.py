import json
from copy import deepcopy
from pathlib import Path

import pytest

from tests.claims.support_claims import (
    JAN_1,
    Enrolled,
    day,
    enrol,
    file_claim,
    hospital_stay,
    new_member,
    new_unit,
)
from tests.support import ADMIN, AUDITOR, bearer, new_plan, plan_body

KINDS = ("hospital_reimbursement", "fixed_benefit", "daily_allowance")


def short_form(code, kind="hospital_reimbursement", **overrides):
    """A plan body as DOMAIN.md writes it: the kind said once, at the plan's level."""
    body = plan_body(code, kind, **overrides)
    body["benefit"] = {key: value for key, value in body["benefit"].items() if key != "kind"}
    return body


def hospital(**benefit_changes):
    body = plan_body("MED-2026")
    body["benefit"] = {**deepcopy(body["benefit"]), **benefit_changes}
    return body


async def refused_at(members, body):
    response = await members.post("/api/v1/plans", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


class TestCreatePlan:
    async def test_hospital_plan_reads_back_with_money_as_strings(self, members):
        created = await new_plan(members, "MED-2026")
        fetched = await members.get(
            "/api/v1/plans/MED-2026", headers=bearer("member", member_id="m")
        )
        assert fetched.status_code == 200
        plan = fetched.json()
        assert plan == created
        assert (plan["code"], plan["line"], plan["kind"]) == (
            "MED-2026",
            "MED",
            "hospital_reimbursement",
        )
        assert plan["contribution_per_share"] == "36.00"
        assert plan["benefit"]["threshold"] == "1000.00"
        assert plan["benefit"]["bands"][1] == {"above": "5000.00", "ratio": "0.6"}
        assert plan["benefit"]["per_stay_cap_per_share"] == "10000.00"
        assert len(plan["rules_version"]) == 16

    async def test_fixed_benefit_plan_reads_back_with_conditions_and_eligibility(self, members):
        await new_plan(members, "WOMEN-2026", "fixed_benefit")
        plan = (await members.get("/api/v1/plans/WOMEN-2026", headers=AUDITOR)).json()
        assert plan["kind"] == "fixed_benefit"
        assert plan["benefit"]["fixed_extra"] == "2000.00"
        assert plan["benefit"]["conditions"][0]["amount_per_share"] == "10000.00"
        assert plan["eligibility"] == {"sex": "F", "min_age": 16, "max_age": 60}

    async def test_daily_allowance_plan_reads_back(self, members):
        await new_plan(members, "DAY-2026", "daily_allowance")
        plan = (await members.get("/api/v1/plans/DAY-2026", headers=ADMIN)).json()
        assert plan["benefit"]["amount_per_day_per_share"] == "50.00"
        assert plan["benefit"]["from_day"] == 4

    async def test_same_rules_have_the_same_version_and_other_rules_another(self, members):
        first = await new_plan(members, "MED-2026")
        same = await new_plan(members, "MEDB-2026", line="MED")
        other = await new_plan(members, "MEDC-2026", waiting_days=30)
        assert first["rules_version"] == same["rules_version"] != other["rules_version"]

    async def test_a_second_plan_with_the_same_code_is_a_409(self, members):
        await new_plan(members, "MED-2026")
        again = await members.post("/api/v1/plans", json=plan_body("MED-2026"), headers=ADMIN)
        assert again.status_code == 409
        assert again.json()["code"] == "plan_exists"

    async def test_only_an_admin_creates_plans(self, members):
        hr = bearer("hr", unit_id="unt_x")
        response = await members.post("/api/v1/plans", json=plan_body("MED-2026"), headers=hr)
        assert response.status_code == 403

    async def test_same_idempotency_key_returns_the_first_plan(self, members):
        headers = {**ADMIN, "Idempotency-Key": "plan-1"}
        first = await members.post("/api/v1/plans", json=plan_body("MED-2026"), headers=headers)
        again = await members.post("/api/v1/plans", json=plan_body("MED-2026"), headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()

    async def test_plan_creation_is_in_the_audit_log(self, members, members_app):
        from sqlalchemy import select

        from members_api.models import audit_event

        await new_plan(members, "MED-2026")
        async with members_app.state.database.sessions() as session:
            rows = (await session.execute(select(audit_event))).all()
        assert [(row.action, row.entity_id) for row in rows] == [("plan.create", "MED-2026")]


class TestKindSaidOnce:
    @pytest.mark.parametrize("kind", KINDS)
    async def test_a_benefit_without_its_own_kind_takes_the_plans(self, members, kind):
        response = await members.post("/api/v1/plans", json=short_form("P-1", kind), headers=ADMIN)
        assert response.status_code == 201, response.text
        fetched = (await members.get("/api/v1/plans/P-1", headers=AUDITOR)).json()
        # answered as before: the rules still say their kind, for clients and the claims service
        assert fetched == response.json()
        assert fetched["kind"] == fetched["benefit"]["kind"] == kind

    async def test_the_short_and_the_long_form_are_the_same_rules(self, members):
        short = await members.post("/api/v1/plans", json=short_form("P-1"), headers=ADMIN)
        long = await new_plan(members, "P-2")
        assert short.json()["rules_version"] == long["rules_version"]

    @pytest.mark.parametrize(
        ("example", "kind"),
        [
            ("plan-med-2026.json", "hospital_reimbursement"),
            ("plan-women-2026.json", "fixed_benefit"),
            ("plan-day-2026.json", "daily_allowance"),
        ],
    )
    async def test_the_readmes_example_plans_are_taken_as_written(self, members, example, kind):
        body = json.loads((Path(__file__).parents[2] / "examples" / example).read_text())
        assert "kind" not in body["benefit"]
        response = await members.post("/api/v1/plans", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        assert response.json()["benefit"]["kind"] == kind
        assert response.json()["required_documents"] == body["required_documents"]

    def test_the_request_schema_lets_benefit_leave_out_its_kind(self, members_app):
        schemas = members_app.openapi()["components"]["schemas"]
        benefit = schemas["PlanCreate"]["properties"]["benefit"]
        assert "discriminator" not in benefit
        for rules in benefit["oneOf"]:
            rules_schema = schemas[rules["$ref"].rsplit("/", 1)[1]]
            assert "kind" in rules_schema["properties"]
            assert "kind" not in rules_schema.get("required", [])

    async def test_a_benefit_kind_that_disagrees_is_refused_naming_benefit_kind(self, members):
        body = plan_body("P-1")
        body["benefit"]["kind"] = "daily_allowance"
        response = await members.post("/api/v1/plans", json=body, headers=ADMIN)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["loc"] == ["benefit", "kind"]
        assert "hospital_reimbursement" in error["msg"]
        assert (await members.get("/api/v1/plans/P-1", headers=ADMIN)).status_code == 404

    async def test_the_claims_service_assesses_a_claim_under_a_short_form_plan(self, api):
        response = await api.post("/api/v1/plans", json=short_form("MED-2026"), headers=ADMIN)
        assert response.status_code == 201, response.text
        unit_id = await new_unit(api)
        member_id = await new_member(api, unit_id)
        enrollment = await enrol(api, member_id, "MED-2026", starts_on=JAN_1)
        worker = Enrolled(unit_id, member_id, "MED-2026", enrollment["id"], 1)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        # 7500.00 out of pocket: 5000 x 50% + 2500 x 60%
        assert claim["assessment"]["payable"] == "4000.00"
        assert claim["status"] == "pending_review"


class TestPlanValidationNamesTheField:
    async def test_first_band_not_starting_at_zero(self, members):
        body = hospital(bands=[{"above": "100", "ratio": "0.5"}])
        assert await refused_at(members, body) == [["benefit", "bands"]]

    async def test_bands_not_ascending(self, members):
        bands = [{"above": "0", "ratio": "0.5"}, {"above": "5000", "ratio": "0.6"}]
        body = hospital(bands=[*bands, {"above": "4000", "ratio": "0.7"}])
        assert await refused_at(members, body) == [["benefit", "bands"]]

    async def test_benefit_of_another_kind_than_the_plan(self, members):
        body = plan_body("MED-2026", kind="fixed_benefit")
        body["eligibility"] = {}
        body["benefit"] = plan_body("X-1")["benefit"]
        assert await refused_at(members, body) == [["benefit", "kind"]]

    async def test_negative_amount(self, members):
        body = hospital(per_stay_cap_per_share="-1")
        assert await refused_at(members, body) == [["benefit", "per_stay_cap_per_share"]]

    async def test_ratio_above_one(self, members):
        body = hospital(bands=[{"above": "0", "ratio": "1.5"}])
        assert await refused_at(members, body) == [["benefit", "bands", 0, "ratio"]]

    async def test_unknown_field(self, members):
        body = {**plan_body("MED-2026"), "refund_policy": "none"}
        assert await refused_at(members, body) == [["refund_policy"]]

    async def test_cover_ending_before_it_starts(self, members):
        body = plan_body("MED-2026", coverage_start="2026-12-31", coverage_end="2026-01-01")
        assert await refused_at(members, body) == [["coverage_end"]]


class TestCoverRequiresPayment:
    async def test_a_plan_that_does_not_say_reads_false_and_keeps_its_rules_version(self, members):
        silent = await new_plan(members, "MED-2026")
        said_false = await new_plan(members, "MEDB-2026", line="MED", cover_requires_payment=False)
        gated = await new_plan(members, "MEDC-2026", line="MED", cover_requires_payment=True)
        assert silent["cover_requires_payment"] is said_false["cover_requires_payment"] is False
        assert silent["rules_version"] == said_false["rules_version"]
        fetched = (await members.get("/api/v1/plans/MEDC-2026", headers=AUDITOR)).json()
        assert fetched["cover_requires_payment"] is True
        assert gated["rules_version"] != silent["rules_version"]

    @pytest.mark.parametrize("value", ["yes", 1, None])
    async def test_anything_but_true_or_false_is_refused_naming_the_field(self, members, value):
        body = plan_body("MED-2026", cover_requires_payment=value)
        assert await refused_at(members, body) == [["cover_requires_payment"]]


class TestListPlans:
    async def test_plans_are_paged_and_filtered_by_line(self, members):
        for code in ("MED-2025", "MED-2026", "WOMEN-2026"):
            await new_plan(
                members, code, "fixed_benefit" if code.startswith("W") else "hospital_reimbursement"
            )
        first = await members.get("/api/v1/plans?limit=2", headers=ADMIN)
        rest = await members.get(
            f"/api/v1/plans?limit=2&cursor={first.json()['next_cursor']}", headers=ADMIN
        )
        codes = [p["code"] for p in first.json()["items"] + rest.json()["items"]]
        assert codes == ["MED-2025", "MED-2026", "WOMEN-2026"]
        assert rest.json()["next_cursor"] is None
        med = await members.get("/api/v1/plans?line=MED", headers=bearer("hr", unit_id="u"))
        assert [p["code"] for p in med.json()["items"]] == ["MED-2025", "MED-2026"]

    async def test_unknown_plan_is_404(self, members):
        assert (await members.get("/api/v1/plans/NOPE-1", headers=ADMIN)).status_code == 404
