"""An S3-compatible server for the tests: moto's standalone server, a real process on loopback.

The `s3_server` fixture (session scope; under pytest-xdist each worker starts its own on a
free port) starts `python3 -m moto.server`, waits until it answers, creates a bucket and
yields a MotoServer whose `environment` is what makes the claims service use it
(CLAIMS_DOCUMENT_STORE=s3 and the CLAIMS_S3_* settings). The project's code never imports
moto: it talks to this server as to any bucket, over HTTP."""

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.stack.launcher import free_port

ACCESS_KEY_ID = "mutualaid-test"
SECRET_ACCESS_KEY = "mutualaid-test-secret"
REGION = "us-east-1"
START_TIMEOUT_SECONDS = 30.0


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.bucket = "claim-documents"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "MotoServer":
        environment = {**os.environ, "AWS_DEFAULT_REGION": REGION}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto's server exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto's server did not answer in time") from None
                time.sleep(0.1)
        self.create_bucket(self.bucket)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self) -> Any:
        """A plain (synchronous) botocore client, for the tests' own look at the bucket."""
        import botocore.session

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def fresh_bucket(self) -> str:
        """An empty bucket of its own, for a test that counts what is stored."""
        return self.create_bucket(f"documents-{secrets.token_hex(6)}")

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return [item["Key"] for item in listing.get("Contents", [])]

    def settings(self, bucket: str | None = None) -> dict[str, Any]:
        """Keyword arguments of ClaimsSettings that store documents in the bucket."""
        return {
            "document_store": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_bucket": bucket or self.bucket,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
        }

    def environment(self, bucket: str | None = None) -> dict[str, str]:
        """The same, as the CLAIMS_* variables a claims process reads."""
        return {f"CLAIMS_{name.upper()}": value for name, value in self.settings(bucket).items()}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


class CuttingProxy:
    """A TCP proxy in front of the server that lets `cut_after` bytes of each request through
    and then drops both connections: the network failing midway through an upload."""

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.connections = 0
        self.server: Any = None

    async def __aenter__(self) -> "CuttingProxy":
        import asyncio

        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _relay(self, client_reader: Any, client_writer: Any) -> None:
        import asyncio

        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )

        async def upload() -> None:
            sent = 0
            while sent < self.cut_after and (chunk := await client_reader.read(65536)):
                chunk = chunk[: self.cut_after - sent]
                upstream_writer.write(chunk)
                await upstream_writer.drain()
                sent += len(chunk)

        async def answers() -> None:
            while chunk := await upstream_reader.read(65536):
                client_writer.write(chunk)
                await client_writer.drain()

        answering = asyncio.ensure_future(answers())
        try:
            await upload()
        finally:
            for writer in (upstream_writer, client_writer):
                writer.transport.abort()
            answering.cancel()
