"""`mutualaid up` (one process, the embedded gateway) keeps the client limits nginx keeps:
the size of a request's head and body, and how long a client may take to send them. Each
test talks raw HTTP to the real running command on loopback, as a careless or hostile client
would; the timeouts are set short through the same MUTUALAID_GATEWAY_* variables as nginx's."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.stack.launcher import free_port

pytestmark = pytest.mark.e2e
MiB = 1024 * 1024
HEADER_TIMEOUT_SECONDS = 1
BODY_TIMEOUT_SECONDS = 1
SEND_TIMEOUT_SECONDS = 2  # the slow reader must make progress in every window, under load too
UPLOAD_MAX_BODY = "1m"
PATIENCE_SECONDS = 8.0  # what a test waits for an answer before calling the server stuck


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`mutualaid up` on a free loopback port; (host, port)."""
    data = tmp_path_factory.mktemp("embedded")
    port = free_port()
    env = {
        **os.environ,
        "MUTUALAID_ENVIRONMENT": "test",
        "MUTUALAID_GATEWAY_CLIENT_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS),
        "MUTUALAID_GATEWAY_CLIENT_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
        "MUTUALAID_GATEWAY_SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT_SECONDS),
        "MUTUALAID_GATEWAY_UPLOAD_MAX_BODY": UPLOAD_MAX_BODY,
    }
    env.pop("MEMBERS_DATABASE_URL", None)
    env.pop("CLAIMS_DATABASE_URL", None)
    log = (data / "up.log").open("w")
    command = [sys.executable, "-m", "services.stack.cli", "up", "--port", str(port)]
    up = subprocess.Popen(
        [*command, "--data-dir", str(data)], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:
        wait_ready(up, port, data / "up.log")
        yield "127.0.0.1", port
    finally:
        up.terminate()
        try:
            up.wait(timeout=15)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        log.close()


def wait_ready(up: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert up.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """What the server answered, and the seconds until it closed the connection; fails when
    it keeps the connection open longer than PATIENCE_SECONDS."""
    started = time.monotonic()
    connection.settimeout(PATIENCE_SECONDS)
    answer = b""
    while True:
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            pytest.fail(f"still open after {PATIENCE_SECONDS} s; answered {answer[:200]!r}")
        if not chunk:
            return answer, time.monotonic() - started
        answer += chunk


def status_and_problem(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == "application/problem+json", answer[:300]
    assert headers["connection"] == "close"
    return int(lines[0].split()[1]), json.loads(body)


def send_in_background(connection: socket.socket, data: bytes) -> threading.Thread:
    """Send `data` while the test reads the answer (the server answers before it is all sent)."""

    def send() -> None:
        with contextlib.suppress(OSError):  # the server closed it early, as it should
            connection.sendall(data)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


def finished(sender: threading.Thread) -> None:
    """The sender stopped (the server ended the connection) before its socket is closed: its
    number could otherwise be another test's connection by then."""
    sender.join(PATIENCE_SECONDS)
    assert not sender.is_alive(), "the server still reads what the client sends"


def test_a_64_mib_header_is_a_431_at_once_and_the_connection_closed(
    embedded: tuple[str, int],
) -> None:
    head = b"GET /api/v1/units HTTP/1.1\r\nHost: gateway\r\nX-Padding: "
    with socket.create_connection(embedded) as connection:
        sender = send_in_background(connection, head + b"a" * (64 * MiB) + b"\r\n\r\n")
        answer, seconds = read_until_closed(connection)
        finished(sender)
    status, problem = status_and_problem(answer)
    assert status == 431 and problem["status"] == 431
    assert "over 32768 bytes" in str(problem["detail"])
    assert seconds < 3


@pytest.mark.parametrize("size", [32 * 1024, 40_000, 200_000])
def test_a_whole_head_over_the_limit_in_one_write_is_a_431(
    embedded: tuple[str, int], size: int
) -> None:
    """Sent at once, so that the parser sees a complete head larger than the limit."""
    head = b"GET /api/v1/units HTTP/1.1\r\nHost: gateway\r\nX-Padding: "
    with socket.create_connection(embedded) as connection:
        connection.sendall(head + b"a" * size + b"\r\n\r\n")
        answer, _ = read_until_closed(connection)
    status, problem = status_and_problem(answer)
    assert status == 431 and problem["status"] == 431


def test_half_a_header_then_silence_is_cut_off_after_the_header_timeout(
    embedded: tuple[str, int],
) -> None:
    with socket.create_connection(embedded) as connection:
        connection.sendall(b"GET /api/v1/units HTTP/1.1\r\nHost: gateway\r\nX-Half")
        answer, seconds = read_until_closed(connection)
    status, problem = status_and_problem(answer)
    assert status == 408 and f"within {HEADER_TIMEOUT_SECONDS} s" in str(problem["detail"])
    assert HEADER_TIMEOUT_SECONDS - 0.2 < seconds < HEADER_TIMEOUT_SECONDS + 2


def test_a_connection_that_never_sends_is_closed_after_the_header_timeout(
    embedded: tuple[str, int],
) -> None:
    with socket.create_connection(embedded) as connection:
        _answer, seconds = read_until_closed(connection)
    assert seconds < HEADER_TIMEOUT_SECONDS + 2


def test_the_header_timeout_starts_again_with_each_request_of_a_kept_alive_connection(
    embedded: tuple[str, int],
) -> None:
    with socket.create_connection(embedded) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        connection.settimeout(PATIENCE_SECONDS)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT_SECONDS + 0.5)  # idle: the keep-alive timeout's business
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
        answer, seconds = read_until_closed(connection)
    assert status_and_problem(answer)[0] == 408
    assert seconds < HEADER_TIMEOUT_SECONDS + 2


def test_a_body_that_stops_coming_is_cut_off_after_the_body_timeout(
    embedded: tuple[str, int],
) -> None:
    with socket.create_connection(embedded) as connection:
        connection.sendall(
            b"POST /api/v1/units HTTP/1.1\r\nHost: gateway\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"name": "'
        )
        answer, seconds = read_until_closed(connection)
    status, problem = status_and_problem(answer)
    assert status == 408 and "request body" in str(problem["detail"])
    assert BODY_TIMEOUT_SECONDS - 0.2 < seconds < BODY_TIMEOUT_SECONDS + 2


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_upload_over_the_gateway_limit_is_a_413_problem(
    embedded: tuple[str, int], declared: bool
) -> None:
    body = b"x" * (2 * MiB)  # the registry itself takes 200 MiB here; the gateway 1m
    if declared:
        framing = f"Content-Length: {len(body)}\r\n\r\n".encode()
        payload = framing + body
    else:
        chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks)
        payload = b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"
    head = b"POST /api/v1/enrollments/import HTTP/1.1\r\nHost: gateway\r\n"
    head += b"Content-Type: text/csv\r\n"
    with socket.create_connection(embedded) as connection:
        sender = send_in_background(connection, head + payload)
        answer, seconds = read_until_closed(connection)
        finished(sender)
    status, problem = status_and_problem(answer)
    assert status == 413 and f"({UPLOAD_MAX_BODY};" in str(problem["detail"])
    assert seconds < 3


def test_requests_within_the_limits_are_answered_as_before(embedded: tuple[str, int]) -> None:
    host, port = embedded
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as client:
        assert client.get("/healthz").status_code == 200
        # a body in parts, each soon after the last: read whole, then the service answers
        parts = (b'{"name": "a"' if i == 0 else b" " * 1000 for i in range(3))
        answered = client.post(
            "/api/v1/units",
            content=iter([*parts, b"}"]),
            headers={"Content-Type": "application/json"},
        )
        assert answered.status_code == 401  # the registry's answer: no token


# --- answers to a client that does not take them ------------------------------------------

PIPELINED = 100  # answers of about 100 KB each: more than loopback's socket buffers hold
OPENAPI_REQUEST = b"GET /openapi/members.json HTTP/1.1\r\nHost: gateway\r\n\r\n"


def slow_reader(address: tuple[str, int]) -> socket.socket:
    """A client with a small receive window (64 KiB) that sends PIPELINED requests at once."""
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    connection.connect(address)
    connection.sendall(OPENAPI_REQUEST * PIPELINED)
    return connection


def read_to_the_end(connection: socket.socket, pause: float = 0.0) -> tuple[bytes, bool]:
    """What arrives until the server closes or resets the connection (True if it reset it),
    reading 256 KiB at a time with `pause` seconds between reads; fails when the connection
    is still open with nothing coming for PATIENCE_SECONDS."""
    connection.settimeout(PATIENCE_SECONDS)
    answer = b""
    while True:
        try:
            chunk = connection.recv(256 * 1024)
        except ConnectionResetError:
            return answer, True
        except TimeoutError:
            answers = answer.count(b"HTTP/1.1 200")
            pytest.fail(f"still open after {PATIENCE_SECONDS} s, {answers} answers read")
        if not chunk:
            return answer, False
        answer += chunk
        time.sleep(pause)


def test_a_client_that_stops_reading_is_disconnected_after_the_send_timeout(
    embedded: tuple[str, int],
) -> None:
    with slow_reader(embedded) as connection:
        # takes nothing: what waits for it stops going out, and after the send timeout (and
        # at most a quarter more) the server gives up
        time.sleep(SEND_TIMEOUT_SECONDS * 1.25 + 2)
        started = time.monotonic()
        answer, _reset = read_to_the_end(connection)
        seconds = time.monotonic() - started
    # what the kernels held when the server gave up, then the end: not every answer
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.count(b"HTTP/1.1 200") < PIPELINED
    assert seconds < 3
    host, port = embedded
    assert httpx.get(f"http://{host}:{port}/healthz", timeout=10).status_code == 200


def test_a_client_reading_slowly_but_steadily_gets_every_answer(
    embedded: tuple[str, int],
) -> None:
    with slow_reader(embedded) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        # about 10 MB, at most a window a read, 50 ms between reads (about 1 MB/s): beyond
        # the 4 MB the kernels hold, the server waits on the client for several send
        # timeouts in all, never one without progress
        answer, reset = read_to_the_end(connection, pause=0.05)
    assert not reset
    assert answer.count(b"HTTP/1.1 200") == PIPELINED + 1
