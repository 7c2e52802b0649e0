"""Every state-changing request appears in the audit log with actor, time, request id and the
values before and after. A new POST, PUT, PATCH or DELETE route without an entry here fails the
suite."""

import pytest

from claims_api.app import create_app as create_claims
from members_api.app import create_app as create_members
from services.kit.clock import today
from tests.cards import card_number
from tests.claims.support_claims import (
    approve,
    decide,
    enrolled_member,
    file_claim,
    hospital_stay,
    new_member,
    pay,
)
from tests.claims.support_documents import paper
from tests.claims.support_settlement import imported, person, stay
from tests.claims.support_webhooks import delivered_delivery
from tests.dates import COVER_START as JAN_1
from tests.dates import day
from tests.support import ADMIN, FINANCE, valid_national_id

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

# (method, path) -> (entity, action) it must record; quote changes nothing.
AUDITED = {
    ("POST", "/api/v1/units"): ("unit", "unit.create"),
    ("PATCH", "/api/v1/units/{unit_id}"): ("unit", "unit.update"),
    ("POST", "/api/v1/members"): ("member", "member.create"),
    ("PATCH", "/api/v1/members/{member_id}"): ("member", "member.update"),
    ("POST", "/api/v1/members/leaving"): ("member", "member.update"),
    ("POST", "/api/v1/plans"): ("plan", "plan.create"),
    ("POST", "/api/v1/enrollments"): ("enrollment", "enrollment.create"),
    ("POST", "/api/v1/enrollments/{enrollment_id}/cancel"): ("enrollment", "enrollment.cancel"),
    ("POST", "/api/v1/enrollments/batch"): ("enrollment_batch", "enrollment.batch"),
    ("POST", "/api/v1/enrollments/import"): ("enrollment_batch", "enrollment.batch"),
    ("POST", "/api/v1/contributions"): ("contribution", "contribution.create"),
    ("POST", "/api/v1/contributions/{contribution_id}/reversal"): (
        "contribution",
        "contribution.reverse",
    ),
    ("PUT", "/api/v1/members/{member_id}/payout-account"): (
        "payout_account",
        "payout_account.set",
    ),
    ("DELETE", "/api/v1/members/{member_id}/payout-account"): (
        "payout_account",
        "payout_account.delete",
    ),
    # a read, but of full card numbers for a payment batch: who read whose is recorded
    ("POST", "/api/v1/payout-accounts/lookup"): ("payout_account_lookup", "payout_account.lookup"),
    ("POST", "/api/v1/claims"): ("claim", "claim.submit"),
    ("POST", "/api/v1/claims/{claim_id}/decision"): ("claim", "claim.approve"),
    ("POST", "/api/v1/claims/{claim_id}/supplement"): ("claim", "claim.supplement"),
    ("POST", "/api/v1/claims/{claim_id}/withdraw"): ("claim", "claim.withdraw"),
    ("POST", "/api/v1/claims/{claim_id}/documents"): ("claim_document", "document.upload"),
    ("POST", "/api/v1/claims/{claim_id}/documents/{document_id}/withdraw"): (
        "claim_document",
        "document.withdraw",
    ),
    ("POST", "/api/v1/payouts"): ("payout_batch", "payout.create"),
    ("POST", "/api/v1/payouts/{batch_id}/reversal"): ("payout_batch", "payout.reverse"),
    ("POST", "/api/v1/payouts/{batch_id}/bank-result"): ("payout_batch", "payout.bank_result"),
    ("POST", "/api/v1/claims/import"): ("claim_import", "claim.import"),
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): (
        "webhook_delivery",
        "webhook_delivery.retry",
    ),
    ("POST", "/api/v1/webhooks"): ("webhook_subscription", "webhook.create"),
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): ("webhook_subscription", "webhook.update"),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): ("webhook_subscription", "webhook.delete"),
}
# Reads sent as a POST for their size: the batch coverage look-up changes nothing.
READ_ONLY_POSTS = {("POST", "/api/v1/claims/quote"), ("POST", "/api/v1/coverage/lookup")}
# Reads that are audited all the same (what they show is sensitive: full account numbers).
AUDITED_READS = {
    ("GET", "/api/v1/payouts/{batch_id}/bank-file"): ("payout_batch", "payout.bank_file"),
    # medical papers are sensitive personal information: every download is recorded
    ("GET", "/api/v1/claims/{claim_id}/documents/{document_id}/content"): (
        "claim_document",
        "document.download",
    ),
}


