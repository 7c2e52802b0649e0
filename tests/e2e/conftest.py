"""End-to-end: the split topology (tests/split_stack.py) driven through its nginx gateway
with plain HTTP, as a front end or an HR system would."""

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.kit.clock import today
from services.stack.launcher import SplitStack
from tests.cards import card_number
from tests.dates import COVER_START
from tests.split_stack import PrivatePostgres
from tests.support import ADMIN, bearer, plan_body, valid_national_id

_codes = itertools.count(1)


@pytest.fixture(scope="session")
def gateway(split_stack: SplitStack) -> Iterator[httpx.Client]:
    """A client of the gateway: the only address clients know."""
    with httpx.Client(base_url=split_stack.gateway_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this session's own, for the stacks of the tests that stop it or
    start stacks of their own (the machine's server is shared with other test runs)."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


def request_id() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, f"{response.request.url}: {response.text}"
    return response.json()


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


@dataclass(frozen=True)
class Enrolled:
    unit_id: str
    member_id: str
    plan_code: str
    enrollment_id: str

    @property
    def member(self) -> dict[str, str]:
        return bearer("member", member_id=self.member_id)

    def claim(self, facts: dict[str, Any]) -> dict[str, Any]:
        return {"member_id": self.member_id, "plan_code": self.plan_code, "facts": facts}


def enrol_new_member(gateway: httpx.Client, **plan_overrides: Any) -> Enrolled:
    """Through the gateway, as the admin: a unit, a plan, a worker with her bank card, her
    enrolment with cover from 1 January (the admin may place the start, as for records that
    arrive late)."""
    unit = created(
        gateway.post(
            "/api/v1/units",
            json={"name": "呼和浩特市第一医院", "insured_headcount": 120},
            headers=ADMIN,
        )
    )
    code = f"MEDE{uuid.uuid4().hex[:6].upper()}{next(_codes)}-{today().year}"
    body = plan_body(code, **plan_overrides)
    plan = created(gateway.post("/api/v1/plans", json=body, headers=ADMIN))
    member = created(
        gateway.post(
            "/api/v1/members",
            json={"national_id": valid_national_id(), "name": "王芳", "unit_id": unit["id"]},
            headers=ADMIN,
        )
    )
    set_card(gateway, member["id"], "王芳")
    enrollment = created(
        gateway.post(
            "/api/v1/enrollments",
            json={
                "member_id": member["id"],
                "plan_code": plan["code"],
                "shares": 1,
                "starts_on": str(COVER_START),
            },
            headers=ADMIN,
        )
    )
    return Enrolled(unit["id"], member["id"], plan["code"], enrollment["id"])


def set_card(gateway: httpx.Client, member_id: str, name: str) -> str:
    """A valid bank card in the member's name as her payout account; its number."""
    number = card_number()
    body = {"account_name": name, "account_number": number, "bank_name": "中国工商银行"}
    response = gateway.put(f"/api/v1/members/{member_id}/payout-account", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    return number


def hospital_stay(reference: str) -> dict[str, Any]:
    """A stay of the cover year, over before today: 7,500.00 in-policy out of pocket."""
    admitted = today() - timedelta(days=12)
    discharged = admitted + timedelta(days=5)
    return {
        "admitted_on": str(admitted),
        "discharged_on": str(discharged),
        "hospital": "市第一人民医院",
        "diagnosis_codes": ["K35.8"],
        "invoice_numbers": [f"INV-{reference}"],
        "total_cost": "18000.00",
        "insurance_paid": "10000.00",
        "out_of_pocket_in_policy": "7500.00",
        "self_pay": "500.00",
    }


@pytest.fixture
def enrolled(gateway: httpx.Client) -> Enrolled:
    return enrol_new_member(gateway)
