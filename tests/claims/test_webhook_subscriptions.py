"""Webhook subscriptions as admin and hr make and keep them (API.md webhooks): the secret shown
once, hr confined to its unit, the events checked, a deletion kept, every change audited
without the secret; and the destinations refused (no SSRF), as the pure URL check decides."""

import asyncio
import base64
import socket
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from claims_api.models import WebhookSubscription
from claims_api.webhooks import urls
from claims_api.webhooks.delivery import DueDelivery
from claims_api.webhooks.urls import DestinationRefused, check_destination, check_url
from services.kit.auth import issue_token
from tests.claims.support_claims import listed, new_unit, problem
from tests.support import ADMIN, DEVELOPMENT_JWT_SECRET, bearer

HOOKS = "/api/v1/webhooks"
RECEIVER = "https://hr.example.com/hooks/mutualaid"


async def subscribe(api, headers=ADMIN, **body):
    body = {"url": RECEIVER, "events": ["claim.filed", "claim.paid"], **body}
    return await api.post(HOOKS, json=body, headers=headers)


async def subscribed(api, headers=ADMIN, **body):
    response = await subscribe(api, headers, **body)
    assert response.status_code == 201, response.text
    return response.json()


class TestTheSecret:
    async def test_shown_once_in_the_standard_webhooks_form(self, api):
        unit = await new_unit(api)
        created = await subscribed(api, unit_id=unit)
        secret = created["secret"]
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
        assert created["id"].startswith("whk_") and created["enabled"] is True
        assert (created["unit_id"], created["url"]) == (unit, RECEIVER)

        read = await api.get(f"{HOOKS}/{created['id']}", headers=ADMIN)
        assert read.status_code == 200 and "secret" not in read.json()
        assert secret not in read.text
        assert secret not in (await api.get(HOOKS, headers=ADMIN)).text
        changed = await api.patch(f"{HOOKS}/{created['id']}", json={}, headers=ADMIN)
        assert secret not in changed.text

    async def test_a_replayed_answer_does_not_show_it_again(self, api):
        headers = {**ADMIN, "Idempotency-Key": "subscribe-hr-system"}
        first = await subscribe(api, headers)
        assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
        again = await subscribe(api, headers)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        replayed = again.json()
        assert replayed["id"] == first.json()["id"]
        assert replayed["secret"] is None and replayed["secret_shown"] is False
        assert first.json()["secret"] not in again.text

    def test_a_delivery_never_shows_it_in_its_repr(self):
        due = DueDelivery("dlv_1", "evt_1", "whk_1", RECEIVER, "whsec_abc", {}, 0, None, None)
        assert "whsec_abc" not in repr(due)

    async def test_each_subscription_has_its_own(self, api):
        one, two = await subscribed(api), await subscribed(api)
        assert one["secret"] != two["secret"]

    async def test_the_audit_log_never_holds_it(self, api):
        created = await subscribed(api)
        await api.patch(f"{HOOKS}/{created['id']}", json={"enabled": False}, headers=ADMIN)
        await api.delete(f"{HOOKS}/{created['id']}", headers=ADMIN)
        params = {"entity": "webhook_subscription", "entity_id": created["id"]}
        response = await api.get("/api/v1/audit-events", params=params, headers=ADMIN)
        events = response.json()["items"]
        assert [e["action"] for e in events] == [
            "webhook.create",
            "webhook.update",
            "webhook.delete",
        ]
        assert created["secret"] not in response.text and "secret" not in response.text
        assert events[0]["after"]["url"] == RECEIVER
        assert events[1]["before"]["enabled"] is True and events[1]["after"]["enabled"] is False


