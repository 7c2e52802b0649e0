"""Standard Webhooks signatures (https://www.standardwebhooks.com): what a receiver checks
with any of the scheme's libraries. Hand-rolled (hmac, hashlib): the scheme is five lines and
the service does not need a dependency for it."""

import base64
import hashlib
import hmac
import json
from typing import Any

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key: the bytes the base64 after `whsec_` encodes."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def body_bytes(payload: Any) -> bytes:
    """The event's JSON, as sent and as signed (the receiver verifies these exact bytes)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """`message_id` is the event's id: the same on every attempt, so a receiver that got a
    delivery twice (at least once) can tell; the timestamp is the attempt's."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }
