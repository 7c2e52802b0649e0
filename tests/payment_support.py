"""Payments for the tests of cover that waits for payment and of the contributions report:
recorded the way finance records them, through POST /api/v1/contributions."""

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from tests.support import FINANCE

CONTRIBUTIONS = "/api/v1/contributions"
_references = itertools.count(1)


async def record_payment(
    client: httpx.AsyncClient,
    unit_id: str,
    plan_code: str,
    amount: str | Decimal,
    paid_on: date,
    headers: dict[str, str] = FINANCE,
) -> dict[str, Any]:
    """A bank transfer from the unit for the plan, recorded by finance; 201 expected."""
    body = {
        "unit_id": unit_id,
        "plan_code": plan_code,
        "amount": str(amount),
        "paid_on": str(paid_on),
        "reference": f"SLIP-{next(_references):06d}",
        "method": "bank_transfer",
    }
    response = await client.post(CONTRIBUTIONS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def reverse_payment(
    client: httpx.AsyncClient, payment_id: str, headers: dict[str, str] = FINANCE
) -> dict[str, Any]:
    response = await client.post(
        f"{CONTRIBUTIONS}/{payment_id}/reversal", json={"reason": "entered twice"}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()