class TestWhoSubscribes:
    async def test_admin_subscribes_for_every_unit_or_one(self, api):
        every = await subscribed(api)
        assert every["unit_id"] is None
        unit = await new_unit(api)
        assert (await subscribed(api, unit_id=unit))["unit_id"] == unit

    async def test_hr_subscribes_for_its_own_unit_only(self, api):
        unit, other = await new_unit(api), await new_unit(api, "第二机床厂")
        hr = bearer("hr", unit_id=unit)
        assert (await subscribed(api, hr))["unit_id"] == unit  # unit_id left out: its own
        assert (await subscribed(api, hr, unit_id=unit))["unit_id"] == unit
        problem(await subscribe(api, hr, unit_id=other), 404)

    async def test_hr_sees_and_changes_only_its_units(self, api):
        unit, other = await new_unit(api), await new_unit(api, "第二机床厂")
        hr = bearer("hr", unit_id=unit)
        mine = await subscribed(api, hr)
        theirs = await subscribed(api, unit_id=other)
        every = await subscribed(api)
        assert [s["id"] for s in await listed(api, HOOKS, hr)] == [mine["id"]]
        assert await listed(api, HOOKS, hr, unit_id=other) == []
        for foreign in (theirs, every):
            url = f"{HOOKS}/{foreign['id']}"
            problem(await api.get(url, headers=hr), 404)
            problem(await api.patch(url, json={"enabled": False}, headers=hr), 404)
            problem(await api.delete(url, headers=hr), 404)
            assert (await api.get(url, headers=ADMIN)).json()["enabled"] is True
        assert {s["id"] for s in await listed(api, HOOKS)} >= {mine["id"], theirs["id"]}

    @pytest.mark.parametrize("role", ["member", "reviewer", "finance", "auditor"])
    async def test_no_other_role_subscribes_or_reads(self, api, role):
        headers = bearer(role, member_id="mbr_0" if role == "member" else None)
        problem(await subscribe(api, headers), 403)
        problem(await api.get(HOOKS, headers=headers), 403)


class TestChanging:
    async def test_events_and_url_change_and_a_reenabling_clears_why_it_stopped(
        self, api, claims_app
    ):
        created = await subscribed(api)
        url = f"{HOOKS}/{created['id']}"
        body = {"events": ["claim.payment_returned"], "url": "https://apps.example.org/in"}
        changed = (await api.patch(url, json=body, headers=ADMIN)).json()
        assert changed["events"] == ["claim.payment_returned"]
        assert changed["url"] == "https://apps.example.org/in"

        off = (await api.patch(url, json={"enabled": False}, headers=ADMIN)).json()
        assert off["enabled"] is False and off["disabled_reason"]
        # as the delivery side leaves it after three days of failures
        async with claims_app.state.database.sessions() as session:
            stored = await session.scalar(
                select(WebhookSubscription).where(WebhookSubscription.id == created["id"])
            )
            stored.disabled_reason, stored.failing_since = "failing for 3 days", stored.created_at
            await session.commit()
        assert (await api.get(url, headers=ADMIN)).json()["failing_since"] is not None
        on = (await api.patch(url, json={"enabled": True}, headers=ADMIN)).json()
        assert on["enabled"] is True
        assert (on["disabled_reason"], on["failing_since"]) == (None, None)

    async def test_disabled_by_a_long_subject_is_cut_to_fit(self, api):
        created = await subscribed(api)
        long_sub = "admin@" + "x" * 194  # 200: as long as the audit log's actor holds
        token = issue_token(DEVELOPMENT_JWT_SECRET, role="admin", sub=long_sub)
        admin = {"Authorization": f"Bearer {token}"}
        answer = await api.patch(f"{HOOKS}/{created['id']}", json={"enabled": False}, headers=admin)
        assert answer.status_code == 200, answer.text
        reason = answer.json()["disabled_reason"]
        assert len(reason) == 200 and reason.startswith("disabled by admin@xxx")

    async def test_a_deleted_subscription_is_gone_but_kept(self, api, claims_app):
        created = await subscribed(api)
        url = f"{HOOKS}/{created['id']}"
        assert (await api.delete(url, headers=ADMIN)).status_code == 204
        problem(await api.get(url, headers=ADMIN), 404)
        problem(await api.delete(url, headers=ADMIN), 404)
        assert created["id"] not in {s["id"] for s in await listed(api, HOOKS)}
        async with claims_app.state.database.sessions() as session:
            kept = await session.get(WebhookSubscription, created["id"])
        assert kept is not None and kept.deleted_at is not None and kept.enabled is False

    async def test_the_list_is_paged(self, api):
        ids = [(await subscribed(api))["id"] for _ in range(3)]
        first = await api.get(HOOKS, params={"limit": 2}, headers=ADMIN)
        page = first.json()
        assert [s["id"] for s in page["items"]] == ids[:2] and page["next_cursor"]
        rest = await api.get(
            HOOKS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=ADMIN
        )
        assert [s["id"] for s in rest.json()["items"]] == ids[2:]


