"""Pure ASGI middleware both services run: request ids and a body size limit."""

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str | None:
    """The id of the request being served (bound by RequestIdMiddleware), for code below the
    routes: the audit log, a claim's history, the call to the registry."""
    return structlog.contextvars.get_contextvars().get("request_id")


class RequestIdMiddleware:
    """Use the caller's (or the gateway's) X-Request-ID, or make one; echo it; log with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = incoming if _ACCEPTABLE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        # bound_contextvars restores the caller's id on the way out: with both services in one
        # process, the registry's request must not erase the claims request's id.
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


NUL_ESCAPE = b"\\u0000"


class BodyLimitMiddleware:
    """Read each body whole (bounded by `limit`) before the app sees it: over the limit is
    413; JSON holding a NUL character is 422, since Postgres refuses NULs in text and SQLite
    would keep them. Upload paths are exempt: they stream and check their own limits (a
    declared Content-Length over `exempt_limit`, when given, is refused here all the same).
    `exempt_patterns`: regular expressions a whole path matches (a claim's documents, whose
    path holds the claim's id)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        exempt_prefixes: tuple[str, ...] = (),
        exempt_limit: int | None = None,
        exempt_patterns: tuple[str, ...] = (),
    ) -> None:
        self.app, self.limit, self.exempt_prefixes = app, limit, exempt_prefixes
        self.exempt_limit = exempt_limit
        self.exempt_patterns = tuple(re.compile(pattern) for pattern in exempt_patterns)

    def _exempt(self, path: str) -> bool:
        if self.exempt_prefixes and path.startswith(self.exempt_prefixes):
            return True
        return any(pattern.fullmatch(path) for pattern in self.exempt_patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        declared = int(length) if length is not None and length.isdigit() else None
        if self._exempt(scope["path"]):
            limit = self.exempt_limit
            if declared is not None and limit is not None and declared > limit:
                await self._refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.limit:
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and NUL_ESCAPE in body:
            loc = _nul_location(body)
            if loc is not None:
                msg = "must not contain NUL characters"
                detail = f"{'.'.join(map(str, loc)) or 'body'}: {msg}"
                errors = [{"loc": loc, "msg": msg}]
                await _send_problem(send, 422, "Invalid input", detail, errors)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int | None = None) -> None:
        await _send_problem(
            send, 413, "Payload too large", f"the request body is over {limit or self.limit} bytes"
        )


def _nul_location(body: bytes) -> list[str | int] | None:
    """Where in the JSON document a string holds a NUL, as a problem's `loc`."""
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON after all: the app's own parsing answers

    def walk(value: Any, path: list[str | int]) -> list[str | int] | None:
        if isinstance(value, str):
            return path if "\x00" in value else None
        if isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                found = walk(key, path) if isinstance(key, str) and "\x00" in key else None
                found = found or walk(item, [*path, key])
                if found is not None:
                    return found
        return None

    return walk(document, [])


async def _send_problem(
    send: Send, status: int, title: str, detail: str, errors: list[Any] | None = None
) -> None:
    slug = title.lower().replace(" ", "-")
    problem: dict[str, Any] = {
        "type": f"https://mutualaid.example/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        problem["errors"] = errors
    body = json.dumps(problem, ensure_ascii=False).encode()
    headers: list[Any] = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ControlCharacterGuard:
    """A path with control characters (a NUL, say) names nothing: 404; a query parameter
    holding a NUL is 422 (as a JSON body holding one is, above): both before any database sees
    a string it would refuse."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(ord(c) < 32 for c in scope["path"]):
            detail = "no resource has control characters in its path"
            await _send_problem(send, 404, "Not found", detail)
            return
        if scope["type"] == "http" and (name := _nul_query_parameter(scope)) is not None:
            msg = "must not contain NUL characters"
            loc: list[str | int] = ["query", name]
            await _send_problem(
                send, 422, "Invalid input", f"query.{name}: {msg}", [{"loc": loc, "msg": msg}]
            )
            return
        await self.app(scope, receive, send)


def _nul_query_parameter(scope: Scope) -> str | None:
    """The name of a query parameter holding a NUL (in its name or value), parsed as
    Starlette parses it; None when there is none."""
    query = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "?"
    return None
