"""The claims service's side of the batch coverage look-up: MembersClient.coverage_lookup
answers typed results in the items' order (more than the registry's 5,000 a call are sent in
several calls), and the registry down or slow is a 503 / 504 as for a single claim."""

import time

import pytest

from claims_api.coverage_answers import CoverageFound, CoverageLookupItem, CoverageNotFound
from claims_api.members_client import COVERAGE_LOOKUP_CHUNK, MembersClient
from claims_api.settings import ClaimsSettings
from services.kit.errors import NotFound, UpstreamTimeout, UpstreamUnavailable
from tests.claims.support_claims import enrolled_member
from tests.claims.test_registry_down import slow_registry_url  # noqa: F401  (fixture)
from tests.dates import day
from tests.support import ADMIN

AUTHORIZATION = ADMIN["Authorization"]


async def test_results_are_typed_and_in_the_items_order(api, claims_app):
    worker = await enrolled_member(api)
    member = await api.get(f"/api/v1/members/{worker.member_id}", headers=ADMIN)
    number = member.json()["national_id"]
    items = [
        CoverageLookupItem(national_id=number.lower(), on=day(6, 1)),
        CoverageLookupItem(member_id="mbr_nobody", on=day(6, 1)),
        CoverageLookupItem(member_id=worker.member_id, on=day(6, 1)),
    ]
    client: MembersClient = claims_app.state.members_client
    answer = await client.coverage_lookup(
        worker.plan_code, items, authorization=AUTHORIZATION, request_id="lookup-1"
    )
    results = answer.results
    found, missing, again = results
    assert isinstance(found, CoverageFound) and isinstance(again, CoverageFound)
    assert isinstance(missing, CoverageNotFound) and missing.reason == "member_not_found"
    assert [r.index for r in results] == [0, 1, 2]
    assert found.national_id == number and found.coverage == again.coverage
    assert found.coverage.member.id == worker.member_id
    assert found.coverage.plan.code == worker.plan_code
    single = await client.coverage(
        member_id=worker.member_id,
        plan_code=worker.plan_code,
        on=day(6, 1),
        authorization=AUTHORIZATION,
        request_id=None,
    )
    assert found.coverage == single
    # one plan per call: read once, shared by every answer of the call
    assert found.coverage.plan is again.coverage.plan is answer.plan


async def test_no_items_answers_the_plan_alone(api, claims_app):
    worker = await enrolled_member(api)
    answer = await claims_app.state.members_client.coverage_lookup(
        worker.plan_code, [], authorization=AUTHORIZATION, request_id=None
    )
    assert answer.results == []
    plan = (await api.get(f"/api/v1/plans/{worker.plan_code}", headers=ADMIN)).json()
    assert (answer.plan.code, answer.plan.kind) == (worker.plan_code, plan["kind"])
    assert answer.plan.rules_version == plan["rules_version"]


async def test_more_items_than_one_call_takes_are_sent_in_several(api, claims_app):
    worker = await enrolled_member(api)
    count = COVERAGE_LOOKUP_CHUNK + 3
    items = [CoverageLookupItem(member_id=f"mbr_unknown{n}", on=day(6, 1)) for n in range(count)]
    items[-1] = CoverageLookupItem(member_id=worker.member_id, on=day(6, 1))
    answer = await claims_app.state.members_client.coverage_lookup(
        worker.plan_code, items, authorization=AUTHORIZATION, request_id=None
    )
    results = answer.results
    assert [r.index for r in results] == list(range(count))
    assert isinstance(results[-1], CoverageFound)
    assert results[-1].coverage.member.id == worker.member_id


async def test_an_unknown_plan_is_not_found(api, claims_app):
    items = [CoverageLookupItem(member_id="mbr_nobody", on=day(6, 1))]
    with pytest.raises(NotFound, match="NOPE-2026"):
        await claims_app.state.members_client.coverage_lookup(
            "NOPE-2026", items, authorization=AUTHORIZATION, request_id=None
        )


async def test_the_registry_down_is_unavailable():
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    client = MembersClient.for_settings(ClaimsSettings(members_url="http://127.0.0.1:9"))
    items = [CoverageLookupItem(member_id="mbr_a", on=day(6, 1))]
    try:
        with pytest.raises(UpstreamUnavailable):
            await client.coverage_lookup("P", items, authorization=AUTHORIZATION, request_id=None)
    finally:
        await client.close()


async def test_the_registry_slow_is_a_timeout_after_the_lookup_timeout(slow_registry_url):  # noqa: F811
    # The single call's timeout is long here: the batch's own (shorter) one is what applies.
    settings = ClaimsSettings(
        members_url=slow_registry_url,
        members_timeout_seconds=30,
        members_lookup_timeout_seconds=0.5,
    )
    client = MembersClient.for_settings(settings)
    items = [CoverageLookupItem(member_id="mbr_a", on=day(6, 1))]
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout):
            await client.coverage_lookup("P", items, authorization=AUTHORIZATION, request_id=None)
    finally:
        await client.close()
    assert time.monotonic() - started < 4


def test_the_lookup_timeout_is_longer_than_the_single_calls_by_default():
    settings = ClaimsSettings()
    assert settings.members_lookup_timeout_seconds >= 10 * settings.members_timeout_seconds
