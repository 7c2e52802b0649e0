"""The authorisation matrix: every route of both services x every role x own / other unit or
member, each answering the status tests/access_rules.py gives it, through the gateway.

One world per backend (units A and B, member M1 in A and M2 in B, a plan, their enrolments,
a pending claim each, a paid batch) is built once and only read; a case that changes state
(a decision, a payment, a cancellation...) builds the records it needs itself, through the
API, as admin / reviewer / finance. "own" means unit A / member M1, "other" unit B /
member M2; the hr token is unit A's hr, the member token M1's.

The whole matrix runs on both backends (about 20 s for both together), so there is no
SQLite subset: an authorisation bug that shows on one database only is still caught. On
Postgres it runs a second time with the identity provider's tokens (tests/identity_provider.py:
a real provider on loopback, both services trusting it, roles mapped from Keycloak-style
`realm_access.roles`): the claims service forwards those to the registry as it does local ones."""

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.kit.clock import today
from tests.access_rules import PUBLIC, PUBLIC_UNLISTED, ROLES, RULES, Route, cases
from tests.cards import card_number
from tests.claims.support_claims import (
    CLAIMS,
    created,
    day,
    decide,
    enrol,
    hospital_stay,
    identity_number,
    new_member,
    new_plan,
    new_unit,
    pay,
)
from tests.claims.support_documents import paper
from tests.claims.support_settlement import CHINESE
from tests.claims.support_webhooks import delivered_delivery
from tests.databases import wipe
from tests.dates import NEXT_COVER_START, YEAR
from tests.identity_provider import TestProvider, trusting
from tests.support import ADMIN, AUDITOR, FINANCE, REVIEWER, bearer, plan_body

Minter = Callable[..., dict[str, str]]
"""tests.support.bearer's signature: (role, *, unit_id=None, member_id=None) -> headers."""

_codes = itertools.count(1)


# --- the world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    unit_a: str
    unit_b: str
    m1: str
    m2: str
    plan: str
    e1: str
    e2: str
    c1: str
    c2: str
    batch: str

    def token(self, role: str, mint: Minter = bearer) -> dict[str, str]:
        if role == "hr":
            return mint("hr", unit_id=self.unit_a)
        if role == "member":
            return mint("member", member_id=self.m1)
        if mint is not bearer:
            return mint(role)
        fixed = {"admin": ADMIN, "reviewer": REVIEWER, "finance": FINANCE, "auditor": AUDITOR}
        return fixed[role]


async def _pending_claim(api: httpx.AsyncClient, member_id: str, plan: str, on: date) -> str:
    body = {"member_id": member_id, "plan_code": plan, "facts": hospital_stay(on)}
    claim = await created(api, CLAIMS, body)
    assert claim["status"] == "pending_review", claim
    return claim["id"]


async def _approved(api: httpx.AsyncClient, claim_id: str) -> None:
    response = await decide(api, claim_id, "approve", "papers in order")
    assert response.status_code == 200, response.text


async def _paid(api: httpx.AsyncClient, claim_ids: list[str]) -> str:
    response = await pay(api, claim_ids, reference=f"BANK-{next(_codes):05d}")
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def build_world(api: httpx.AsyncClient) -> World:
    unit_a, unit_b = await new_unit(api, "甲单位"), await new_unit(api, "乙单位")
    m1, m2 = await new_member(api, unit_a, "甲一"), await new_member(api, unit_b, "乙二")
    plan = await new_plan(api, benefit={"term_cap_per_share": "1000000"})
    e1, e2 = (await enrol(api, m1, plan))["id"], (await enrol(api, m2, plan))["id"]
    c1 = await _pending_claim(api, m1, plan, day(3, 1))
    c2 = await _pending_claim(api, m2, plan, day(3, 1))
    paid = [await _pending_claim(api, m, plan, day(5, 1)) for m in (m1, m2)]
    for claim_id in paid:
        await _approved(api, claim_id)
    batch = await _paid(api, paid)
    return World(unit_a, unit_b, m1, m2, plan, e1, e2, c1, c2, batch)