def _changing_routes() -> set[tuple[str, str]]:
    routes = set()
    for app in (create_members(), create_claims()):
        for path, operations in app.openapi()["paths"].items():
            routes |= {
                (m.upper(), path) for m in operations if m in ("post", "patch", "put", "delete")
            }
    return routes - READ_ONLY_POSTS


def test_every_changing_route_has_an_audit_entry():
    routes = _changing_routes()
    assert routes - set(AUDITED) == set(), "routes that change state with no audit entry here"
    assert set(AUDITED) - routes == set(), "audit entries for routes that no longer exist"
    reads = {
        (method.upper(), path)
        for path, operations in create_claims().openapi()["paths"].items()
        for method in operations
    }
    assert set(AUDITED_READS) <= reads, "audited reads for routes that no longer exist"


async def _events(api, entity: str) -> list[dict]:
    response = await api.get("/api/v1/audit-events", params={"entity": entity}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_journey_leaves_one_audited_event_per_change(api, claims_app):
    def tagged(headers: dict, name: str) -> dict:
        return {**headers, "X-Request-ID": f"audit-{name}"}

    worker = await enrolled_member(api)
    unit = worker.unit_id
    await api.patch(f"/api/v1/units/{unit}", json={"insured_headcount": 9}, headers=ADMIN)
    other = await new_member(api, unit)
    patched = await api.patch(
        f"/api/v1/members/{other}", json={"phone": "13800000000"}, headers=tagged(ADMIN, "m")
    )
    assert patched.status_code == 200
    body = {"member_id": other, "plan_code": worker.plan_code, "shares": 1}
    future = await api.post("/api/v1/enrollments", json=body, headers=ADMIN)
    if future.status_code == 201:
        await api.post(f"/api/v1/enrollments/{future.json()['id']}/cancel", json={}, headers=ADMIN)
    batch = {
        "unit_id": unit,
        "plan_code": worker.plan_code,
        "rows": [{"national_id": valid_national_id(), "name": "张敏", "shares": 1}],
    }
    batched = await api.post("/api/v1/enrollments/batch", json=batch, headers=ADMIN)
    assert batched.status_code == 200, batched.text
    leaver = {"national_id": batch["rows"][0]["national_id"], "left_on": str(today())}
    left = await api.post("/api/v1/members/leaving", json={"rows": [leaver]}, headers=ADMIN)
    assert left.status_code == 200, left.text

    payment = {
        "unit_id": unit,
        "plan_code": worker.plan_code,
        "amount": "36.00",
        "paid_on": str(today()),
        "reference": "AUDIT-1",
        "method": "bank_transfer",
    }
    contribution = await api.post("/api/v1/contributions", json=payment, headers=FINANCE)
    assert contribution.status_code == 201, contribution.text
    undone = await api.post(
        f"/api/v1/contributions/{contribution.json()['id']}/reversal",
        json={"reason": "another unit's transfer"},
        headers=tagged(FINANCE, "c"),
    )
    assert undone.status_code == 201, undone.text

    card = {"account_name": "王芳", "account_number": card_number(), "bank_name": "中国银行"}
    account = f"/api/v1/members/{other}/payout-account"
    assert (await api.put(account, json=card, headers=ADMIN)).status_code == 200
    lookup = {"member_ids": [other]}
    looked_up = await api.post("/api/v1/payout-accounts/lookup", json=lookup, headers=FINANCE)
    assert looked_up.status_code == 200, looked_up.text
    assert (await api.delete(account, headers=ADMIN)).status_code == 204

    claim = await file_claim(api, worker, hospital_stay(day(2, 3)))
    await approve(api, claim["id"])
    paid = await pay(api, [claim["id"]])
    assert paid.status_code == 201
    reversal = await api.post(
        f"/api/v1/payouts/{paid.json()['id']}/reversal", json={"reason": "bounced"}, headers=FINANCE
    )
    assert reversal.status_code == 201
    again = await pay(api, [claim["id"]], reference="AUDIT-2")
    assert again.status_code == 201, again.text
    batch = again.json()
    downloaded = await api.get(f"/api/v1/payouts/{batch['id']}/bank-file", headers=FINANCE)
    assert downloaded.status_code == 200, downloaded.text
    [entry] = batch["entries"]
    result = f"序号,金额,状态\n1,{entry['amount']},成功\n".encode()
    answered = await api.post(
        f"/api/v1/payouts/{batch['id']}/bank-result",
        files={"file": ("结果.csv", result, "text/csv")},
        headers=FINANCE,
    )
    assert answered.status_code == 200, answered.text
    withdrawn = await file_claim(api, worker, hospital_stay(day(4, 3)))
    papers = f"/api/v1/claims/{withdrawn['id']}/documents"
    files = {"file": ("票据.pdf", paper(), "application/pdf")}
    sent = await api.post(papers, files=files, data={"kind": "invoice"}, headers=worker.member)
    assert sent.status_code == 201, sent.text
    document = f"{papers}/{sent.json()['id']}"
    assert (await api.get(f"{document}/content", headers=ADMIN)).status_code == 200
    assert (await api.post(f"{document}/withdraw", headers=worker.member)).status_code == 200
    assert (await decide(api, withdrawn["id"], "request_info", "papers")).status_code == 200
    supplied = await api.post(
        f"/api/v1/claims/{withdrawn['id']}/supplement", json={"note": "sent"}, headers=worker.member
    )
    assert supplied.status_code == 200, supplied.text
    out = await api.post(
        f"/api/v1/claims/{withdrawn['id']}/withdraw", json={}, headers=worker.member
    )
    assert out.status_code == 200, out.text
    insured = await person(api, unit, worker.plan_code, starts_on=JAN_1)
    await imported(api, worker.plan_code, [stay(insured, day(6, 1))])
    hook, delivery = await delivered_delivery(claims_app, unit, claim["id"], worker.member_id)
    retried = await api.post(f"/api/v1/webhooks/{hook}/deliveries/{delivery}/retry", headers=ADMIN)
    assert retried.status_code == 200, retried.text
    hook = {"url": "https://hr.example.com/hooks", "events": ["claim.paid"], "unit_id": unit}
    subscribed = await api.post("/api/v1/webhooks", json=hook, headers=ADMIN)
    assert subscribed.status_code == 201, subscribed.text
    hook_url = f"/api/v1/webhooks/{subscribed.json()['id']}"
    changed = await api.patch(hook_url, json={"enabled": False}, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    assert (await api.delete(hook_url, headers=ADMIN)).status_code == 204

    seen: dict[str, list[dict]] = {}
    audited = {**AUDITED, **AUDITED_READS}
    for entity in {entity for entity, _ in audited.values()}:
        for event in await _events(api, entity):
            seen.setdefault(event["action"], []).append(event)
    expected = {action for _, action in audited.values()}
    if future.status_code != 201:  # cover already started: a cancel is refused, not audited
        expected.discard("enrollment.cancel")
    assert expected <= set(seen), f"missing: {expected - set(seen)}"
    for events in seen.values():
        for event in events:
            assert event["actor"] and event["role"] and event["at"] and event["request_id"]
            # a deletion keeps what was there in `before`; it has no `after`
            assert event["after"] is not None or event["action"].endswith(".delete")
    [member_update] = [e for e in seen["member.update"] if e["request_id"] == "audit-m"]
    assert member_update["before"] == {"phone": None}
    assert member_update["after"] == {"phone": "13800000000"}
    assert seen["claim.withdraw"][0]["before"] == {"status": "pending_review"}
    [reversed_] = seen["contribution.reverse"]
    assert reversed_["request_id"] == "audit-c"  # written by the service, without the Request
    assert reversed_["before"] == {"reversed_by": None}
