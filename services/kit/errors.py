"""Typed errors rendered as RFC 9457 `application/problem+json` by one set of handlers."""

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger()


class Problem(Exception):
    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.errors = errors
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://mutualaid.example/problems/{self.code or self.type_slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.code:
            body["code"] = self.code
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class Unauthorized(Problem):
    status, title, type_slug = 401, "Not authenticated", "unauthorized"


class Forbidden(Problem):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(Problem):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(Problem):
    status, title, type_slug = 409, "Conflict", "conflict"


class PayloadTooLarge(Problem):
    status, title, type_slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(Problem):
    status, title, type_slug = 415, "Unsupported media type", "unsupported-media-type"


class InvalidInput(Problem):
    """A field-level error found after schema validation (check digits, cross-field rules)."""

    status, title, type_slug = 422, "Invalid input", "validation"

    def __init__(self, loc: list[str | int], msg: str, **kwargs: Any) -> None:
        kwargs.setdefault("errors", [{"loc": loc, "msg": msg}])
        super().__init__(f"{'.'.join(map(str, loc))}: {msg}", **kwargs)


class RuleViolation(Problem):
    """A business rule refuses the request; `code` names the rule."""

    status, title, type_slug = 422, "Refused by a rule", "rule"


class UpstreamUnavailable(Problem):
    status, title, type_slug = 503, "Service unavailable", "upstream-unavailable"


class UpstreamTimeout(Problem):
    status, title, type_slug = 504, "Upstream timed out", "upstream-timeout"


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = [part for part in error.get("loc", ()) if part != "body" or len(error["loc"]) == 1]
        errors.append({"loc": loc, "msg": error.get("msg", "invalid"), "type": error.get("type")})
    return errors


_STATUS_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.body(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"]) or "body"
        body = {
            "type": "https://mutualaid.example/problems/validation",
            "title": "Invalid input",
            "status": 422,
            "detail": f"{where}: {first['msg']}",
            "errors": errors,
        }
        return problem_response(422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = _STATUS_TITLES.get(exc.status_code, "Error")
        body = {
            "type": f"https://mutualaid.example/problems/http-{exc.status_code}",
            "title": title,
            "status": exc.status_code,
            "detail": str(exc.detail) if exc.detail else title,
        }
        return problem_response(exc.status_code, body, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        body = {
            "type": "https://mutualaid.example/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": "An unexpected error occurred; it has been logged.",
        }
        # This handler runs outside RequestIdMiddleware: echo the id here, for the bug report.
        request_id = request.scope.get("state", {}).get("request_id")
        return problem_response(500, body, {"X-Request-ID": request_id} if request_id else None)