class TestRefusedBodies:
    @pytest.mark.parametrize(
        "events",
        [[], ["claim.filed", "claim.filed"], ["claim.withdrawn"], "claim.filed"],
        ids=["none", "twice", "unknown", "not a list"],
    )
    async def test_events_must_be_known_and_each_once(self, api, events):
        body = problem(await subscribe(api, events=events), 422)
        assert any("events" in error["loc"] for error in body["errors"]), body

    @pytest.mark.parametrize(
        "url",
        [
            "http://hr.example.com/hooks",
            "https://user:pw@hr.example.com/hooks",
            "https://10.0.0.5/hooks",
            "https://169.254.169.254/latest/meta-data",
            "ftp://hr.example.com/hooks",
            "https://" + "a" * 2000 + ".example.com/",
            "https://i❤.ws/x",
            "https://xn--a.com/",
        ],
        ids=["http", "userinfo", "private", "metadata", "ftp", "too long", "idna", "xn--"],
    )
    async def test_a_refused_destination_is_422_naming_url(self, api, url):
        body = problem(await subscribe(api, url=url), 422)
        assert any(error["loc"][-1] == "url" for error in body["errors"]), body
        body = problem(
            await api.patch(
                f"{HOOKS}/{(await subscribed(api))['id']}", json={"url": url}, headers=ADMIN
            ),
            422,
        )
        assert any(error["loc"][-1] == "url" for error in body["errors"]), body

    @pytest.mark.parametrize("length", [41, 60])
    async def test_a_unit_id_longer_than_an_id_is_422(self, api, length):
        body = problem(await subscribe(api, unit_id="unt_" + "a" * (length - 4)), 422)
        assert any(error["loc"][-1] == "unit_id" for error in body["errors"]), body

    async def test_a_local_receiver_is_allowed_outside_production(self, api):
        created = await subscribed(api, url="http://127.0.0.1:8765/hooks")
        assert created["url"] == "http://127.0.0.1:8765/hooks"
        assert (await subscribed(api, url="http://localhost:8765/in"))["enabled"] is True


# --- the destination check itself (claims_api.webhooks.urls), without a server -----------

PRODUCTION = SimpleNamespace(environment="production")  # what the check reads of the settings
TEST = SimpleNamespace(environment="test")


