"""The whole journey through the gateway of the split topology: unit, member, plan,
enrolment, claim, approval, payment, reports; the claim's request id is in both services'
logs (claims handled it, the registry answered its coverage call). Then the money to the
workers' cards: the bank file, the bank's answer with a failure, the claim paid again."""

from decimal import Decimal

import httpx
import pytest

from services.kit.clock import today
from services.stack.launcher import SplitStack
from tests.cards import card_number
from tests.dates import COVER_START
from tests.e2e.conftest import (
    Enrolled,
    created,
    enrol_new_member,
    hospital_stay,
    request_id,
    set_card,
)
from tests.split_stack import owner, wait_for_logs
from tests.support import ADMIN, AUDITOR, FINANCE, REVIEWER, valid_national_id

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


def enrol_from_a_list_with_cards(gateway: httpx.Client, names: list[str]) -> list[Enrolled]:
    """A unit's list imported by the admin (cover from 1 January) with a card on every row."""
    worker = enrol_new_member(gateway)  # a unit and a plan
    rows = [(valid_national_id(), name, card_number()) for name in names]
    lines = ["身份证号,姓名,份数,银行卡号,开户行"]
    lines += [f"{number},{name},1,{card},中国工商银行" for number, name, card in rows]
    response = gateway.post(
        "/api/v1/enrollments/import",
        files={"file": ("名单.csv", "\n".join(lines).encode(), "text/csv")},
        data={
            "unit_id": worker.unit_id,
            "plan_code": worker.plan_code,
            "starts_on": str(COVER_START),
        },
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["payout_accounts"] == {"set": len(names), "unchanged": 0}, answer
    enrolled = []
    for result in answer["results"]:
        assert result["status"] == "ok", result
        enrolled.append(
            Enrolled(worker.unit_id, result["member_id"], worker.plan_code, result["enrollment_id"])
        )
    for member, (_, name, card) in zip(enrolled, rows, strict=True):
        account = gateway.get(f"/api/v1/members/{member.member_id}/payout-account", headers=ADMIN)
        assert (account.json()["account_name"], account.json()["account_number"]) == (name, card)
    return enrolled


class TestMoneyToTheCard:
    def test_paid_onto_the_card_the_bank_returns_one_and_it_is_paid_again(
        self, gateway: httpx.Client
    ) -> None:
        """Two workers enrolled from their unit's list with their cards (银行卡号, 开户行), a
        claim each, one batch; the bank's file, its answer with one failure (the claim back to
        approved), that claim paid again in a new batch onto the card set since."""
        workers = enrol_from_a_list_with_cards(gateway, ["王芳", "李娜"])
        claims = []
        for worker in workers:
            claim = created(
                gateway.post(
                    "/api/v1/claims",
                    json=worker.claim(hospital_stay(request_id())),
                    headers=worker.member,
                )
            )
            if claim["status"] == "pending_review":
                decision = gateway.post(
                    f"/api/v1/claims/{claim['id']}/decision",
                    json={"decision": "approve", "reason": "invoices checked"},
                    headers=REVIEWER,
                )
                assert decision.status_code == 200, decision.text
            claims.append(claim)

        def pay(claim_ids: list[str], reference: str) -> dict:
            body = {"claim_ids": claim_ids, "paid_on": str(today()), "reference": reference}
            return created(gateway.post("/api/v1/payouts", json=body, headers=FINANCE))

        batch = pay([c["id"] for c in claims], "DF-E2E-1")
        cards = {e["claim_id"]: e["account_number"] for e in batch["entries"]}
        assert all("*" in number for number in cards.values())  # masked in the answer

        download = gateway.get(f"/api/v1/payouts/{batch['id']}/bank-file", headers=FINANCE)
        assert download.status_code == 200, download.text
        lines = download.content.decode("gb18030").split("\r\n")
        assert lines[0] == "序号,户名,账号,开户行,金额,用途"
        total = Decimal(batch["total"])
        assert lines[-2] == f"合计,2,,,{total:.2f},"
        first, second = (line.split(",") for line in lines[1:3])
        assert first[2].isdigit() and len(first[2]) == 19  # the full number, for the bank

        answer = f"{','.join(first[:5])},成功,\r\n{','.join(second[:5])},失败,账户已冻结\r\n"
        result = ("序号,户名,账号,开户行,金额,状态,失败原因\r\n" + answer).encode("gb18030")
        upload = gateway.post(
            f"/api/v1/payouts/{batch['id']}/bank-result",
            files={"file": ("代发结果.csv", result, "text/csv")},
            headers=FINANCE,
        )
        assert upload.status_code == 200, upload.text
        settled, returned = upload.json()["results"]
        assert (settled["status"], returned["status"]) == ("settled", "returned")
        bounced = returned["claim_id"]
        back = gateway.get(f"/api/v1/claims/{bounced}", headers=ADMIN).json()
        assert back["status"] == "approved"
        assert "账户已冻结" in back["history"][-1]["reason"]

        owner, name = next(
            (w, n)
            for w, n, c in zip(workers, ["王芳", "李娜"], claims, strict=True)
            if c["id"] == bounced
        )
        new_card = set_card(gateway, owner.member_id, name)
        again = pay([bounced], "DF-E2E-2")
        [entry] = again["entries"]
        assert entry["account_number"] == f"{new_card[:6]}{'*' * 9}{new_card[-4:]}"
        assert gateway.get(f"/api/v1/claims/{bounced}", headers=ADMIN).json()["status"] == "paid"
        again_file = gateway.get(f"/api/v1/payouts/{again['id']}/bank-file", headers=FINANCE)
        assert new_card in again_file.content.decode("gb18030")
