"""Schema fuzzing of both services with schemathesis, each from its own OpenAPI document.

Every operation is sent generated requests, schema-valid ones and schema-violating ones, as
the role that may call it, a bounded number of examples each; every answer must be no 5xx, a
status the operation documents, with the documented media type, body schema and headers. A
third pass puts the ids of records seeded through the API (a unit, a plan, a worker, an
enrolment, claims in several states, a payout batch) into the paths, queries and bodies, so
that the success answers are checked too, not only the 404s of random ids.

One backend is enough here: Postgres, the production database. The inputs do not depend on
the backend, and the rest of the suite runs every route on SQLite as well.

How it is driven: the apps' connection pools, and the claims → registry in-process transport,
live on the test session's event loop, so the cases cannot go through schemathesis' own ASGI
transport (a starlette TestClient: another thread with another loop, and it would run the
apps' lifespan a second time). Hypothesis runs in a worker thread; each case is serialised by
schemathesis, sent on the session loop with httpx, and checked with `case.validate_response`.

`MUTUALAID_FUZZ_EXAMPLES` (default 25) is the examples per operation and pass;
`MUTUALAID_FUZZ_RANDOM=1` draws new inputs each run instead of the same reproducible ones."""

import asyncio
import os
import time
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.transport.requests import REQUESTS_TRANSPORT

from tests.claims.support_claims import (
    approved_claim,
    day,
    decide,
    enrolled_member,
    file_claim,
    hospital_stay,
    pay,
)
from tests.support import ADMIN, FINANCE, REVIEWER

