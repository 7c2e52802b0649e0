"""Claims test data made through the public API: a unit, a plan, a worker and an enrolment,
then claims filed, decided and paid the way a user would.

Every helper asserts the status it expects, so a test reads as the user's steps."""

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from services.kit.clock import today
from tests.cards import card_number
from tests.dates import COVER_START, YEAR, day  # noqa: F401  (day: re-exported for the tests)
from tests.support import (
    ADMIN,
    FINANCE,
    REVIEWER,
    bearer,
    metric_value,
    national_id,
    plan_body,
)

CLAIMS = "/api/v1/claims"
PAYOUTS = "/api/v1/payouts"
ACCOUNT = "/api/v1/members/{member_id}/payout-account"
JAN_1 = COVER_START  # the cover year's first day (tests.dates)

_plans = itertools.count(1)
_invoices = itertools.count(1)


async def created(api: httpx.AsyncClient, path: str, body: Any, headers: Any = ADMIN) -> Any:
    response = await api.post(path, json=body, headers=headers)
    assert response.status_code == 201, f"{path}: {response.text}"
    return response.json()


async def new_unit(api: httpx.AsyncClient, name: str = "第一机床厂") -> str:
    return (await created(api, "/api/v1/units", {"name": name}))["id"]


async def new_plan(
    api: httpx.AsyncClient,
    kind: str = "hospital_reimbursement",
    *,
    benefit: dict[str, Any] | None = None,
    **overrides: Any,
) -> str:
    """A plan of this kind covering the cover year (tests.support.plan_body); `benefit` changes
    keys of the kind's benefit rules, other keywords the plan's top-level keys."""
    line = {"hospital_reimbursement": "MED", "fixed_benefit": "WOMEN", "daily_allowance": "DAY"}
    code = f"{line[kind]}{next(_plans)}-{YEAR}"
    body = plan_body(code, kind, **overrides)
    if benefit:
        body["benefit"] = {**body["benefit"], **benefit}
    return (await created(api, "/api/v1/plans", body))["code"]


def identity_number() -> str:
    """A new valid identity number of a woman born 1985-06-15 (so every plan takes her)."""
    return national_id()


async def new_member(
    api: httpx.AsyncClient, unit_id: str, name: str = "王芳", *, account: bool = True
) -> str:
    """A new worker of the unit, with a payout account in her name unless `account` is false
    (a payment batch is refused for a member without one)."""
    body = {"national_id": identity_number(), "name": name, "unit_id": unit_id}
    member_id = (await created(api, "/api/v1/members", body))["id"]
    if account:
        await set_account(api, member_id, name)
    return member_id


