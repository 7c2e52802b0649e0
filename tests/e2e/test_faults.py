"""Faults injected into the split topology: processes killed, restarted or hung while the
gateway keeps answering with problem+json, and nothing half-stored."""

import time
from collections.abc import Iterator

import httpx
import pytest

from services.stack.launcher import SplitStack
from tests.e2e.conftest import (
    Enrolled,
    assert_problem,
    created,
    enrol_new_member,
    hospital_stay,
    request_id,
)
from tests.split_stack import (
    GATEWAY_READ_TIMEOUT_SECONDS,
    REGISTRY_TIMEOUT_SECONDS,
    owner,
    wait_for_logs,
)
from tests.support import ADMIN

pytestmark = pytest.mark.e2e


def claims_of(gateway: httpx.Client, member_id: str) -> list[dict]:
    response = gateway.get("/api/v1/claims", params={"member_id": member_id}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.fixture
def registry_down(split_stack: SplitStack) -> Iterator[None]:
    """The registry process killed (as a crash would); started again afterwards whatever the
    test did."""
    split_stack.kill("members")
    try:
        yield
    finally:
        if not split_stack.processes["members"].running:
            split_stack.restart("members")


class TestRegistryKilled:
    def test_the_gateway_is_not_ready_without_the_registry(
        self, gateway: httpx.Client, registry_down: None
    ) -> None:
        problem = assert_problem(gateway.get("/healthz"), 503)
        assert "registry" in problem["detail"]
        assert gateway.get("/healthz/claims").status_code == 200

    def test_a_claim_is_refused_with_503_then_accepted_once_the_registry_is_back(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        worker = enrol_new_member(gateway)
        key = request_id()
        body = worker.claim(hospital_stay(key))
        headers = {**worker.member, "Idempotency-Key": key}

        split_stack.kill("members")
        try:
            started = time.monotonic()
            refused = gateway.post("/api/v1/claims", json=body, headers=headers)
            elapsed = time.monotonic() - started
            problem = assert_problem(refused, 503)
            assert "nothing was stored" in problem["detail"]
            assert elapsed < REGISTRY_TIMEOUT_SECONDS + 1, f"took {elapsed:.2f} s"
        finally:
            split_stack.restart("members")

        assert claims_of(gateway, worker.member_id) == []

        accepted = created(gateway.post("/api/v1/claims", json=body, headers=headers))
        assert [c["id"] for c in claims_of(gateway, worker.member_id)] == [accepted["id"]]

    def test_a_hung_registry_is_a_504_from_claims_within_its_timeout(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        worker = enrol_new_member(gateway)
        key = request_id()
        split_stack.pause("members")
        try:
            started = time.monotonic()
            response = gateway.post(
                "/api/v1/claims",
                json=worker.claim(hospital_stay(key)),
                headers={**worker.member, "Idempotency-Key": key},
            )
            elapsed = time.monotonic() - started
        finally:
            split_stack.resume("members")
        assert_problem(response, 504)
        assert REGISTRY_TIMEOUT_SECONDS - 0.5 < elapsed < GATEWAY_READ_TIMEOUT_SECONDS
        assert claims_of(gateway, worker.member_id) == []


class TestGatewayFaults:
    def test_a_hung_service_is_a_504_problem_from_the_gateway(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        split_stack.pause("members")
        try:
            started = time.monotonic()
            response = gateway.get("/api/v1/plans", headers=ADMIN)
            elapsed = time.monotonic() - started
        finally:
            split_stack.resume("members")
        body = assert_problem(response, 504)
        assert body["request_id"] == response.headers["x-request-id"]
        assert GATEWAY_READ_TIMEOUT_SECONDS - 0.5 < elapsed < GATEWAY_READ_TIMEOUT_SECONDS + 3
        assert gateway.get("/api/v1/plans", headers=ADMIN).status_code == 200

    def test_every_claims_replica_down_is_a_503_problem_with_retry_after(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        replicas = [name for name in split_stack.service_names if owner(name) == "claims"]
        for name in replicas:
            split_stack.kill(name)
        try:
            response = gateway.get("/api/v1/claims", headers=ADMIN)
        finally:
            for name in replicas:
                split_stack.restart(name, wait=False)
            for name in replicas:
                split_stack.wait_ready(name)
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "5"
        # nginx leaves a replica that refused connections alone for its fail_timeout (5 s).
        deadline = time.monotonic() + 8
        while gateway.get("/api/v1/claims", headers=ADMIN).status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not route to claims again"
            time.sleep(0.2)


class TestClaimsReplicaKilled:
    def test_requests_keep_succeeding_on_the_other_replica(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        worker: Enrolled = enrol_new_member(gateway)
        first = created(
            gateway.post(
                "/api/v1/claims",
                json=worker.claim(hospital_stay(request_id())),
                headers=worker.member,
            )
        )
        split_stack.kill("claims-1")
        try:
            time.sleep(0.2)  # a request in flight at the very moment of the crash may fail
            ids = []
            for round_ in range(8):
                rid = request_id()
                ids.append(rid)
                read = gateway.get(
                    f"/api/v1/claims/{first['id']}", headers={**ADMIN, "X-Request-ID": rid}
                )
                assert read.status_code == 200, (round_, read.text)
                rid = request_id()
                ids.append(rid)
                quote = gateway.post(
                    "/api/v1/claims/quote",
                    json=worker.claim(hospital_stay(rid)),
                    headers={**worker.member, "X-Request-ID": rid},
                )
                assert quote.status_code == 200, (round_, quote.text)
            rid = request_id()
            ids.append(rid)
            filed = gateway.post(
                "/api/v1/claims",
                json=worker.claim(hospital_stay(rid)),
                headers={**worker.member, "X-Request-ID": rid, "Idempotency-Key": rid},
            )
            created(filed)
        finally:
            split_stack.restart("claims-1")
        logged = wait_for_logs(split_stack, ids)
        served_by = {name for lines in logged.values() for name in lines if owner(name) == "claims"}
        assert served_by == {"claims-2"}, logged
        assert len(claims_of(gateway, worker.member_id)) == 2
