"""Every move of a claim a subscriber can be told of is in the webhook outbox, written with the
move (DOMAIN.md, "Notifications to other systems"): filing and the filing's own decision, the
reviewer's decisions, papers completing, payment, a payment returned, a settlement import. The
payload carries ids, statuses, amounts and dates, the account masked, no name nor identity
number; a change rolled back leaves no event."""

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import insert, select

from claims_api.models import Claim, ClaimInvoice, WebhookEvent
from claims_api.webhooks.outbox import EVENT_TYPES, event_row
from tests.claims.support_claims import (
    CLAIMS,
    PAYOUTS,
    approve,
    approved_claim,
    day,
    decide,
    enrolled_member,
    file_claim,
    hospital_stay,
    pay,
    problem,
)
from tests.claims.support_documents import uploaded
from tests.claims.support_settlement import imported, person, stay
from tests.support import FINANCE


async def outbox(claims_app, claim_id: str | None = None, member_id: str | None = None):
    """The stored webhook events of a claim (or a member's claims), in id order."""
    query = select(WebhookEvent).order_by(WebhookEvent.id)
    if claim_id is not None:
        query = query.where(WebhookEvent.claim_id == claim_id)
    if member_id is not None:
        query = query.where(WebhookEvent.member_id == member_id)
    async with claims_app.state.database.sessions() as session:
        return list((await session.scalars(query)).all())


async def types(claims_app, claim_id: str) -> list[str]:
    return [event.type for event in await outbox(claims_app, claim_id)]


def data(event: WebhookEvent) -> dict[str, Any]:
    return event.payload["data"]


class TestFiling:
    async def test_a_filing_for_review_is_one_claim_filed_event(self, api, claims_app):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert claim["status"] == "pending_review"

        [event] = await outbox(claims_app, claim["id"])
        assert event.id.startswith("evt_") and event.type == "claim.filed"
        assert (event.claim_id, event.unit_id, event.member_id) == (
            claim["id"],
            worker.unit_id,
            worker.member_id,
        )
        assert event.payload["type"] == "claim.filed"
        assert event.payload["timestamp"].endswith("Z")
        assert data(event) == {
            "claim_id": claim["id"],
            "member_id": worker.member_id,
            "unit_id": worker.unit_id,
            "plan_code": worker.plan_code,
            "status": "submitted",
            "previous_status": None,
            "payable": "4000.00",
            "event_on": str(day(3, 2)),
            "filed_on": claim["filed_on"],
            "approved_at": None,
            "paid_on": None,
            "source": "filed",
            "reason_codes": [],
        }

    async def test_an_automatic_approval_is_filed_then_approved(self, api, claims_app):
        worker = await enrolled_member(api, auto_approve_limit="5000.00")
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert claim["status"] == "approved"
        filed, approved = await outbox(claims_app, claim["id"])
        assert (filed.type, approved.type) == ("claim.filed", "claim.approved")
        assert filed.id < approved.id  # the order they happened in
        assert (data(approved)["status"], data(approved)["previous_status"]) == (
            "approved",
            "submitted",
        )
        assert data(approved)["approved_at"] is not None

    async def test_an_automatic_rejection_is_filed_then_rejected_with_its_reasons(
        self, api, claims_app
    ):
        worker = await enrolled_member(api)
        first = await file_claim(api, worker, hospital_stay(day(3, 2), invoices=["FP-1"]))
        again = await file_claim(api, worker, hospital_stay(day(5, 2), invoices=["FP-1"]))
        assert again["status"] == "rejected"
        assert await types(claims_app, first["id"]) == ["claim.filed"]
        filed, rejected = await outbox(claims_app, again["id"])
        assert rejected.type == "claim.rejected"
        assert data(rejected)["reason_codes"] == ["duplicate_invoice"]

    async def test_missing_papers_are_needs_info_and_the_last_one_approves(self, api, claims_app):
        required = ["invoice", "discharge_summary"]
        worker = await enrolled_member(
            api, required_documents=required, auto_approve_limit="5000.00"
        )
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert await types(claims_app, claim["id"]) == ["claim.filed", "claim.needs_info"]
        await uploaded(api, claim["id"], "invoice", worker.member)
        assert len(await outbox(claims_app, claim["id"])) == 2  # still needs_info: no event
        last = await uploaded(api, claim["id"], "discharge_summary", worker.member)
        assert last["claim_status"] == "approved"
        *_, approved = await outbox(claims_app, claim["id"])
        assert approved.type == "claim.approved"
        assert data(approved)["previous_status"] == "needs_info"

    async def test_nothing_of_the_payload_names_or_identifies_the_person(self, api, claims_app):
        worker = await enrolled_member(api, name="独一无二")
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        [event] = await outbox(claims_app, claim["id"])
        text = json.dumps(event.payload, ensure_ascii=False)
        assert "独一无二" not in text and "national_id" not in text
        assert not any(len(word) == 18 and word[:17].isdigit() for word in text.split('"'))