def resolving_to(*addresses: str):
    """A resolver answering these addresses for every name (the unit tests' DNS)."""

    def getaddrinfo(host, port, *args, **kwargs):
        family = lambda a: socket.AF_INET6 if ":" in a else socket.AF_INET  # noqa: E731
        return [(family(a), socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


REFUSED_ADDRESSES = {
    "private 10/8": "10.1.2.3",
    "private 172.16/12": "172.16.0.1",
    "private 192.168/16": "192.168.1.1",
    "loopback": "127.0.0.1",
    "link-local (metadata)": "169.254.169.254",
    "multicast": "224.0.0.1",
    "reserved": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "unspecified": "0.0.0.0",
    "CGNAT": "100.64.0.1",
    "IPv6 loopback": "::1",
    "IPv6 unique local": "fd00::1",
    "IPv6 link-local": "fe80::1",
    "IPv6 multicast": "ff02::1",
    "IPv6 unspecified": "::",
    "IPv4-mapped private": "::ffff:10.0.0.1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "6to4 of a private": "2002:a00:1::1",
    "NAT64 of a private": "64:ff9b::a00:1",
}


class TestDestinations:
    @pytest.mark.parametrize("address", REFUSED_ADDRESSES.values(), ids=REFUSED_ADDRESSES.keys())
    async def test_a_name_resolving_to_an_internal_address_is_refused_in_production(
        self, address, monkeypatch
    ):
        monkeypatch.setattr(urls, "getaddrinfo", resolving_to("93.184.216.34", address))
        with pytest.raises(DestinationRefused, match="resolves to") as refused:
            await check_destination("https://hooks.example.com/in", PRODUCTION)
        # the 422 and hr's attempt log never learn the internal network's addresses
        assert str(refused.value) == "the host hooks.example.com resolves to a non-public address"

    @pytest.mark.parametrize("address", REFUSED_ADDRESSES.values(), ids=REFUSED_ADDRESSES.keys())
    async def test_the_same_address_given_literally_is_refused(self, address):
        host = f"[{address}]" if ":" in address else address
        with pytest.raises(DestinationRefused):
            await check_destination(f"https://{host}/in", PRODUCTION)

    async def test_a_public_name_is_accepted_in_production(self, monkeypatch):
        monkeypatch.setattr(urls, "getaddrinfo", resolving_to("93.184.216.34", "2606:2800::1"))
        await check_destination("https://hooks.example.com:8443/in?unit=1", PRODUCTION)
        await check_destination("https://93.184.216.34/in", PRODUCTION)

    async def test_a_name_that_does_not_resolve_is_refused_in_production(self, monkeypatch):
        def failing(*args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(urls, "getaddrinfo", failing)
        with pytest.raises(DestinationRefused, match="does not resolve"):
            await check_destination("https://nowhere.example.com/in", PRODUCTION)

    async def test_hung_lookups_hold_a_few_threads_of_their_own(self, monkeypatch):
        hung = threading.Event()

        def hanging(*args, **kwargs):
            hung.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

        monkeypatch.setattr(urls, "getaddrinfo", hanging)
        monkeypatch.setattr(urls, "RESOLVE_TIMEOUT_SECONDS", 0.2)
        try:
            checks = [
                check_destination(f"https://h{n}.example.com/", PRODUCTION) for n in range(40)
            ]
            for outcome in await asyncio.gather(*checks, return_exceptions=True):
                assert isinstance(outcome, DestinationRefused), outcome
            lookups = [t for t in threading.enumerate() if t.name.startswith("webhook-dns")]
            assert len(lookups) <= urls.RESOLVER_THREADS
            # the loop's default threads are free for the rest of the service
            assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 1) == "free"
        finally:
            hung.set()

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:8000/in",
            "http://localhost/in",
            "https://localhost/in",
            "http://[::1]/",
        ],
    )
    async def test_this_machine_only_outside_production(self, url):
        await check_destination(url, TEST)
        with pytest.raises(DestinationRefused):
            await check_destination(url, PRODUCTION)

    @pytest.mark.parametrize(
        "url, why",
        [
            ("http://hooks.example.com/in", "https"),
            ("http://10.0.0.1/in", "https"),
            ("https://user@hooks.example.com/in", "user name"),
            ("https://:pw@hooks.example.com/in", "user name"),
            ("gopher://hooks.example.com/", "https"),
            ("https:///in", "no host"),
            ("https://hooks.example.com:99999/", "not a URL"),
            ("https://hooks.example.com/a b", "spaces"),
            ("https://2130706433/", "numeric"),
            ("https://0x7f.1/", "numeric"),
            ("https://10.0.0.1/", "private"),
            ("https://[fe80::1%25eth0]/", "link-local"),
            ("https://hooks.example.com/" + "a" * 2000, "2000"),
            # IDNA 2003 (Python's codec) takes these, IDNA 2008 (httpx's) does not
            ("https://i❤.ws/x", "not a valid host name"),
            ("https://☃.net/", "not a valid host name"),
            ("https://xn--a.com/", "not a valid host name"),
        ],
    )
    def test_what_is_refused_before_asking_dns_in_every_environment(self, url, why):
        for settings in (TEST, PRODUCTION):
            with pytest.raises(DestinationRefused, match=why):
                check_url(url, settings)

    async def test_outside_production_a_name_is_not_resolved(self, monkeypatch):
        def unreachable(*args, **kwargs):
            raise AssertionError("DNS asked outside production")

        monkeypatch.setattr(urls, "getaddrinfo", unreachable)
        await check_destination("https://hooks.example.com/in", TEST)
