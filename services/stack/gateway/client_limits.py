"""The client limits of nginx's gateway, for `mutualaid up`'s embedded one (one uvicorn
process): the size of a request's head and body, and how long a client may take to send them.

uvicorn limits the head only with its h11 parser (`h11_max_incomplete_event_size`; httptools
takes any size) and has no timeout at all while a request arrives, only between requests:
the head's size and time are kept by `gateway_protocol`, a subclass of uvicorn's h11 protocol,
the body's by `ClientBodyLimits`, an ASGI middleware reading each body whole before the
service sees it, as nginx does. Nor has uvicorn a timeout while an answer goes out: a client
that stops reading keeps its connection, the answer buffered and the app's next `send`
waiting, for ever. The protocol's transport closes it when none of what waits for the client
has gone out for `send_timeout_seconds` (nginx's send_timeout)."""

import asyncio
import json
import re
import tempfile
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.stack.gateway.nginx import UPLOAD_PATTERNS, UPLOAD_PREFIXES, GatewaySettings

LINGER_SECONDS = 2.0
"""After an answer to a request not read to its end (too large, too slow), the rest the
client still sends is read and dropped for this long before the connection is closed: closed
at once, the kernel would reset it and the client could lose the answer (nginx's lingering
close)."""
SPOOL_IN_MEMORY_BYTES = 1024 * 1024
REPLAY_CHUNK_BYTES = 64 * 1024


