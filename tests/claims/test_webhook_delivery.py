"""Webhook deliveries to a real receiver on loopback (tests.webhook_receiver): signed as
Standard Webhooks says (checked with the `standardwebhooks` package, as a receiver would),
retried while it fails, given up and the subscription disabled, scoped per unit, sent again on
request, and never in the way of a request while the receiver hangs."""

import asyncio
import itertools
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from standardwebhooks import Webhook

from claims_api.models import WebhookSubscription
from claims_api.webhooks.schedule import streak_gap_seconds, streak_start
from claims_api.webhooks.signing import body_bytes, signed_headers
from services.kit.clock import wall_now
from tests.claims.support_claims import enrolled_member, file_claim, hospital_stay
from tests.claims.support_webhooks import (
    deliveries_of,
    filed_event,
    new_secret,
    settings_changed,
    subscription,
    subscription_row,
)
from tests.dates import day
from tests.support import ADMIN, REVIEWER, bearer, metric_value
from tests.webhook_receiver import Received, WebhookReceiver

WEBHOOKS = "/api/v1/webhooks"


_stays = itertools.count()


def next_stay() -> dict[str, Any]:
    """A stay that overlaps none filed before in this run (a member's stays never overlap)."""
    n = next(_stays) % 24
    return hospital_stay(day(2 + n // 3, 1 + 9 * (n % 3)), days=4)


def at_path(received: list[Received], path: str) -> list[Received]:
    """What came to one subscription's URL (an attempt of an earlier test may still land)."""
    return [r for r in received if r.path == path]


def deliveries_path(webhook_id: str) -> str:
    return f"{WEBHOOKS}/{webhook_id}/deliveries"


async def filed(api: httpx.AsyncClient, app: FastAPI, enrolled: Any = None) -> dict[str, Any]:
    enrolled = enrolled or await enrolled_member(api)
    claim = await file_claim(api, enrolled, next_stay())
    return {"claim": claim, "event": await filed_event(app, claim), "enrolled": enrolled}


async def delivered_listing(
    api: httpx.AsyncClient, subscription_id: str, count: int = 1, headers: Any = ADMIN
) -> list[dict[str, Any]]:
    """The subscription's deliveries once `count` of them are delivered (the worker polls)."""
    for _ in range(400):
        response = await api.get(deliveries_path(subscription_id), headers=headers)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        if sum(item["status"] == "delivered" for item in items) >= count:
            return items
        await _pause()
    raise AssertionError(f"not delivered: {items}")


async def _pause(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


def test_signature_is_what_a_standard_webhooks_receiver_verifies() -> None:
    secret = new_secret()
    body = body_bytes({"type": "claim.filed", "timestamp": "2026-01-01T00:00:00Z", "data": {}})
    headers = signed_headers(secret, "evt_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers)["type"] == "claim.filed"
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, headers)


async def test_a_filed_claim_is_posted_signed_to_its_subscriber(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    hook = await subscription(webhook_claims_app, f"{webhook_receiver.url}/hr", ["claim.filed"])
    made = await filed(hooks_api, webhook_claims_app)

    got = await webhook_receiver.await_for(lambda got: len(at_path(got, "/hr")) >= 1)
    [received] = at_path(got, "/hr")
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-id"] == made["event"]["id"]
    payload = Webhook(hook["secret"]).verify(received.body, received.headers)
    assert payload["type"] == "claim.filed"
    assert payload["data"]["claim_id"] == made["claim"]["id"]
    assert json.loads(received.body) == made["event"]["payload"]

    [delivery] = await delivered_listing(hooks_api, hook["id"])
    assert delivery["event_id"] == made["event"]["id"]
    assert delivery["event_type"] == "claim.filed"
    assert delivery["attempts"] == 1 and delivery["next_attempt_at"] is None
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["error"] is None


async def test_a_failing_receiver_gets_the_event_again_until_it_answers_2xx(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_next(2)
    hook = await subscription(webhook_claims_app, f"{webhook_receiver.url}/flaky")
    made = await filed(hooks_api, webhook_claims_app)

    got = await webhook_receiver.await_for(
        lambda got: any(r.status == 200 for r in at_path(got, "/flaky"))
    )
    got = at_path(got, "/flaky")
    assert [r.status for r in got] == [500, 500, 200]
    assert {r.headers["webhook-id"] for r in got} == {made["event"]["id"]}
    for received in got:  # each attempt signed afresh, each verifies
        Webhook(hook["secret"]).verify(received.body, received.headers)

    [delivery] = await delivered_listing(hooks_api, hook["id"])
    assert delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert delivery["attempt_log"][0]["error"] == "answered 500"
    assert (await subscription_row(webhook_claims_app, hook["id"])).failing_since is None


async def test_deliveries_given_up_and_the_subscription_disabled_after_their_windows(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_next(10_000, status=503)
    hook = await subscription(webhook_claims_app, f"{webhook_receiver.url}/down")
    with settings_changed(
        webhook_claims_app, webhook_give_up_after_seconds=0.6, webhook_disable_after_seconds=0.4
    ):
        await filed(hooks_api, webhook_claims_app)
        for _ in range(200):
            [delivery] = await deliveries_of(webhook_claims_app, hook["id"]) or [None]
            if delivery is not None and delivery.status == "failed":
                break
            await _pause()
        assert delivery is not None and delivery.status == "failed"
        assert delivery.attempts >= 2 and delivery.last_status_code == 503

        row = await subscription_row(webhook_claims_app, hook["id"])
        assert row.enabled is False
        assert row.disabled_reason.startswith("deliveries failed for 0.4 seconds since ")

        # disabled: a later event is not sent to it, but kept, failed, to send once it is back
        sent_before = len(webhook_receiver.requests_to("/down"))
        later = await filed(hooks_api, webhook_claims_app)
        await _pause(0.5)
        assert len(await deliveries_of(webhook_claims_app, hook["id"])) == 2
        assert len(webhook_receiver.requests_to("/down")) == sent_before
    listing = await hooks_api.get(deliveries_path(hook["id"]), headers=ADMIN)
    [kept] = [d for d in listing.json()["items"] if d["event_id"] == later["event"]["id"]]
    assert (kept["status"], kept["attempts"], kept["attempt_log"]) == ("failed", 0, [])
    assert kept["note"].startswith("not sent: the subscription was disabled")

    webhook_receiver.reset()
    enabled = await hooks_api.patch(
        f"{WEBHOOKS}/{hook['id']}", json={"enabled": True}, headers=ADMIN
    )
    assert enabled.status_code == 200, enabled.text
    retry = f"{deliveries_path(hook['id'])}/{kept['id']}/retry"
    assert (await hooks_api.post(retry, headers=ADMIN)).status_code == 200
    got = await webhook_receiver.await_for(lambda got: len(at_path(got, "/down")) >= 1)
    assert [r.headers["webhook-id"] for r in at_path(got, "/down")] == [later["event"]["id"]]


async def test_a_stored_url_the_client_cannot_send_to_is_a_failed_attempt_not_a_stuck_one(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    # stored as an older check let it through: httpx (IDNA 2008) refuses the name
    broken = await subscription(webhook_claims_app, "https://xn--a.com/in")
    fine = await subscription(webhook_claims_app, f"{webhook_receiver.url}/beside-broken")
    await filed(hooks_api, webhook_claims_app)

    await delivered_listing(hooks_api, fine["id"])  # the same batch is delivered
    for _ in range(200):
        [delivery] = await deliveries_of(webhook_claims_app, broken["id"])
        if delivery.attempts >= 1:
            break
        await _pause()
    assert delivery.attempts >= 1 and delivery.status == "pending"  # recorded, retried later
    [listed, *_] = (await hooks_api.get(deliveries_path(broken["id"]), headers=ADMIN)).json()[
        "items"
    ]
    assert listed["attempt_log"][0]["status_code"] is None
    assert "not a valid host name" in listed["attempt_log"][0]["error"]


async def test_one_failure_days_after_a_given_up_streak_starts_a_new_one(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    hook = await subscription(webhook_claims_app, f"{webhook_receiver.url}/streak")
    long_ago = wall_now() - timedelta(days=2)  # its failing deliveries were given up then
    async with webhook_claims_app.state.database.engine.begin() as connection:
        await connection.execute(
            update(WebhookSubscription.__table__)
            .where(WebhookSubscription.__table__.c.id == hook["id"])
            .values(failing_since=long_ago, last_failure_at=long_ago)
        )
    webhook_receiver.fail_next(1)
    with settings_changed(webhook_claims_app, webhook_disable_after_seconds=86_400.0):
        await filed(hooks_api, webhook_claims_app)
        await webhook_receiver.await_for(lambda got: len(at_path(got, "/streak")) >= 1)
        await delivered_listing(hooks_api, hook["id"])  # retried, then delivered
    row = await subscription_row(webhook_claims_app, hook["id"])
    assert row.enabled is True and row.disabled_reason is None


def test_a_streak_is_continuous_failures() -> None:
    start, gap = wall_now(), 600.0
    at = start + timedelta(seconds=300)
    assert streak_start(None, None, start, gap) == start
    assert streak_start(start, start, at, gap) == start  # within the gap: the same streak
    later = start + timedelta(seconds=601)
    assert streak_start(start, start, later, gap) == later  # quiet for longer: a new one
    assert streak_gap_seconds((5, 30, 43_200), 10, 1) == 43_222


async def test_a_unit_subscription_receives_its_unit_only(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    ours = await enrolled_member(hooks_api)
    theirs = await enrolled_member(hooks_api)
    mine = await subscription(
        webhook_claims_app, f"{webhook_receiver.url}/ours", unit_id=ours.unit_id
    )
    everything = await subscription(webhook_claims_app, f"{webhook_receiver.url}/all")

    our_claim = await filed(hooks_api, webhook_claims_app, ours)
    their_claim = await filed(hooks_api, webhook_claims_app, theirs)

    await delivered_listing(hooks_api, everything["id"], count=2)
    await delivered_listing(hooks_api, mine["id"], count=1)
    await _pause(0.3)  # anything else would have come by now
    to_ours = webhook_receiver.requests_to("/ours")
    assert [r.headers["webhook-id"] for r in to_ours] == [our_claim["event"]["id"]]
    assert {r.headers["webhook-id"] for r in webhook_receiver.requests_to("/all")} == {
        our_claim["event"]["id"],
        their_claim["event"]["id"],
    }


async def test_a_hanging_receiver_never_slows_filing(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    enrolled = await enrolled_member(hooks_api)
    hook = await subscription(webhook_claims_app, f"{webhook_receiver.url}/slow", ["claim.filed"])
    webhook_receiver.hang()
    with settings_changed(webhook_claims_app, webhook_attempt_timeout_seconds=30.0):
        await filed(hooks_api, webhook_claims_app, enrolled)
        await webhook_receiver.await_for(lambda got: len(at_path(got, "/slow")) >= 1)

        # the receiver holds the first delivery; meanwhile claims are filed and answered
        for _ in range(5):
            await file_claim(hooks_api, enrolled, next_stay())
        [first, *_] = sorted(
            await deliveries_of(webhook_claims_app, hook["id"]), key=lambda d: d.id
        )
        assert first.attempts == 0  # its attempt is still waiting for the receiver
        assert [r.status for r in webhook_receiver.requests_to("/slow")][0] is None
        webhook_receiver.release()
    webhook_receiver.reset()


async def test_a_delivery_sent_again_on_request(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    enrolled = await enrolled_member(hooks_api)
    hook = await subscription(
        webhook_claims_app, f"{webhook_receiver.url}/again", unit_id=enrolled.unit_id
    )
    made = await filed(hooks_api, webhook_claims_app, enrolled)
    [delivery] = await delivered_listing(hooks_api, hook["id"], headers=enrolled.hr)
    retry = f"{deliveries_path(hook['id'])}/{delivery['id']}/retry"

    other_hr = bearer("hr", unit_id="unt_000000000000aaaaaaaaaaaaaaaaaaaa")
    assert (await hooks_api.post(retry, headers=other_hr)).status_code == 404
    assert (await hooks_api.get(deliveries_path(hook["id"]), headers=other_hr)).status_code == 404
    assert (await hooks_api.post(retry, headers=REVIEWER)).status_code == 403

    answer = await hooks_api.post(retry, headers=enrolled.hr)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pending"
    await webhook_receiver.await_for(lambda got: len(at_path(got, "/again")) >= 2)
    assert [r.headers["webhook-id"] for r in webhook_receiver.requests_to("/again")] == [
        made["event"]["id"]
    ] * 2
    [again] = await delivered_listing(hooks_api, hook["id"])
    assert again["attempts"] == 2 and len(again["attempt_log"]) == 2

    audit = await hooks_api.get(
        "/api/v1/audit-events",
        params={"entity": "webhook_delivery", "entity_id": delivery["id"]},
        headers=ADMIN,
    )
    assert audit.status_code == 200, audit.text
    [event] = audit.json()["items"]
    assert event["action"] == "webhook_delivery.retry" and event["before"]["status"] == "delivered"

    webhook_receiver.hang()
    await hooks_api.post(retry, headers=ADMIN)
    await webhook_receiver.await_for(lambda got: len(at_path(got, "/again")) >= 3)
    pending = await hooks_api.post(retry, headers=ADMIN)
    assert pending.status_code == 409 and pending.json()["code"] == "delivery_pending"
    webhook_receiver.release()


async def test_the_worker_counts_its_deliveries_and_backlog(
    hooks_api: httpx.AsyncClient, webhook_claims_app: FastAPI, webhook_receiver: WebhookReceiver
) -> None:
    async def exposition() -> str:
        transport = httpx.ASGITransport(app=webhook_claims_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
            return (await client.get("/metrics")).text

    before = await exposition()
    webhook_receiver.fail_next(1)
    hook = await subscription(webhook_claims_app, f"{webhook_receiver.url}/counted")
    await filed(hooks_api, webhook_claims_app)
    await delivered_listing(hooks_api, hook["id"])
    await _pause(0.2)
    after = await exposition()

    def grew(series: str) -> float:
        return metric_value(after, series) - metric_value(before, series)

    assert grew('mutualaid_webhook_deliveries_total{outcome="delivered"}') == 1
    assert grew('mutualaid_webhook_deliveries_total{outcome="retried"}') == 1
    assert grew("mutualaid_webhook_attempt_duration_seconds_count") == 2
    assert metric_value(after, "mutualaid_webhook_backlog") == 0
    assert metric_value(after, "mutualaid_webhook_oldest_pending_age_seconds") == 0
