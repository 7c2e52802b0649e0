"""The OpenAPI documents say what the services answer (services.kit.openapi), and the schema
fuzzing's findings (tests/test_fuzz.py) stay fixed: each one here as the request that found it."""

import pytest

from claims_api.app import create_app as create_claims_app
from members_api.app import create_app as create_members_app
from tests.support import ADMIN, AUDITOR, plan_body

PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}


@pytest.mark.parametrize("create_app", [create_members_app, create_claims_app])
def test_every_error_answer_is_documented_as_a_problem(create_app):
    document = create_app().openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {status for status in responses if status[0] in "45"}
            if operation.get("security"):
                assert {"401", "403"} <= errors, f"{method} {path}"
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in errors, f"{method} {path}"
            for status in errors:
                content = responses[status]["content"]
                assert list(content) == ["application/problem+json"], status
                problem = content["application/problem+json"]
                assert problem["schema"] == PROBLEM, status
                assert set(problem) <= {"schema", "examples"}, status


def test_creating_posts_document_the_idempotency_key():
    operation = create_members_app().openapi()["paths"]["/api/v1/units"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= operation["parameters"][0].items()


def test_only_the_routes_that_ask_the_registry_answer_504():
    paths = create_claims_app().openapi()["paths"]
    assert "504" in paths["/api/v1/claims"]["post"]["responses"]
    assert "504" in paths["/api/v1/claims/quote"]["post"]["responses"]
    assert "504" in paths["/api/v1/payouts"]["post"]["responses"]  # the payout accounts
    assert "504" not in paths["/api/v1/payouts/{batch_id}/reversal"]["post"]["responses"]
    assert "504" not in paths["/api/v1/payouts/{batch_id}/bank-result"]["post"]["responses"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/units?q=%00",
        "/api/v1/reports/enrollment?plan_code=a%00b",
        "/api/v1/audit-events?entity_id=%00",
        "/api/v1/claims?plan_code=%00",
    ],
)
async def test_a_nul_in_a_query_is_422_before_postgres_refuses_it(api, url):
    response = await api.get(url, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    name = url.split("?")[1].split("=")[0]
    assert response.json()["errors"] == [
        {"loc": ["query", name], "msg": "must not contain NUL characters"}
    ]


async def test_an_amount_with_more_digits_than_decimal_holds_is_422_not_500(api):
    body = plan_body("MED-2026", contribution_per_share="4" * 40 + ".00")
    response = await api.post("/api/v1/plans", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["contribution_per_share"]


async def test_a_claims_report_export_for_a_code_that_is_no_plan_code_is_422(api):
    # It names the exported file: it was a header the server could not encode (500).
    params = {"plan_code": "医疗-2026", "format": "csv"}
    response = await api.get("/api/v1/reports/claims", params=params, headers=AUDITOR)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "plan_code"]