EXAMPLES = int(os.environ.get("MUTUALAID_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("MUTUALAID_FUZZ_RANDOM") == "1"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
KEPT_PER_OPERATION = 3  # distinct failures reported per operation
# The operations an independent trial found "mostly rejected generated data" from: the
# constraints a client must meet are in the document, so what it generates is taken...
CONSTRAINED = frozenset(
    {
        ("POST", "/api/v1/units"),
        ("POST", "/api/v1/members"),
        ("PATCH", "/api/v1/members/{member_id}"),
        ("POST", "/api/v1/plans"),
        ("POST", "/api/v1/enrollments"),
        ("POST", "/api/v1/enrollments/import"),
        ("POST", "/api/v1/enrollments/{enrollment_id}/cancel"),
        ("GET", "/api/v1/reports/enrollment"),
    }
)
# ... but for what a schema cannot say (its description does): a check digit, a day that is
# not in the calendar, one field against another. A refusal naming only these is expected.
NOT_IN_A_SCHEMA = (
    "check digit",
    "check character",
    "no such birth date",
    "give plan_code, or line and year",
    "coverage_end is before coverage_start",
    "enrol_until is before enrol_from",
    "enrol_from is after coverage_end",
    "reduced_days must not be shorter than waiting_days",
    "min_age is above max_age",
    "bands: the first band must start above 0",
    "bands: each band must start above the previous one",
    "is listed twice",
    "is listed under both",
    "already used with a different request body",  # a key sent before, another body
)

# Who calls what: admin, except where only another role may act (an admin would only ever be
# answered 403 there, and the operation's real work would go unfuzzed).
ROLE_OF: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/v1/claims/{claim_id}/decision"): REVIEWER,
    ("POST", "/api/v1/payouts"): FINANCE,
    ("POST", "/api/v1/payouts/{batch_id}/reversal"): FINANCE,
}
BODY_IDS = ("member_id", "plan_code", "unit_id", "claim_ids")  # aimed at seeded records

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def seed(api: httpx.AsyncClient) -> dict[str, Any]:
    """Records for the aimed pass, made through the public API: name -> value or values."""
    worker = await enrolled_member(api)
    paid = await approved_claim(api, worker, hospital_stay(day(3, 2)))
    approved = await approved_claim(api, worker, hospital_stay(day(5, 2)))
    pending = await file_claim(api, worker, hospital_stay(day(7, 2)))
    asked = await file_claim(api, worker, hospital_stay(day(9, 2)))
    response = await decide(api, asked["id"], "request_info", "the discharge summary, please")
    assert response.status_code == 200, response.text
    response = await pay(api, [paid["id"]])
    assert response.status_code == 201, response.text
    return {
        "unit_id": worker.unit_id,
        "member_id": worker.member_id,
        "plan_code": worker.plan_code,
        "code": worker.plan_code,
        "line": worker.plan_code.rsplit("-", 1)[0],
        "enrollment_id": worker.enrollment_id,
        "claim_id": [pending["id"], asked["id"], approved["id"], paid["id"]],
        "claim_ids": [approved["id"]],
        "batch_id": response.json()["id"],
    }


class Fuzzer:
    """Sends schemathesis' cases for one app from a worker thread, on the session loop."""

    base_url = "http://fuzzed"

    def __init__(self, app: FastAPI, loop: asyncio.AbstractEventLoop) -> None:
        # An unhandled error's 500 is an answer to check, not an exception of the transport.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url=self.base_url)
        self.schema = schemathesis.openapi.from_dict(app.openapi())
        self.loop = loop
        self.failures: dict[str, dict[tuple[Any, ...], str]] = {}
        self.statuses: dict[str, set[int]] = {}
        self.sent = 0
        self.checks = CHECKS

    def run(self, seeds: dict[str, Any]) -> None:
        for result in self.schema.get_all_operations():
            operation = result.ok()
            headers = ROLE_OF.get((operation.method.upper(), operation.path), ADMIN)
            self.fuzz(operation, operation.as_strategy(), headers)
            if any(True for _ in operation.iter_parameters()) or len(operation.body):
                negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
                self.fuzz(operation, negative, headers)
            aimed = self.aimed_strategy(operation, seeds)
            if aimed is not None:
                self.fuzz(operation, aimed, headers, seeds)

    def run_positive(self, operations: frozenset[tuple[str, str]]) -> None:
        """Only schema-valid cases, only for these operations."""
        for result in self.schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in operations:
                self.fuzz(operation, operation.as_strategy(), ADMIN)

    def aimed_strategy(self, operation: Any, seeds: dict[str, Any]) -> Any:
        """Schema-valid cases whose path and query ids are seeded records."""
        choices: list[dict[tuple[str, str], Any]] = [{}]
        for parameter in operation.iter_parameters():
            if parameter.name in seeds and parameter.location in ("path", "query"):
                value = seeds[parameter.name]
                key = (parameter.location, parameter.name)
                values = value if isinstance(value, list) else [value]
                choices = [{**choice, key: v} for choice in choices for v in values]
        if choices == [{}] and not len(operation.body):
            return None  # nothing to aim
        strategies = []
        for choice in choices:
            path = {name: v for (where, name), v in choice.items() if where == "path"}
            query = {name: v for (where, name), v in choice.items() if where == "query"}
            strategies.append(
                operation.as_strategy(path_parameters=path or None, query=query or None)
            )
        return st.one_of(strategies)

    def fuzz(
        self,
        operation: Any,
        strategy: Any,
        headers: dict[str, str],
        seeds: dict[str, Any] | None = None,
    ) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=not RANDOM,
            phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def test(case: Any) -> None:
            if seeds is not None and isinstance(case.body, dict):
                for name in BODY_IDS:
                    if name in case.body and name in seeds:
                        case.body[name] = seeds[name]
            self.check(operation.label, case, headers)

        test()

    def check(self, label: str, case: Any, headers: dict[str, str]) -> None:
        response = self.send(case, headers)
        self.statuses.setdefault(label, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=self.checks, headers=headers)
        except (Exception, BaseExceptionGroup) as failure:  # the checks' verdicts, with curl
            found = getattr(failure, "exceptions", (failure,))
            if all(refused_for_what_no_schema_says(f, response) for f in found):
                return
            kind = (
                response.status_code,
                *sorted(type(f).__name__ for f in found),
                *refused_fields(response),
            )
            kept = self.failures.setdefault(label, {})
            if len(kept) < KEPT_PER_OPERATION and kind not in kept:
                kept[kind] = f"{failure}\n(X-Request-ID {response.headers.get('x-request-id')})"

    def send(self, case: Any, headers: dict[str, str]) -> httpx.Response:
        """The request schemathesis' requests transport would send, sent with httpx."""
        kwargs = REQUESTS_TRANSPORT.serialize_case(case, base_url=self.base_url, headers=headers)
        prepared = requests.Request(
            method=kwargs["method"],
            url=kwargs["url"],
            headers=kwargs["headers"],
            params=kwargs.get("params"),
            cookies=kwargs.get("cookies"),
            json=kwargs.get("json"),
            data=kwargs.get("data"),
            files=kwargs.get("files"),
        ).prepare()
        request = self.client.build_request(
            prepared.method or "GET",
            prepared.url or "",
            headers=dict(prepared.headers),
            content=prepared.body,
        )
        self.sent += 1
        return asyncio.run_coroutine_threadsafe(self.client.send(request), self.loop).result(60)


def refused_fields(response: httpx.Response) -> list[str]:
    """The fields a 422 names, so that each refused field is reported once."""
    if response.status_code != 422:
        return []
    return sorted(".".join(map(str, e["loc"])) for e in response.json().get("errors") or [])


def refused_for_what_no_schema_says(failure: Exception, response: httpx.Response) -> bool:
    if not isinstance(failure, RejectedPositiveData):
        return False
    if response.status_code in (413, 415) and "file" in str(response.json().get("detail")):
        return True  # an uploaded file's type (told by its bytes) and inflated size
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or [{"msg": response.json()["detail"]}]
    return all(any(reason in error["msg"] for reason in NOT_IN_A_SCHEMA) for error in errors)


async def fuzz(app: FastAPI, seeds: dict[str, Any]) -> None:
    fuzzer = Fuzzer(app, asyncio.get_running_loop())
    started = time.monotonic()
    try:
        await asyncio.to_thread(fuzzer.run, seeds)
    finally:
        await fuzzer.client.aclose()
    print(f"\n{app.title}: {fuzzer.sent} requests in {time.monotonic() - started:.0f} s")
    for label, statuses in sorted(fuzzer.statuses.items()):
        print(f"  {label}: {sorted(statuses)}")
    report = [
        f"--- {label}\n" + "\n\n".join(found.values())
        for label, found in sorted(fuzzer.failures.items())
    ]
    assert not report, f"{len(report)} operation(s) failed:\n" + "\n".join(report)


async def test_the_registry_answers_as_its_openapi_says(
    api: httpx.AsyncClient, members_app: FastAPI
) -> None:
    await fuzz(members_app, await seed(api))


async def test_the_claims_service_answers_as_its_openapi_says(
    api: httpx.AsyncClient, claims_app: FastAPI
) -> None:
    await fuzz(claims_app, await seed(api))


async def test_schema_valid_data_is_taken_by_the_operations_that_refused_it(
    api: httpx.AsyncClient, members_app: FastAPI
) -> None:
    """schemathesis' `positive_data_acceptance`: every case generated from the document,
    sent as admin, is taken (or answered 404 for the random ids it names)."""
    fuzzer = Fuzzer(members_app, asyncio.get_running_loop())
    fuzzer.checks = [checks.positive_data_acceptance]
    try:
        await asyncio.to_thread(fuzzer.run_positive, CONSTRAINED)
    finally:
        await fuzzer.client.aclose()
    report = [
        f"--- {label}\n" + "\n\n".join(found.values())
        for label, found in sorted(fuzzer.failures.items())
    ]
    assert not report, f"{len(report)} operation(s) refused valid data:\n" + "\n".join(report)
