"""A webhook receiver on loopback for the tests: a real HTTP server (uvicorn, in a thread of
its own, so it answers whatever the test's event loop is doing). It records every request
(headers, body bytes) and answers as told: 500 for the next N requests, or hang (hold the
request open, answer nothing) until released."""

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # what it answered; None: it hung and never did


@dataclass
class WebhookReceiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _failures_left: int = 0
    _failure_status: int = 500
    _hang: bool = False
    _delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._failures_left, self._hang, self._delay = 0, False, 0.0
            self._released.set()

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures_left, self._failure_status = count, status

    def answer_after(self, seconds: float) -> None:
        """Each request from now on answered after `seconds` (a slow receiver)."""
        with self._lock:
            self._delay = seconds

    def hang(self) -> None:
        """Requests from now on are held open, unanswered, until `release()`."""
        with self._lock:
            self._hang = True
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._hang = False
        self._released.set()

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 20.0
    ) -> list[Received]:
        """Blocks (a thread, not the loop); see `await_for` from async tests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.received)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)
        raise AssertionError(f"the receiver did not get what was awaited: {snapshot}")

    async def await_for(
        self, predicate: Callable[[list[Received]], bool], within: float = 20.0
    ) -> list[Received]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.received)
            if predicate(snapshot):
                return snapshot
            await asyncio.sleep(0.02)
        raise AssertionError(f"the receiver did not get what was awaited: {snapshot}")

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            hang, delay = self._hang, self._delay
            if hang:
                status = None
            elif self._failures_left > 0:
                self._failures_left -= 1
                status = self._failure_status
            else:
                status = 200
            self.received.append(Received(scope["path"], headers, b"".join(chunks), status))
        if status is None:
            await asyncio.to_thread(self._released.wait)
            return  # released: close without an answer
        if delay:
            await asyncio.sleep(delay)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"no"})

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def webhook_receiver_server() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def webhook_receiver(webhook_receiver_server: WebhookReceiver) -> Iterator[WebhookReceiver]:
    """The session's receiver, forgetting what it got before this test."""
    webhook_receiver_server.reset()
    yield webhook_receiver_server
    webhook_receiver_server.reset()