class TestReview:
    async def test_each_decision_is_its_event_and_withdrawal_none(self, api, claims_app):
        worker = await enrolled_member(api)
        approved = await file_claim(api, worker, hospital_stay(day(3, 2)))
        rejected = await file_claim(api, worker, hospital_stay(day(4, 2)))
        asked = await file_claim(api, worker, hospital_stay(day(5, 2)))
        withdrawn = await file_claim(api, worker, hospital_stay(day(6, 2)))
        await approve(api, approved["id"])
        assert (await decide(api, rejected["id"], "reject", "not a hospital")).status_code == 200
        assert (await decide(api, asked["id"], "request_info", "the bill?")).status_code == 200
        response = await api.post(
            f"{CLAIMS}/{withdrawn['id']}/withdraw", json={"reason": "mine"}, headers=worker.member
        )
        assert response.status_code == 200, response.text

        assert await types(claims_app, approved["id"]) == ["claim.filed", "claim.approved"]
        assert await types(claims_app, rejected["id"]) == ["claim.filed", "claim.rejected"]
        assert await types(claims_app, asked["id"]) == ["claim.filed", "claim.needs_info"]
        assert await types(claims_app, withdrawn["id"]) == ["claim.filed"]
        *_, event = await outbox(claims_app, approved["id"])
        assert data(event)["previous_status"] == "pending_review"
        assert data(event)["approved_at"] is not None


class TestPayment:
    async def test_a_batch_tells_each_claim_paid_with_the_account_masked(self, api, claims_app):
        worker = await enrolled_member(api)
        first = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        second = await approved_claim(api, worker, hospital_stay(day(5, 2)))
        response = await pay(api, [first["id"], second["id"]])
        assert response.status_code == 201, response.text
        batch = response.json()
        entries = {e["claim_id"]: e for e in batch["entries"]}

        for claim in (first, second):
            *_, paid = await outbox(claims_app, claim["id"])
            assert paid.type == "claim.paid"
            assert (paid.unit_id, paid.member_id) == (worker.unit_id, worker.member_id)
            body = data(paid)
            assert (body["status"], body["previous_status"]) == ("paid", "approved")
            assert body["amount"] == "4000.00" == body["payment"]["amount"]
            assert body["paid_on"] == batch["paid_on"]
            assert body["payment"]["batch_id"] == batch["id"]
            assert body["payment"]["entry_id"] == entries[claim["id"]]["id"]
            # masked as the ledger shows it: 622202*********1234
            masked = body["payment"]["account_number"]
            assert masked == entries[claim["id"]]["account_number"]
            assert "*" in masked and masked[:6].isdigit() and masked[-4:].isdigit()

    async def test_a_reversal_tells_the_payment_returned(self, api, claims_app):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        batch = (await pay(api, [claim["id"]])).json()
        response = await api.post(
            f"{PAYOUTS}/{batch['id']}/reversal", json={"reason": "账户已销户"}, headers=FINANCE
        )
        assert response.status_code == 201, response.text

        types_ = await types(claims_app, claim["id"])
        assert types_ == ["claim.filed", "claim.approved", "claim.paid", "claim.payment_returned"]
        *_, returned = await outbox(claims_app, claim["id"])
        body = data(returned)
        assert (body["status"], body["previous_status"]) == ("approved", "paid")
        assert body["amount"] == "4000.00" and body["paid_on"] is None
        assert body["payment"]["returned_reason"] == "账户已销户"
        assert body["payment"]["paid_on"] == batch["paid_on"]
        assert "*" in body["payment"]["account_number"]

    async def test_the_banks_failure_line_tells_the_payment_returned(self, api, claims_app):
        worker = await enrolled_member(api)
        claim = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        batch = (await pay(api, [claim["id"]])).json()
        result = "序号,金额,状态,失败原因\r\n1,4000.00,失败,户名不符\r\n".encode("gb18030")
        response = await api.post(
            f"{PAYOUTS}/{batch['id']}/bank-result",
            files={"file": ("代发结果.csv", result, "text/csv")},
            headers=FINANCE,
        )
        assert response.status_code == 200, response.text
        *_, returned = await outbox(claims_app, claim["id"])
        assert returned.type == "claim.payment_returned"
        assert data(returned)["payment"]["returned_reason"] == "户名不符"