async def set_account(
    api: httpx.AsyncClient,
    member_id: str,
    name: str = "王芳",
    *,
    number: str | None = None,
    bank_name: str = "中国工商银行",
    bank_branch: str | None = "呼和浩特新华支行",
) -> dict[str, Any]:
    """The member's payout account (a valid card number unless given), set by admin."""
    body = {
        "account_name": name,
        "account_number": number or card_number(),
        "bank_name": bank_name,
        "bank_branch": bank_branch,
    }
    response = await api.put(ACCOUNT.format(member_id=member_id), json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    return {**response.json(), "account_number": body["account_number"]}


async def enrol(
    api: httpx.AsyncClient,
    member_id: str,
    plan_code: str,
    *,
    shares: int = 1,
    starts_on: date | None = JAN_1,
) -> dict[str, Any]:
    """An admin enrolment; `starts_on` places the cover start (default: the cover year's first day,
    as for records that arrive late)."""
    body: dict[str, Any] = {"member_id": member_id, "plan_code": plan_code, "shares": shares}
    if starts_on is not None:
        body["starts_on"] = str(starts_on)
    return await created(api, "/api/v1/enrollments", body)


@dataclass(frozen=True)
class Enrolled:
    unit_id: str
    member_id: str
    plan_code: str
    enrollment_id: str
    shares: int

    @property
    def member(self) -> dict[str, str]:
        """The member's own token."""
        return bearer("member", member_id=self.member_id)

    @property
    def hr(self) -> dict[str, str]:
        """A token of the member's unit's HR."""
        return bearer("hr", unit_id=self.unit_id)

    def claim(self, facts: dict[str, Any]) -> dict[str, Any]:
        return {"member_id": self.member_id, "plan_code": self.plan_code, "facts": facts}


async def enrolled_member(
    api: httpx.AsyncClient,
    kind: str = "hospital_reimbursement",
    *,
    shares: int = 1,
    starts_on: date | None = JAN_1,
    plan_code: str | None = None,
    unit_id: str | None = None,
    benefit: dict[str, Any] | None = None,
    account: bool = True,
    name: str = "王芳",
    **plan_overrides: Any,
) -> Enrolled:
    """A worker enrolled in a plan: a new unit and plan unless given, a new member (with a
    payout account unless `account` is false)."""
    unit_id = unit_id or await new_unit(api)
    plan_code = plan_code or await new_plan(api, kind, benefit=benefit, **plan_overrides)
    member_id = await new_member(api, unit_id, name, account=account)
    enrollment = await enrol(api, member_id, plan_code, shares=shares, starts_on=starts_on)
    return Enrolled(unit_id, member_id, plan_code, enrollment["id"], shares)


def invoice() -> str:
    return f"INV{next(_invoices):06d}"


def hospital_stay(
    admitted_on: date,
    days: int = 5,
    *,
    out_of_pocket: str = "7500.00",
    insurance_paid: str = "10000.00",
    self_pay: str = "500.00",
    total_cost: str | None = None,
    invoices: list[str] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """The facts of one hospital stay; the total is the sum of the bill's parts unless given."""
    parts = Decimal(insurance_paid) + Decimal(out_of_pocket) + Decimal(self_pay)
    facts = {
        "admitted_on": str(admitted_on),
        "discharged_on": str(admitted_on + timedelta(days=days)),
        "hospital": "市第一人民医院",
        "diagnosis_codes": ["K35.8"],
        "invoice_numbers": invoices if invoices is not None else [invoice()],
        "total_cost": total_cost or str(parts),
        "insurance_paid": insurance_paid,
        "out_of_pocket_in_policy": out_of_pocket,
        "self_pay": self_pay,
    }
    facts.update(changes)
    return facts


def daily_stay(admitted_on: date, days: int, **changes: Any) -> dict[str, Any]:
    facts = {
        "admitted_on": str(admitted_on),
        "discharged_on": str(admitted_on + timedelta(days=days)),
        "hospital": "市第一人民医院",
        "diagnosis_codes": ["J18.9"],
        "invoice_numbers": [invoice()],
    }
    facts.update(changes)
    return facts


def diagnosis(diagnosed_on: date, code: str = "C50.9", **changes: Any) -> dict[str, Any]:
    facts = {
        "diagnosed_on": str(diagnosed_on),
        "diagnosis_code": code,
        "hospital": "市妇幼保健院",
        "pathology_report_no": f"PATH-{next(_invoices)}",
    }
    facts.update(changes)
    return facts


async def file_claim(
    api: httpx.AsyncClient,
    enrolled: Enrolled,
    facts: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The member files a claim (or `headers`' holder does); 201 expected."""
    return await created(api, CLAIMS, enrolled.claim(facts), headers or enrolled.member)


async def decide(
    api: httpx.AsyncClient,
    claim_id: str,
    decision: str,
    reason: str | None = None,
    headers: dict[str, str] = REVIEWER,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"decision": decision, **extra}
    if reason is not None:
        body["reason"] = reason
    return await api.post(f"{CLAIMS}/{claim_id}/decision", json=body, headers=headers)


async def approve(api: httpx.AsyncClient, claim_id: str, **extra: Any) -> dict[str, Any]:
    response = await decide(api, claim_id, "approve", **extra)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    return response.json()


async def approved_claim(
    api: httpx.AsyncClient, enrolled: Enrolled, facts: dict[str, Any]
) -> dict[str, Any]:
    claim = await file_claim(api, enrolled, facts)
    assert claim["status"] == "pending_review", claim
    return await approve(api, claim["id"])


async def pay(
    api: httpx.AsyncClient,
    claim_ids: list[str],
    paid_on: date | None = None,
    reference: str = "BANK-0001",
    headers: dict[str, str] = FINANCE,
) -> httpx.Response:
    body = {"claim_ids": claim_ids, "paid_on": str(paid_on or today()), "reference": reference}
    return await api.post(PAYOUTS, json=body, headers=headers)


async def get_claim(api: httpx.AsyncClient, claim_id: str, headers: Any = ADMIN) -> dict[str, Any]:
    response = await api.get(f"{CLAIMS}/{claim_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def listed(
    api: httpx.AsyncClient, path: str = CLAIMS, headers: Any = ADMIN, **params: Any
) -> list[dict[str, Any]]:
    response = await api.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The RFC 9457 body of a refusal, after checking its status, media type and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    if code is not None:
        assert body.get("code") == code, body
    return body


async def registry_calls(claims_app: Any, outcome: str) -> float:
    """How many calls to the registry the claims service timed with this outcome, read from
    its own /metrics (not served through the gateway)."""
    transport = httpx.ASGITransport(app=claims_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
        text = (await client.get("/metrics")).text
    series = (
        f'mutualaid_upstream_request_duration_seconds_count{{outcome="{outcome}",'
        'service="claims",upstream="members"} '
    )
    return metric_value(text, series)
