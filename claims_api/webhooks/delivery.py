"""One attempt of one delivery: the event's JSON, signed, POSTed to the subscription's URL
within the attempt's timeout. Whatever happens is an `AttemptOutcome`, never an exception:
the worker records it and decides what comes next (claims_api.webhooks.worker)."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from claims_api.settings import ClaimsSettings
from claims_api.webhooks.signing import body_bytes, signed_headers
from claims_api.webhooks.urls import DestinationRefused, IPAddress, check_destination

# What is read of a receiver's answer: enough for the connection to be kept alive after a
# short answer; a receiver answering megabytes never makes the worker read them.
RESPONSE_READ_CAP = 4096
ERROR_LENGTH = 500


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for one attempt, with what sending it needs."""

    id: str
    event_id: str
    subscription_id: str
    url: str
    secret: str = field(repr=False)  # never in a log line or a traceback's locals
    payload: dict[str, Any]
    attempts: int
    created_at: Any
    leased_until: Any  # the lease its claim set: its outcome is recorded only while it holds


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_client(settings: ClaimsSettings) -> httpx.AsyncClient:
    """The worker's own client (not the registry's): no redirects followed (a receiver cannot
    send the signed body elsewhere), no proxy from the environment, a connection per
    concurrent delivery at most."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.webhook_attempt_timeout_seconds),
        limits=httpx.Limits(
            max_connections=settings.webhook_concurrency * 2,
            max_keepalive_connections=settings.webhook_concurrency * 2,
        ),
        headers={"user-agent": "mutualaid-webhooks/1"},
    )


@dataclass(frozen=True)
class Pinned:
    """A request sent to an address already checked rather than to its name: the name stays
    in the Host header and in TLS (SNI and the certificate's check), so the receiver sees
    nothing different, but no lookup happens between the check and the connection (DNS
    rebinding)."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


def pinned(url: str, address: IPAddress | None) -> Pinned:
    target = httpx.URL(url)
    if address is None:
        return Pinned(target, {}, {})
    return Pinned(
        target.copy_with(host=str(address)),
        {"host": target.netloc.decode("ascii")},
        {"sni_hostname": target.host},
    )


async def attempt(
    client: httpx.AsyncClient, delivery: DueDelivery, settings: ClaimsSettings, timestamp: int
) -> AttemptOutcome:
    body = body_bytes(delivery.payload)
    headers = signed_headers(delivery.secret, delivery.event_id, timestamp, body)
    timeout = settings.webhook_attempt_timeout_seconds
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        # Again at each attempt: a name that resolved to a public address when subscribed may
        # point inside the network now (DNS rebinding; production resolves it).
        async with asyncio.timeout(timeout):  # the lookup too: the lease counts on it
            addresses = await check_destination(delivery.url, settings)
            to = pinned(delivery.url, addresses[0] if addresses else None)
            async with client.stream(
                "POST",
                to.url,
                content=body,
                headers={**headers, **to.headers},
                extensions=to.extensions,
            ) as answer:
                status_code = answer.status_code
                read = 0
                async for chunk in answer.aiter_raw():
                    read += len(chunk)
                    if read >= RESPONSE_READ_CAP:
                        break
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except DestinationRefused as exc:
        error = f"destination refused: {exc}"
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        # a URL the client cannot send to (one stored before the check knew of it)
        error = f"not a URL the client can send to: {type(exc).__name__}"
    except Exception as exc:  # whatever else: a failed attempt recorded, never a lost one
        error = f"{type(exc).__name__}: {exc}"
    if status_code is not None and error is not None:
        error = None  # the status line came; only the body's end did not
    if status_code is not None and not 200 <= status_code < 300:
        error = f"answered {status_code}"
    duration_ms = round((time.perf_counter() - started) * 1000)
    return AttemptOutcome(status_code, duration_ms, error and error[:ERROR_LENGTH])
