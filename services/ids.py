"""Opaque, time-ordered identifiers: `unt_0190f3c2a1b4e6c7d8e9f0a1b2c3d4e5`.

Time first so that ordering by id is ordering by creation, which keyset pagination relies on.
"""

import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"