@pytest.fixture(scope="module")
async def gateway(members_app: FastAPI, claims_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    from services.stack.gateway.embedded import EmbeddedGateway

    gateway = EmbeddedGateway(FastAPI(), {"members": members_app, "claims": claims_app})
    transport = httpx.ASGITransport(app=gateway)
    _apps["claims"] = claims_app
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


_apps: dict[str, FastAPI] = {}
"""The claims app, for builders whose records no route creates (webhook deliveries)."""
_worlds: dict[str, World] = {}


async def _intact(api: httpx.AsyncClient, world: World) -> bool:
    """Another module's fixture may have emptied a database since the world was built."""
    unit = await api.get(f"/api/v1/units/{world.unit_a}", headers=ADMIN)
    batch = await api.get(f"/api/v1/payouts/{world.batch}", headers=ADMIN)
    return unit.status_code == 200 and batch.status_code == 200


@pytest.fixture
async def world(
    gateway: httpx.AsyncClient, backend: str, members_app: FastAPI, claims_app: FastAPI
) -> World:
    known = _worlds.get(backend)
    if known is None or not await _intact(gateway, known):
        await wipe(members_app)
        await wipe(claims_app)
        known = _worlds[backend] = await build_world(gateway)
    return known


# --- one well-formed request per route --------------------------------------------------


@dataclass
class Call:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    record: str | None = None
    """An id a 200 answer shows for "own"/"any" and must not show for "other"."""
    unchanged: Callable[[], Awaitable[None]] | None = None
    """For "other": checks, after the call (whatever it answered), that another's record was
    not touched."""


@dataclass(frozen=True)
class Target:
    """The records a case is about: unit A / M1's for "own" and "any", B / M2's for "other"."""

    api: httpx.AsyncClient
    world: World
    scope: str
    role: str = "admin"
    """Who will send the request (a builder that needs the caller's own record)."""
    mint: Minter = bearer
    """Who signs the caller's token."""

    @property
    def own(self) -> bool:
        return self.scope != "other"

    @property
    def unit(self) -> str:
        return self.world.unit_a if self.own else self.world.unit_b

    @property
    def member(self) -> str:
        return self.world.m1 if self.own else self.world.m2

    @property
    def enrollment(self) -> str:
        return self.world.e1 if self.own else self.world.e2

    @property
    def claim(self) -> str:
        return self.world.c1 if self.own else self.world.c2

    async def enrolled_plan(self, **overrides: Any) -> str:
        """A new plan with the target member enrolled (so a new claim overlaps nothing)."""
        plan = await new_plan(self.api, benefit={"term_cap_per_share": "1000000"}, **overrides)
        await enrol(self.api, self.member, plan)
        return plan

    async def claim_in(self, status: str) -> str:
        """A new claim of the target member, taken to `status`."""
        claim_id = await _pending_claim(
            self.api, self.member, await self.enrolled_plan(), day(3, 1)
        )
        if status == "needs_info":
            response = await decide(self.api, claim_id, "request_info", "the discharge summary")
            assert response.status_code == 200, response.text
        elif status == "approved":
            await _approved(self.api, claim_id)
        return claim_id


Builder = Callable[[Target], Awaitable[Call]]
BUILDERS: dict[Route, Builder] = {}


def builds(service: str, method: str, path: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        BUILDERS[(service, method, path)] = builder
        return builder

    return register


def _stay(on: date) -> dict[str, Any]:
    return hospital_stay(on)


@builds("members", "POST", "/api/v1/units")
async def _(t: Target) -> Call:
    return Call("POST", "/api/v1/units", json={"name": "丙单位"})


@builds("members", "GET", "/api/v1/units")
async def _(t: Target) -> Call:
    return Call("GET", "/api/v1/units", {"limit": 500}, record=t.unit)


@builds("members", "GET", "/api/v1/units/{unit_id}")
async def _(t: Target) -> Call:
    return Call("GET", f"/api/v1/units/{t.unit}", record=t.unit)


@builds("members", "PATCH", "/api/v1/units/{unit_id}")
async def _(t: Target) -> Call:
    return Call("PATCH", f"/api/v1/units/{t.unit}", json={"contact_name": "张三"})


@builds("members", "POST", "/api/v1/members")
async def _(t: Target) -> Call:
    body = {"national_id": identity_number(), "name": "李娜", "unit_id": t.unit}
    return Call("POST", "/api/v1/members", json=body)


@builds("members", "GET", "/api/v1/members")
async def _(t: Target) -> Call:
    return Call("GET", "/api/v1/members", {"unit_id": t.unit, "limit": 500}, record=t.member)


@builds("members", "GET", "/api/v1/members/{member_id}")
async def _(t: Target) -> Call:
    return Call("GET", f"/api/v1/members/{t.member}", record=t.member)


@builds("members", "POST", "/api/v1/members/leaving")
async def _(t: Target) -> Call:
    """A new worker of the target unit (the world's must stay active), leaving today."""
    number = identity_number()
    body = {"national_id": number, "name": "赵敏", "unit_id": t.unit}
    worker = (await created(t.api, "/api/v1/members", body))["id"]

    async def still_active() -> None:
        response = await t.api.get(f"/api/v1/members/{worker}", headers=ADMIN)
        assert response.json()["status"] == "active", "another unit's worker was changed"

    rows = [{"national_id": number, "left_on": str(today())}]
    return Call(
        "POST",
        "/api/v1/members/leaving",
        json={"rows": rows},
        record=worker,
        unchanged=still_active,
    )


@builds("members", "PATCH", "/api/v1/members/{member_id}")
async def _(t: Target) -> Call:
    return Call("PATCH", f"/api/v1/members/{t.member}", json={"phone": "13800138000"})


async def _with_account(t: Target) -> str:
    """The target member with a payout account (set by admin); answers its URL."""
    url = f"/api/v1/members/{t.member}/payout-account"
    name = (await t.api.get(f"/api/v1/members/{t.member}", headers=ADMIN)).json()["name"]
    body = {"account_name": name, "account_number": card_number(), "bank_name": "中国银行"}
    response = await t.api.put(url, json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    return url


@builds("members", "GET", "/api/v1/members/{member_id}/payout-account")
async def _(t: Target) -> Call:
    return Call("GET", await _with_account(t), record=t.member)


@builds("members", "PUT", "/api/v1/members/{member_id}/payout-account")
async def _(t: Target) -> Call:
    url = await _with_account(t)
    name = (await t.api.get(url, headers=ADMIN)).json()["account_name"]
    body = {"account_name": name, "account_number": card_number(), "bank_name": "中国工商银行"}
    return Call("PUT", url, json=body, record=t.member)


@builds("members", "DELETE", "/api/v1/members/{member_id}/payout-account")
async def _(t: Target) -> Call:
    url = await _with_account(t)

    async def still_there() -> None:
        response = await t.api.get(url, headers=ADMIN)
        assert response.status_code == 200, "another's payout account was deleted"

    return Call("DELETE", url, unchanged=still_there)


@builds("members", "POST", "/api/v1/payout-accounts/lookup")
async def _(t: Target) -> Call:
    await _with_account(t)
    body = {"member_ids": [t.member]}
    return Call("POST", "/api/v1/payout-accounts/lookup", json=body, record=t.member)


@builds("members", "POST", "/api/v1/plans")
async def _(t: Target) -> Call:
    return Call("POST", "/api/v1/plans", json=plan_body(f"AUTHZ{next(_codes)}-{YEAR}"))


@builds("members", "GET", "/api/v1/plans")
async def _(t: Target) -> Call:
    return Call("GET", "/api/v1/plans", {"limit": 500}, record=t.world.plan)


@builds("members", "GET", "/api/v1/plans/{code}")
async def _(t: Target) -> Call:
    return Call("GET", f"/api/v1/plans/{t.world.plan}", record=t.world.plan)


@builds("members", "POST", "/api/v1/enrollments")
async def _(t: Target) -> Call:
    plan = await new_plan(t.api)
    body = {"member_id": t.member, "plan_code": plan, "shares": 1}
    return Call("POST", "/api/v1/enrollments", json=body)


@builds("members", "GET", "/api/v1/enrollments")
async def _(t: Target) -> Call:
    params = {"member_id": t.member, "limit": 500}
    return Call("GET", "/api/v1/enrollments", params, record=t.enrollment)


@builds("members", "POST", "/api/v1/enrollments/batch")
async def _(t: Target) -> Call:
    rows = [{"national_id": identity_number(), "name": "钱红", "phone": "13900139000", "shares": 1}]
    body = {"unit_id": t.unit, "plan_code": t.world.plan, "rows": rows}
    return Call("POST", "/api/v1/enrollments/batch", json=body)


@builds("members", "POST", "/api/v1/enrollments/import")
async def _(t: Target) -> Call:
    csv = f"身份证号,姓名,手机号,份数\n{identity_number()},孙丽,13700137000,1\n".encode()
    return Call(
        "POST",
        "/api/v1/enrollments/import",
        files={"file": ("名单.csv", csv, "text/csv")},
        data={"unit_id": t.unit, "plan_code": t.world.plan},
    )


@builds("members", "GET", "/api/v1/enrollments/import-template")
async def _(t: Target) -> Call:
    return Call("GET", "/api/v1/enrollments/import-template", {"format": "csv"})


@builds("members", "GET", "/api/v1/enrollments/{enrollment_id}")
async def _(t: Target) -> Call:
    return Call("GET", f"/api/v1/enrollments/{t.enrollment}", record=t.enrollment)


@builds("members", "POST", "/api/v1/enrollments/{enrollment_id}/cancel")
async def _(t: Target) -> Call:
    """An enrolment in next year's plan: its cover has not started, so it can be cancelled."""
    next_end = NEXT_COVER_START.replace(year=NEXT_COVER_START.year + 1) - timedelta(days=1)
    plan = await new_plan(t.api, coverage_start=str(NEXT_COVER_START), coverage_end=str(next_end))
    enrollment = await enrol(t.api, t.member, plan, starts_on=None)
    url = f"/api/v1/enrollments/{enrollment['id']}/cancel"
    return Call("POST", url, json={"reason": "the unit withdrew"})


async def _payment(t: Target, amount: str = "1.00") -> str:
    """A payment of the target unit for the world's plan, recorded by finance."""
    body = {
        "unit_id": t.unit,
        "plan_code": t.world.plan,
        "amount": amount,
        "paid_on": str(today()),
        "reference": f"SLIP-{next(_codes):05d}",
        "method": "bank_transfer",
    }
    response = await t.api.post("/api/v1/contributions", json=body, headers=FINANCE)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@builds("members", "POST", "/api/v1/contributions")
async def _(t: Target) -> Call:
    body = {
        "unit_id": t.unit,
        "plan_code": t.world.plan,
        "amount": "0.01",
        "paid_on": str(today()),
        "reference": f"SLIP-{next(_codes):05d}",
        "method": "cash",
    }
    return Call("POST", "/api/v1/contributions", json=body)


@builds("members", "GET", "/api/v1/contributions")
async def _(t: Target) -> Call:
    params = {"unit_id": t.unit, "limit": 500}
    return Call("GET", "/api/v1/contributions", params, record=await _payment(t))


@builds("members", "GET", "/api/v1/contributions/{contribution_id}")
async def _(t: Target) -> Call:
    payment = await _payment(t)
    return Call("GET", f"/api/v1/contributions/{payment}", record=payment)


@builds("members", "POST", "/api/v1/contributions/{contribution_id}/reversal")
async def _(t: Target) -> Call:
    payment = await _payment(t)

    async def not_reversed() -> None:
        response = await t.api.get(f"/api/v1/contributions/{payment}", headers=FINANCE)
        assert response.json()["reversed_by"] is None, "another unit's payment was reversed"

    url = f"/api/v1/contributions/{payment}/reversal"
    return Call("POST", url, json={"reason": "entered twice"}, unchanged=not_reversed)


@builds("members", "GET", "/api/v1/coverage")
async def _(t: Target) -> Call:
    params = {"member_id": t.member, "plan_code": t.world.plan, "on": str(day(3, 1))}
    return Call("GET", "/api/v1/coverage", params, record=t.member)


@builds("members", "POST", "/api/v1/coverage/lookup")
async def _(t: Target) -> Call:
    body = {"plan_code": t.world.plan, "items": [{"member_id": t.member, "on": str(day(3, 1))}]}
    return Call("POST", "/api/v1/coverage/lookup", json=body, record=t.member)


@builds("members", "GET", "/api/v1/reports/enrollment")
async def _(t: Target) -> Call:
    return Call("GET", "/api/v1/reports/enrollment", {"plan_code": t.world.plan})


@builds("members", "GET", "/api/v1/reports/contributions")
async def _(t: Target) -> Call:
    return Call("GET", "/api/v1/reports/contributions", {"plan_code": t.world.plan})


@builds("members", "GET", "/api/v1/audit-events")
async def _(t: Target) -> Call:
    params = {"entity": "member", "entity_id": t.member}
    return Call("GET", "/api/v1/audit-events", params, record=t.member)


@builds("claims", "POST", "/api/v1/claims/quote")
async def _(t: Target) -> Call:
    body = {"member_id": t.member, "plan_code": t.world.plan, "facts": _stay(day(7, 1))}
    return Call("POST", "/api/v1/claims/quote", json=body)


@builds("claims", "POST", "/api/v1/claims")
async def _(t: Target) -> Call:
    body = {"member_id": t.member, "plan_code": await t.enrolled_plan(), "facts": _stay(day(3, 1))}
    return Call("POST", CLAIMS, json=body)


@builds("claims", "GET", "/api/v1/claims")
async def _(t: Target) -> Call:
    return Call("GET", CLAIMS, {"member_id": t.member, "limit": 500}, record=t.claim)


@builds("claims", "GET", "/api/v1/claims/{claim_id}")
async def _(t: Target) -> Call:
    return Call("GET", f"{CLAIMS}/{t.claim}", record=t.claim)


@builds("claims", "POST", "/api/v1/claims/{claim_id}/decision")
async def _(t: Target) -> Call:
    url = f"{CLAIMS}/{await t.claim_in('pending_review')}/decision"
    return Call("POST", url, json={"decision": "approve", "reason": "papers in order"})


@builds("claims", "POST", "/api/v1/claims/{claim_id}/supplement")
async def _(t: Target) -> Call:
    url = f"{CLAIMS}/{await t.claim_in('needs_info')}/supplement"
    return Call("POST", url, json={"note": "discharge summary attached"})


@builds("claims", "POST", "/api/v1/claims/{claim_id}/withdraw")
async def _(t: Target) -> Call:
    url = f"{CLAIMS}/{await t.claim_in('pending_review')}/withdraw"
    return Call("POST", url, json={"reason": "filed twice"})


async def _document(t: Target, by_the_caller: bool = False) -> tuple[str, str]:
    """A paper of a new pending claim of the target member, uploaded by admin (or by the
    caller, when it may upload to the target's claim: the one who may withdraw it)."""
    claim_id = await t.claim_in("pending_review")
    files = {"file": ("票据.pdf", paper(), "application/pdf")}
    url = f"{CLAIMS}/{claim_id}/documents"
    uploader = ADMIN
    if by_the_caller and t.own and t.role in ("hr", "member"):
        uploader = t.world.token(t.role, t.mint)
    response = await t.api.post(url, files=files, data={"kind": "invoice"}, headers=uploader)
    assert response.status_code == 201, response.text
    return claim_id, response.json()["id"]


@builds("claims", "POST", "/api/v1/claims/{claim_id}/documents")
async def _(t: Target) -> Call:
    url = f"{CLAIMS}/{await t.claim_in('pending_review')}/documents"
    files = {"file": ("票据.pdf", paper(), "application/pdf")}
    return Call("POST", url, files=files, data={"kind": "invoice"})


@builds("claims", "GET", "/api/v1/claims/{claim_id}/documents")
async def _(t: Target) -> Call:
    claim_id, document_id = await _document(t)
    return Call("GET", f"{CLAIMS}/{claim_id}/documents", record=document_id)


@builds("claims", "GET", "/api/v1/claims/{claim_id}/documents/{document_id}")
async def _(t: Target) -> Call:
    claim_id, document_id = await _document(t)
    return Call("GET", f"{CLAIMS}/{claim_id}/documents/{document_id}", record=document_id)


@builds("claims", "GET", "/api/v1/claims/{claim_id}/documents/{document_id}/content")
async def _(t: Target) -> Call:
    claim_id, document_id = await _document(t)
    return Call("GET", f"{CLAIMS}/{claim_id}/documents/{document_id}/content")


@builds("claims", "POST", "/api/v1/claims/{claim_id}/documents/{document_id}/withdraw")
async def _(t: Target) -> Call:
    claim_id, document_id = await _document(t, by_the_caller=True)
    return Call("POST", f"{CLAIMS}/{claim_id}/documents/{document_id}/withdraw")


@builds("claims", "POST", "/api/v1/payouts")
async def _(t: Target) -> Call:
    """A claim approved by the reviewer, so that whoever pays did not approve it (its member
    given an account again: the DELETE payout-account case may have run first)."""
    await _with_account(t)
    body = {
        "claim_ids": [await t.claim_in("approved")],
        "paid_on": str(today()),
        "reference": f"BANK-{next(_codes):05d}",
    }
    return Call("POST", "/api/v1/payouts", json=body)


@builds("claims", "GET", "/api/v1/payouts")
async def _(t: Target) -> Call:
    params = {"plan_code": t.world.plan, "limit": 500}
    return Call("GET", "/api/v1/payouts", params, record=t.world.batch)


@builds("claims", "GET", "/api/v1/payouts/{batch_id}")
async def _(t: Target) -> Call:
    return Call("GET", f"/api/v1/payouts/{t.world.batch}", record=t.world.batch)


@builds("claims", "GET", "/api/v1/webhooks/{webhook_id}/deliveries")
async def _(t: Target) -> Call:
    hook, delivery = await delivered_delivery(_apps["claims"], t.unit, t.claim, t.member)
    return Call("GET", f"/api/v1/webhooks/{hook}/deliveries", record=delivery)


@builds("claims", "POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
async def _(t: Target) -> Call:
    hook, delivery = await delivered_delivery(_apps["claims"], t.unit, t.claim, t.member)
    return Call("POST", f"/api/v1/webhooks/{hook}/deliveries/{delivery}/retry", record=delivery)


@builds("claims", "POST", "/api/v1/payouts/{batch_id}/reversal")
async def _(t: Target) -> Call:
    await _with_account(t)
    batch = await _paid(t.api, [await t.claim_in("approved")])
    return Call("POST", f"/api/v1/payouts/{batch}/reversal", json={"reason": "account closed"})


@builds("claims", "GET", "/api/v1/payouts/{batch_id}/bank-file")
async def _(t: Target) -> Call:
    return Call("GET", f"/api/v1/payouts/{t.world.batch}/bank-file", {"format": "csv"})


@builds("claims", "POST", "/api/v1/claims/import")
async def _(t: Target) -> Call:
    """A stay of someone the registry does not know, on a dry run: `not_enrolled`, nothing
    stored."""
    header = ",".join(CHINESE)
    line = f"{identity_number()},孙丽,市医院,{day(3, 1)},{day(3, 5)},K35.8,JS1,300,100,100,100"
    return Call(
        "POST",
        "/api/v1/claims/import",
        files={"file": ("结算数据.csv", f"{header}\n{line}\n".encode(), "text/csv")},
        data={"plan_code": t.world.plan, "dry_run": "true"},
    )


@builds("claims", "POST", "/api/v1/payouts/{batch_id}/bank-result")
async def _(t: Target) -> Call:
    """A line for the world's batch with another amount: answered `unmatched`, the world's
    payments unchanged."""
    result = "序号,金额,状态\n1,0.01,成功\n".encode()
    return Call(
        "POST",
        f"/api/v1/payouts/{t.world.batch}/bank-result",
        files={"file": ("结果.csv", result, "text/csv")},
    )


@builds("claims", "GET", "/api/v1/reports/claims")
async def _(t: Target) -> Call:
    return Call("GET", "/api/v1/reports/claims", {"plan_code": t.world.plan})


@builds("claims", "GET", "/api/v1/audit-events")
async def _(t: Target) -> Call:
    params = {"entity": "claim", "entity_id": t.claim}
    return Call("GET", "/api/v1/audit-events", params, record=t.claim)


HOOKS = "/api/v1/webhooks"
HOOK_URL = "http://127.0.0.1:9/hooks"  # loopback: allowed outside production, never sent to


async def _subscription(t: Target) -> str:
    """A new subscription of the target unit (made by admin)."""
    body = {"url": HOOK_URL, "events": ["claim.filed"], "unit_id": t.unit}
    return (await created(t.api, HOOKS, body))["id"]


def _still_subscribed(t: Target, webhook_id: str) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        response = await t.api.get(f"{HOOKS}/{webhook_id}", headers=ADMIN)
        assert response.status_code == 200, "another unit's subscription was deleted"
        assert response.json()["events"] == ["claim.filed"], "another unit's was changed"

    return check


@builds("claims", "POST", "/api/v1/webhooks")
async def _(t: Target) -> Call:
    body = {"url": HOOK_URL, "events": ["claim.filed", "claim.paid"], "unit_id": t.unit}
    return Call("POST", HOOKS, json=body)


@builds("claims", "GET", "/api/v1/webhooks")
async def _(t: Target) -> Call:
    webhook_id = await _subscription(t)
    return Call("GET", HOOKS, {"unit_id": t.unit, "limit": 500}, record=webhook_id)


@builds("claims", "GET", "/api/v1/webhooks/{webhook_id}")
async def _(t: Target) -> Call:
    webhook_id = await _subscription(t)
    return Call("GET", f"{HOOKS}/{webhook_id}", record=webhook_id)


@builds("claims", "PATCH", "/api/v1/webhooks/{webhook_id}")
async def _(t: Target) -> Call:
    webhook_id = await _subscription(t)
    body = {"events": ["claim.paid"]}
    unchanged = _still_subscribed(t, webhook_id)
    return Call("PATCH", f"{HOOKS}/{webhook_id}", json=body, unchanged=unchanged)


@builds("claims", "DELETE", "/api/v1/webhooks/{webhook_id}")
async def _(t: Target) -> Call:
    webhook_id = await _subscription(t)
    return Call("DELETE", f"{HOOKS}/{webhook_id}", unchanged=_still_subscribed(t, webhook_id))


async def send(api: httpx.AsyncClient, call: Call, headers: dict[str, str]) -> httpx.Response:
    return await api.request(
        call.method,
        call.url,
        params=call.params,
        json=call.json,
        files=call.files,
        data=call.data,
        headers=headers,
    )


# --- the route table and the rules agree ------------------------------------------------


def openapi_routes() -> set[Route]:
    from claims_api.app import create_app as claims_app
    from members_api.app import create_app as members_app

    routes: set[Route] = set()
    for service, create_app in (("members", members_app), ("claims", claims_app)):
        for path, operations in create_app().openapi()["paths"].items():
            routes |= {(service, method.upper(), path) for method in operations}
    return routes


def _named(routes: set[Route]) -> str:
    return ", ".join(f"{method} {path} ({service})" for service, method, path in sorted(routes))


def test_every_route_has_an_access_rule_and_every_rule_a_route() -> None:
    routes = openapi_routes()
    without_rule = routes - set(RULES) - PUBLIC
    assert not without_rule, "routes without an access rule in tests/access_rules.py: " + (
        _named(without_rule)
    )
    removed = (set(RULES) | PUBLIC) - routes
    assert not removed, f"access rules for routes no service has: {_named(removed)}"
    without_request = set(RULES) - set(BUILDERS)
    assert not without_request, f"no request built for: {_named(without_request)}"


# --- the matrix ---------------------------------------------------------------------------


def _case_id(case: tuple[Route, str, str, int]) -> str:
    (service, method, path), role, scope, status = case
    return f"{method} {path} [{service}] {role} {scope} -> {status}"


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    provider = TestProvider()
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture(
    scope="module",
    params=["local", pytest.param("provider", marks=pytest.mark.only(backend="postgres"))],
)
async def mint(
    request: pytest.FixtureRequest, members_app: FastAPI, claims_app: FastAPI
) -> AsyncIterator[Minter]:
    """Who signs the tokens of the case: `mutualaid token`'s secret, or the identity provider
    (both services trusting it while the cases run; local tokens, the world's builders', still
    work). Module-scoped: the services fetch the provider's keys once, not for every case."""
    if request.param == "local":
        yield bearer
        return
    provider: TestProvider = request.getfixturevalue("provider")
    async with trusting(members_app, provider), trusting(claims_app, provider):
        yield provider.bearer


@pytest.mark.parametrize("case", cases(), ids=_case_id)
async def test_access(
    gateway: httpx.AsyncClient, world: World, mint: Minter, case: tuple[Route, str, str, int]
) -> None:
    route, role, scope, expected = case
    call = await BUILDERS[route](Target(gateway, world, scope, role, mint))
    response = await send(gateway, call, world.token(role, mint))
    assert response.status_code == expected, (
        f"{route[1]} {route[2]} as {role} ({scope}): expected {expected}, "
        f"got {response.status_code}: {response.text[:300]}"
    )
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    elif response.status_code == 200 and call.record is not None:
        if scope == "other":
            assert call.record not in response.text, f"another's record leaks to {role}"
        else:
            assert call.record in response.text, f"{role} does not see {call.record}"
    if scope == "other" and call.unchanged is not None:
        await call.unchanged()


# --- no token -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(RULES), ids=lambda r: f"{r[1]} {r[2]} [{r[0]}]")
async def test_without_a_token_is_401(
    gateway: httpx.AsyncClient, world: World, route: Route
) -> None:
    call = await BUILDERS[route](Target(gateway, world, "any"))
    response = await send(gateway, call, {})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize("service", ["members", "claims"])
@pytest.mark.parametrize("path", sorted({p for _, _, p in PUBLIC} | set(PUBLIC_UNLISTED)), ids=str)
async def test_public_routes_need_no_token(
    members_app: FastAPI, claims_app: FastAPI, service: str, path: str
) -> None:
    """Health and metrics are read by the orchestrator and Prometheus, without a token; the
    gateway's own /healthz is not in the test gateway, so each service is asked directly."""
    app = members_app if service == "members" else claims_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text


def test_every_role_is_in_every_rule() -> None:
    for route, rule in RULES.items():
        assert set(rule.expect) == set(ROLES), route