def problem_bytes(status: int, title: str, detail: str) -> bytes:
    slug = title.lower().replace(" ", "-")
    problem = {
        "type": f"https://mutualaid.example/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return json.dumps(problem).encode()


class ClientBodyLimits:
    """Each body read whole before the app is called: over the path's limit (`max_body`,
    `upload_max_body` for the upload paths) is 413, no bytes for `client_body_timeout_seconds`
    between two reads is 408; both close the connection. Bodies over 1 MiB wait in a
    temporary file, not in memory."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.limit, self.upload_limit = settings.max_body_bytes, settings.upload_max_body_bytes
        self.max_body, self.upload_max_body = settings.max_body, settings.upload_max_body
        self.timeout = settings.client_body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = is_upload(scope["path"])
        limit = self.upload_limit if upload else self.limit
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await self._too_large(send, upload)
            return
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as body:
            size, more = 0, True
            while more:
                try:
                    message = await asyncio.wait_for(receive(), self.timeout)
                except TimeoutError:
                    detail = f"no part of the request body came for {self.timeout} s"
                    await _answer(send, 408, "Request timeout", detail)
                    return
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._too_large(send, upload)
                    return
                body.write(chunk)
                more = message.get("more_body", False)
            body.seek(0)
            await self.app(scope, _replay(body, size, receive), send)

    async def _too_large(self, send: Send, upload: bool) -> None:
        limit = self.upload_max_body if upload else self.max_body
        detail = (
            "the request body is over the gateway limit for this path "
            f"({limit}; {self.max_body}, {self.upload_max_body} for uploads)"
        )
        await _answer(send, 413, "Payload too large", detail)


_PATTERNS = tuple(re.compile(pattern) for pattern, _ in UPLOAD_PATTERNS)


def is_upload(path: str) -> bool:
    return path in UPLOAD_PREFIXES or any(pattern.match(path) for pattern in _PATTERNS)


def _replay(body: Any, size: int, receive: Receive) -> Receive:
    remaining, started = size, False

    async def replay() -> Message:
        nonlocal remaining, started
        if started and remaining == 0:
            return await receive()  # after the body: the client's disconnect, when it comes
        started = True
        chunk = body.read(REPLAY_CHUNK_BYTES)
        remaining -= len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": remaining > 0}

    return replay


async def _answer(send: Send, status: int, title: str, detail: str) -> None:
    body = problem_bytes(status, title, detail)
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the request is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _LingeringTransport:
    """The connection's transport, with close() as nginx's lingering close: the answer is
    sent, then the client's remaining bytes are dropped until it closes or LINGER_SECONDS;
    and with nginx's send timeout: while bytes wait to go out to the client, none of them
    leaving for `send_timeout` seconds closes the connection at once (what waits is dropped,
    the app's waiting `send` returns as for a client gone)."""

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, send_timeout: float
    ) -> None:
        self._transport, self._loop = transport, loop
        self.lingering = False
        self._send_timeout = send_timeout
        self._written = 0  # bytes handed to the transport
        self._sent_before = 0  # of them, gone out to the kernel when last looked
        self._progress_at = 0.0  # when some last went out
        self._send_check: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._written += len(data)
        self._transport.write(data)
        if self._send_check is None and self._transport.get_write_buffer_size():
            # bytes wait for the client from now on
            self._sent_before, self._progress_at = self._sent(), self._loop.time()
            self._look_again()

    def _sent(self) -> int:
        return self._written - self._transport.get_write_buffer_size()

    def _look_again(self) -> None:
        # A quarter of the timeout between looks: the connection ends between the timeout
        # and 1.25 times it after the last byte went out (nginx's timer restarts at each write).
        later = self._send_timeout / 4
        self._send_check = self._loop.call_later(later, self._check_sending)

    def _check_sending(self) -> None:
        self._send_check = None
        if not self._transport.get_write_buffer_size():
            return  # all gone out: watched again at the next write that has to wait
        sent, now = self._sent(), self._loop.time()
        if sent > self._sent_before:
            self._sent_before, self._progress_at = sent, now  # the client takes it, slowly
        elif now - self._progress_at >= self._send_timeout:
            self._transport.abort()
            return
        self._look_again()

    def stop_watching(self) -> None:
        if self._send_check is not None:
            self._send_check.cancel()
            self._send_check = None

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        self.lingering = True
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self._transport.write_eof()  # after what is buffered: the answer goes out whole
        if not self._transport.is_reading():
            self._transport.resume_reading()  # uvicorn may have paused it for a slow app
        self._loop.call_later(LINGER_SECONDS, self._transport.close)


def gateway_protocol(settings: GatewaySettings) -> type[H11Protocol]:
    """uvicorn's h11 protocol, with `settings`' limits on the request head: over
    `max_header_bytes` is 431, not all of it within `client_header_timeout_seconds` (from
    the connection, or from its first byte on a kept-alive one) is 408; both close it. And
    on the answer: a client taking none of it for `send_timeout_seconds` is disconnected."""
    max_head, head_timeout = settings.max_header_bytes, settings.client_header_timeout_seconds
    send_timeout = settings.send_timeout_seconds

    class GatewayH11Protocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._lingering = _LingeringTransport(transport, self.loop, send_timeout)
            super().connection_made(self._lingering)  # type: ignore[arg-type]
            self._head_deadline = self.loop.call_later(head_timeout, self._head_too_slow)

        def data_received(self, data: bytes) -> None:
            if self._lingering.lingering:
                return  # what a client sends after its answer: dropped
            if self.conn.their_state is h11.IDLE and self._head_over_limit(data):
                detail = f"the request line and headers are over {max_head} bytes"
                self._answer_and_close(431, "Request header fields too large", detail)
                return
            super().data_received(data)
            waiting_for_head = self.conn.their_state is h11.IDLE
            if not waiting_for_head:
                self._cancel_head_deadline()
            elif self._head_deadline is None and self.conn.trailing_data[0]:
                # the first bytes of a request on a kept-alive connection
                self._head_deadline = self.loop.call_later(head_timeout, self._head_too_slow)

        def _head_over_limit(self, data: bytes) -> bool:
            # h11's own limit holds only while a head is incomplete: a whole head larger than
            # the limit, arriving in one read, would pass. The head ends at the first blank
            # line; it must end within the limit.
            pending = bytes(self.conn.trailing_data[0]) + data
            end = pending.find(b"\r\n\r\n", 0, max_head + 4)
            return end + 4 > max_head if end != -1 else len(pending) > max_head

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_deadline()
            self._lingering.stop_watching()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            # h11 refused the head: too large, or not HTTP at all
            if len(self.conn.trailing_data[0]) > max_head:
                detail = f"the request line and headers are over {max_head} bytes"
                self._answer_and_close(431, "Request header fields too large", detail)
            else:
                self._answer_and_close(400, "Bad request", "not a well-formed HTTP/1.1 request")

        def _head_too_slow(self) -> None:
            self._head_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                detail = f"the request line and headers did not come within {head_timeout} s"
                self._answer_and_close(408, "Request timeout", detail)

        def _cancel_head_deadline(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _answer_and_close(self, status: int, title: str, detail: str) -> None:
            # Written as bytes: h11 has no request to answer (it refused it, or has none yet).
            self._cancel_head_deadline()
            body = problem_bytes(status, title, detail)
            head = (
                f"HTTP/1.1 {status} {title}\r\n"
                "content-type: application/problem+json\r\n"
                f"content-length: {len(body)}\r\n"
                "connection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
            self.transport.close()

    return GatewayH11Protocol


def uvicorn_options(settings: GatewaySettings) -> dict[str, Any]:
    """What `uvicorn.run` needs for the embedded gateway to keep `settings`' limits."""
    return {
        "http": gateway_protocol(settings),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keepalive_timeout_seconds,
    }
