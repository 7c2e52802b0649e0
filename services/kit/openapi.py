"""What each service's OpenAPI says about its errors: every RFC 9457 `application/problem+json`
answer a route can give is documented on that route, with one `ProblemDetails` schema.

`document_problems(router)` runs on each router before it is included (services.kit.app). It adds
to each route the statuses that follow from what the route takes (auth, input, a body, a
write, the database) and gives every error response the problem schema; a route declares the
statuses only it answers (the registry being down, an unsupported upload) in its own
`responses=`, with a description, and the catalogued problems (services.kit.problems) it can
answer with `problem_responses(...)`: each status then names its codes in its description
and gives one example per code. It also documents the `Idempotency-Key` header.
FastAPI's default 422 (`HTTPValidationError`) is never emitted: our 422 is a problem too."""

import copy
from collections.abc import Iterator
from typing import Any, get_args

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field

from services.kit.database import ReadConnectionDep, SessionDep
from services.kit.idempotency import HEADER, IdempotencyDep
from services.kit.problems import DATABASE_UNAVAILABLE, ProblemType

PROBLEM_JSON = "application/problem+json"
SCHEMA_NAME = "ProblemDetails"
_REF = {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}


class FieldError(BaseModel):
    """One field error: where (`loc`, e.g. `["body", "rows", 3, "national_id"]`) and what."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str | None = None


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error of both services is answered."""

    model_config = ConfigDict(extra="allow", title=SCHEMA_NAME)

    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str | None = Field(default=None, description="the business rule that refused")
    errors: list[FieldError] | None = Field(default=None, description="field errors")


DESCRIPTIONS: dict[int, str] = {
    400: "The body could not be read (malformed multipart or JSON encoding)",
    401: "No bearer token, or an invalid or expired one",
    403: "The caller's role may not do this",
    404: "A record the request names does not exist, or the caller may not see it",
    409: "The change conflicts with stored data, or the same Idempotency-Key is in flight",
    413: "The request body is over the service's limit",
    415: "The media type of the upload is not one this route reads",
    422: "Invalid input (`errors` names the fields), or a business rule refused (`code`)",
    503: "A service this route needs (the database, the member registry) is unavailable",
    504: "A service this route needs did not answer in time",
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# the request's database session, writing or only reading
_SESSIONS = {get_args(dep)[1].dependency for dep in (SessionDep, ReadConnectionDep)}
_IDEMPOTENCY = get_args(IdempotencyDep)[1].dependency
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "A retry with the same key and body gets the first answer again; the same "
    "key with another body is 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def problem_responses(
    *types: ProblemType, described: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: `described` (statuses with their own description) and the
    catalogued problems the route can answer, by status, each code named and exemplified."""
    responses = {key: dict(response) for key, response in (described or {}).items()}
    for problem_type in types:
        response = responses.setdefault(problem_type.status, {})
        _add_example(response, problem_type)
    return responses


def _add_example(response: dict[str, Any], problem_type: ProblemType) -> None:
    content = response.setdefault("content", {}).setdefault(PROBLEM_JSON, {})
    examples = content.setdefault("examples", {})
    if problem_type.code in examples:
        return
    examples[problem_type.code] = {"summary": problem_type.meaning, "value": problem_type.example()}
    description = response.get("description") or DESCRIPTIONS[problem_type.status]
    marker = "; codes: " if "; codes: " not in description else ", "
    response["description"] = f"{description}{marker}`{problem_type.code}`"


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _common_statuses(route: APIRoute) -> set[int]:
    """The problems that follow from what the route takes."""
    dependants = list(_dependants(route.dependant))
    authenticated = any(isinstance(d.call, SecurityBase) for d in dependants)
    params = any(d.path_params or d.query_params or d.header_params for d in dependants)
    body = route.body_field is not None
    statuses: set[int] = set()
    if params or body:
        statuses.add(422)
    if authenticated:
        statuses |= {401, 403}
        if params or body:
            statuses.add(404)
    if any(d.path_params for d in dependants):
        statuses.add(404)  # also a path with control characters (services.kit.middleware)
    if body:
        statuses |= {400, 413}
    if route.methods & _WRITES:
        statuses.add(409)
    if any(d.call in _SESSIONS for d in dependants):
        statuses.add(503)  # the database unreachable (services.kit.db_errors)
    return statuses


def _status_of(key: int | str) -> int | None:
    try:
        return int(key)
    except ValueError:
        return None  # "default", "4XX"


def document_problems(router: APIRouter) -> None:
    """Document the problem answers of every route of `router`, before it is included (an
    inclusion reads the routes' `responses`). Idempotent: the routers are module singletons."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        responses = copy.deepcopy(route.responses)  # a module's dict may serve several routes
        declared = {_status_of(key) for key in responses}
        common = _common_statuses(route)
        for status in sorted(common - declared):
            responses[status] = {"description": DESCRIPTIONS[status]}
        if 503 in common:
            key = next(key for key in responses if _status_of(key) == 503)
            _add_example(responses[key], DATABASE_UNAVAILABLE)
        for key, response in responses.items():
            status = _status_of(key)
            if status is not None and status >= 400 and "model" not in response:
                response.setdefault("description", DESCRIPTIONS.get(status, "A problem"))
                content = dict(response.get("content") or {})
                content[PROBLEM_JSON] = {"schema": _REF, **content.get(PROBLEM_JSON, {})}
                response["content"] = content
        route.responses = dict(sorted(responses.items(), key=lambda item: str(item[0])))
        if any(d.call is _IDEMPOTENCY for d in _dependants(route.dependant)):
            _document_idempotency_key(route)


def _document_idempotency_key(route: APIRoute) -> None:
    """The dependency reads the header from the request itself: say it in the operation."""
    extra = dict(route.openapi_extra or {})
    parameters = list(extra.get("parameters", []))
    if not any(p.get("name") == HEADER and p.get("in") == "header" for p in parameters):
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
    extra["parameters"] = parameters
    route.openapi_extra = extra


def install_problem_schema(app: FastAPI) -> None:
    """Put `ProblemDetails` (and what it refers to) in the components of the app's OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI's, cached until the routes change
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if SCHEMA_NAME not in schemas:
            problem = ProblemDetails.model_json_schema(
                ref_template="#/components/schemas/{model}", mode="serialization"
            )
            schemas.update(problem.pop("$defs", {}))
            schemas[SCHEMA_NAME] = problem
        return document

    app.openapi = openapi  # type: ignore[method-assign]
