"""The registry's OpenAPI document states what its routes take, so that a client generated
from it sends what the service accepts (tests/test_fuzz.py sends schemathesis' cases)."""

import re
from typing import Any

import pytest

from members_api.app import create_app
from tests.support import credit_code, national_id


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return create_app().openapi()["components"]["schemas"]


def test_identity_numbers_and_credit_codes_have_their_shape_and_say_what_is_verified(schemas):
    number = schemas["MemberCreate"]["properties"]["national_id"]
    code = schemas["UnitCreate"]["properties"]["credit_code"]["anyOf"][0]
    for field, valid in ((number, national_id()), (code, credit_code())):
        assert (field["minLength"], field["maxLength"]) == (18, 18)
        assert re.fullmatch(field["pattern"], valid)
        assert "verified" in field["description"]
    assert not re.fullmatch(number["pattern"], "110105198513150022")  # no 13th month


def test_a_field_that_may_be_left_out_but_not_null_is_not_nullable(schemas):
    for model, fields in (
        ("MemberUpdate", ("name", "unit_id", "status")),
        ("UnitUpdate", ("name", "insured_headcount", "active")),
    ):
        for name in fields:
            field = schemas[model]["properties"][name]
            assert "anyOf" not in field and "default" not in field, (model, name)
            assert name not in schemas[model].get("required", [])


def test_a_plans_kind_decides_its_benefit_rules_in_the_document(schemas):
    choices = schemas["PlanCreate"]["oneOf"]
    assert [choice["properties"]["kind"]["const"] for choice in choices] == [
        "hospital_reimbursement",
        "fixed_benefit",
        "daily_allowance",
    ]
    rules = [choice["properties"]["benefit"]["$ref"].rsplit("/", 1)[1] for choice in choices]
    assert rules == [
        "HospitalReimbursementRules-Input",
        "FixedBenefitRules-Input",
        "DailyAllowanceRules",
    ]