class TestSettlementImport:
    async def test_each_filed_row_is_in_the_outbox(self, api, claims_app):
        from tests.claims.support_claims import new_plan, new_unit

        unit, plan = await new_unit(api), await new_plan(api, auto_approve_limit="4000.00")
        worker, other = await person(api, unit, plan), await person(api, unit, plan, "李娜")
        answer = await imported(
            api, plan, [stay(worker, day(3, 1)), stay(other, day(3, 5), out_of_pocket="9000.00")]
        )
        approved, reviewed = (result["claim_id"] for result in answer["results"])
        assert [r["status"] for r in answer["results"]] == ["approved", "pending_review"]
        assert await types(claims_app, approved) == ["claim.filed", "claim.approved"]
        assert await types(claims_app, reviewed) == ["claim.filed"]
        [event, *_] = await outbox(claims_app, approved)
        assert data(event)["source"] == "settlement"
        assert (event.unit_id, event.member_id) == (unit, worker.member_id)

    async def test_the_payloads_are_the_ones_a_single_filing_would_send(self, api, claims_app):
        """The import makes its payloads' JSON from pieces (outbox.filing_payloads): they hold
        what event_row makes of the stored claim, for each status the import gives."""
        from tests.claims.support_claims import new_plan, new_unit

        unit = await new_unit(api)
        plan = await new_plan(api, waiting_days=60, auto_approve_limit="4000.00")
        insured = await person(api, unit, plan, starts_on=day(1, 1))
        waiting = await person(api, unit, plan, "李娜", starts_on=day(6, 1))
        stays = [
            stay(insured, day(4, 1)),
            stay(insured, day(4, 20), out_of_pocket="9000.00"),
            stay(waiting, day(6, 20)),
        ]
        answer = await imported(api, plan, stays)
        statuses = [result["status"] for result in answer["results"]]
        assert statuses == ["approved", "pending_review", "rejected"]
        for result in answer["results"]:
            async with claims_app.state.database.sessions() as session:
                claim = await session.get(Claim, result["claim_id"])
            stored = await outbox(claims_app, result["claim_id"])
            made = [
                event_row(claim, status=status, previous_status=previous, at=stored[0].created_at)
                for status, previous in (("submitted", None), (claim.status, "submitted"))
            ]
            expected = [(row["type"], row["payload"]) for row in made if row is not None]
            assert [(event.type, event.payload) for event in stored] == expected


def test_every_type_stored_is_one_subscribers_can_ask_for():
    assert set(EVENT_TYPES) == {
        "claim.filed",
        "claim.approved",
        "claim.rejected",
        "claim.needs_info",
        "claim.paid",
        "claim.payment_returned",
    }


class TestNoEventWithoutItsChange:
    async def test_a_refused_batch_tells_no_payment(self, api, claims_app):
        worker = await enrolled_member(api)
        approved = await approved_claim(api, worker, hospital_stay(day(3, 2)))
        waiting = await file_claim(api, worker, hospital_stay(day(5, 2)))
        problem(await pay(api, [approved["id"], waiting["id"]]), 422, "not_approved")
        assert await types(claims_app, approved["id"]) == ["claim.filed", "claim.approved"]

    @pytest.mark.only(backend="postgres")  # SQLite serialises writes: no filing races there
    async def test_a_filing_that_loses_its_invoice_leaves_no_event(self, api, claims_app):
        """The invoice number is taken by a concurrent transaction after the filing's check
        passed: the filing's one statement waits for it, holds nothing, and is rolled back
        with its events (409 duplicate_invoice)."""
        worker = await enrolled_member(api)
        holder = await file_claim(api, worker, hospital_stay(day(3, 2)))
        async with claims_app.state.database.sessions() as concurrent:
            await concurrent.execute(
                insert(ClaimInvoice).values(
                    claim_id=holder["id"], plan_code=worker.plan_code, invoice_number="FP-RACE"
                )
            )
            body = worker.claim(hospital_stay(day(5, 2), invoices=["FP-RACE"]))
            filing = asyncio.create_task(api.post(CLAIMS, json=body, headers=worker.member))
            await asyncio.sleep(0.5)
            await concurrent.commit()
        problem(await filing, 409, "duplicate_invoice")
        events = await outbox(claims_app, member_id=worker.member_id)
        assert [event.claim_id for event in events] == [holder["id"]]
