"""The whole journey through the gateway of the split topology: unit, member, plan,
enrolment, claim, approval, payment, reports; the claim's request id is in both services'
logs (claims handled it, the registry answered its coverage call)."""

from decimal import Decimal

import httpx
import pytest

from services.kit.clock import today
from services.stack.launcher import SplitStack
from tests.e2e.conftest import created, enrol_new_member, hospital_stay, request_id
from tests.split_stack import owner, wait_for_logs
from tests.support import ADMIN, AUDITOR, FINANCE, REVIEWER

pytestmark = pytest.mark.e2e


class TestJourney:
    def test_a_claim_goes_from_enrolment_to_payment_and_reports(
        self, gateway: httpx.Client, split_stack: SplitStack
    ) -> None:
        worker = enrol_new_member(gateway)

        # The member files her claim; the request id she sends follows it into both services.
        claim_request = request_id()
        response = gateway.post(
            "/api/v1/claims",
            json=worker.claim(hospital_stay(claim_request)),
            headers={
                **worker.member,
                "X-Request-ID": claim_request,
                "Idempotency-Key": claim_request,
            },
        )
        claim = created(response)
        assert response.headers["x-request-id"] == claim_request
        assert Decimal(claim["assessment"]["payable"]) > 0
        assert claim["status"] in ("pending_review", "approved"), claim

        if claim["status"] == "pending_review":
            decision = gateway.post(
                f"/api/v1/claims/{claim['id']}/decision",
                json={"decision": "approve", "reason": "invoices checked"},
                headers=REVIEWER,
            )
            assert decision.status_code == 200, decision.text
            assert decision.json()["status"] == "approved"

        payout = created(
            gateway.post(
                "/api/v1/payouts",
                json={
                    "claim_ids": [claim["id"]],
                    "paid_on": str(today()),
                    "reference": "BANK-E2E-1",
                },
                headers=FINANCE,
            )
        )
        assert Decimal(payout["total"]) == Decimal(claim["assessment"]["payable"])

        paid = gateway.get(f"/api/v1/claims/{claim['id']}", headers=worker.member)
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"

        ledger = gateway.get(
            "/api/v1/payouts", params={"plan_code": worker.plan_code}, headers=FINANCE
        )
        assert ledger.status_code == 200, ledger.text
        entries = [(e["batch_id"], e["claim_id"], e["amount"]) for e in ledger.json()["items"]]
        assert entries == [(payout["id"], claim["id"], claim["assessment"]["payable"])]

        report = gateway.get(
            "/api/v1/reports/enrollment", params={"plan_code": worker.plan_code}, headers=AUDITOR
        )
        assert report.status_code == 200, report.text
        assert report.json()["members"] == 1

        logged = wait_for_logs(split_stack, [claim_request])[claim_request]
        assert {owner(name) for name in logged} == {"members", "claims"}, logged
        claims_lines = [
            line for name, lines in logged.items() if owner(name) == "claims" for line in lines
        ]
        members_lines = logged["members"]
        assert [(line["method"], line["route"], line["status"]) for line in claims_lines] == [
            ("POST", "/api/v1/claims", 201)
        ]
        assert ("GET", "/api/v1/coverage", 200) in [
            (line["method"], line["route"], line["status"]) for line in members_lines
        ]

    def test_the_admin_reads_back_what_the_journey_made(self, gateway: httpx.Client) -> None:
        worker = enrol_new_member(gateway)
        member = gateway.get(f"/api/v1/members/{worker.member_id}", headers=ADMIN)
        assert member.status_code == 200 and member.json()["unit_id"] == worker.unit_id
        coverage = gateway.get(
            "/api/v1/coverage",
            params={
                "member_id": worker.member_id,
                "plan_code": worker.plan_code,
                "on": str(today()),
            },
            headers=ADMIN,
        )
        assert coverage.status_code == 200, coverage.text
        assert coverage.json()["covered"] is True
