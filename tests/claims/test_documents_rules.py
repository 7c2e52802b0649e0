"""What a claim's papers decide: a plan's required kinds keep a claim in needs_info until they
arrive (then it moves on as if just filed, auto-approval included), a reviewer cannot approve
with one missing, and the same bytes on two live claims flag both (`duplicate_document`)."""

import asyncio

import httpx
import pytest

from claims_api.claims import repository as claims_repository
from tests.claims.support_claims import (
    CLAIMS,
    decide,
    enrolled_member,
    file_claim,
    get_claim,
    hospital_stay,
    problem,
)
from tests.claims.support_documents import documents_url, paper, upload, uploaded
from tests.dates import day
from tests.support import ADMIN, AUDITOR, REVIEWER

REQUIRED = ["invoice", "settlement_sheet", "discharge_summary"]


async def waiting_claim(api: httpx.AsyncClient, **plan: object):
    worker = await enrolled_member(api, required_documents=REQUIRED, **plan)
    claim = await file_claim(api, worker, hospital_stay(day(3, 1)))
    return worker, claim


class TestDocumentsMissing:
    async def test_filed_without_papers_it_waits_and_the_last_one_approves_it(self, api):
        worker, claim = await waiting_claim(api, auto_approve_limit="5000.00")
        assert claim["status"] == "needs_info"
        assert claim["documents_missing"] == REQUIRED
        event = claim["history"][-1]
        assert event["to_status"] == "needs_info" and event["role"] == "system"
        assert event["reason"].startswith("documents_missing")
        assert event["details"]["documents_missing"] == REQUIRED

        # in any order; the answer says what is still missing
        await uploaded(api, claim["id"], "discharge_summary", worker.member)
        second = await uploaded(api, claim["id"], "invoice", worker.hr)
        assert second["claim_status"] == "needs_info"
        assert second["documents_missing"] == ["settlement_sheet"]
        last = await uploaded(api, claim["id"], "settlement_sheet", worker.member)
        assert last["claim_status"] == "approved" and last["documents_missing"] == []

        stored = await get_claim(api, claim["id"])
        assert stored["status"] == "approved" and stored["approved_by"] == "system"
        assert stored["documents_missing"] == []
        assert stored["history"][-1]["from_status"] == "needs_info"
        assert "auto-approval limit" in stored["history"][-1]["reason"]
        assert stored["payable"] == claim["payable"] == "4000.00"

    async def test_a_plan_without_required_documents_files_as_before(self, api):
        worker = await enrolled_member(api, auto_approve_limit="5000.00")
        claim = await file_claim(api, worker, hospital_stay(day(3, 1)))
        assert claim["status"] == "approved" and claim["documents_missing"] == []

    async def test_without_auto_approval_the_complete_claim_goes_to_review(self, api):
        worker, claim = await waiting_claim(api)
        for kind in REQUIRED:
            answer = await uploaded(api, claim["id"], kind, worker.member)
        assert answer["claim_status"] == "pending_review"

    async def test_withdrawing_a_required_paper_sends_the_claim_back_to_wait(self, api):
        worker, claim = await waiting_claim(api)
        documents = [await uploaded(api, claim["id"], k, worker.member) for k in REQUIRED]
        assert documents[-1]["claim_status"] == "pending_review"
        invoice = documents[0]
        withdrawn = await api.post(
            f"{documents_url(claim['id'])}/{invoice['id']}/withdraw", headers=worker.member
        )
        assert withdrawn.status_code == 200
        waiting = await get_claim(api, claim["id"])
        assert waiting["status"] == "needs_info" and waiting["documents_missing"] == ["invoice"]
        event = waiting["history"][-1]
        assert (event["from_status"], event["to_status"]) == ("pending_review", "needs_info")
        assert event["reason"].startswith("documents_missing")
        assert event["details"]["documents_missing"] == ["invoice"]
        # a reviewer cannot approve it meanwhile
        problem(await decide(api, claim["id"], "approve", "looks fine"), 422, "invalid_transition")
        # a withdrawn paper no longer counts; a new one does, and moves the claim on
        again = await uploaded(api, claim["id"], "invoice", worker.member)
        assert again["claim_status"] == "pending_review" and again["documents_missing"] == []
        approved = await decide(api, claim["id"], "approve", "papers in order")
        assert approved.status_code == 200, approved.text

    async def test_withdrawing_a_paper_the_plan_does_not_require_changes_nothing(self, api):
        worker, claim = await waiting_claim(api)
        for kind in REQUIRED:
            await uploaded(api, claim["id"], kind, worker.member)
        extra = await uploaded(api, claim["id"], "other", worker.member)
        url = f"{documents_url(claim['id'])}/{extra['id']}/withdraw"
        assert (await api.post(url, headers=worker.member)).status_code == 200
        assert (await get_claim(api, claim["id"]))["status"] == "pending_review"

    async def test_a_reopened_claim_without_its_papers_waits_for_them(self, api):
        worker = await enrolled_member(api, required_documents=REQUIRED)
        # The clerk typed 19000.00 for a bill of 18000.00: refused at filing.
        claim = await file_claim(api, worker, hospital_stay(day(3, 1), total_cost="19000.00"))
        assert claim["status"] == "rejected"
        response = await decide(
            api, claim["id"], "reopen", "total mistyped, checked against the invoice",
            adjusted_facts={"total_cost": "18000.00"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        reopened = response.json()
        assert reopened["status"] == "needs_info"
        assert reopened["documents_missing"] == REQUIRED
        event = reopened["history"][-1]
        assert (event["from_status"], event["to_status"]) == ("rejected", "needs_info")
        assert event["details"]["reason_code"] == "documents_missing"
        assert "total mistyped" in event["reason"]
        for kind in REQUIRED:
            answer = await uploaded(api, claim["id"], kind, worker.member)
        assert answer["claim_status"] == "pending_review"
        assert (await get_claim(api, claim["id"]))["payable"] == "4000.00"

    async def test_supplying_information_does_not_skip_the_papers(self, api):
        worker, claim = await waiting_claim(api)
        response = await api.post(
            f"/api/v1/claims/{claim['id']}/supplement",
            json={"note": "please look"},
            headers=worker.member,
        )
        problem(response, 409, "documents_missing")

    async def test_the_plan_says_its_required_documents(self, api):
        worker = await enrolled_member(api, required_documents=REQUIRED)
        plan = await api.get(f"/api/v1/plans/{worker.plan_code}", headers=ADMIN)
        assert plan.json()["required_documents"] == REQUIRED
        twice = await api.post(
            "/api/v1/plans",
            json={**plan.json(), "code": "TWICE-2026", "required_documents": ["invoice"] * 2},
            headers=ADMIN,
        )
        assert twice.status_code == 422


class TestDuplicateDocument:
    async def test_the_same_bytes_on_two_members_claims_flag_both(self, api):
        first = await enrolled_member(api)
        second = await enrolled_member(api, name="李娜")  # another unit, another plan
        one = await file_claim(api, first, hospital_stay(day(3, 1)))
        two = await file_claim(api, second, hospital_stay(day(3, 1)))
        assert one["status"] == two["status"] == "pending_review"
        copy = paper()
        await uploaded(api, one["id"], "invoice", ADMIN, content=copy)
        answer = await uploaded(api, two["id"], "invoice", ADMIN, content=copy)
        assert answer["duplicate_document_claims"] == [one["id"]]
        assert (await get_claim(api, one["id"], REVIEWER))["duplicate_document_claims"] == [
            two["id"]
        ]
        stored = await get_claim(api, two["id"], REVIEWER)
        assert stored["duplicate_document_claims"] == [one["id"]]
        assert stored["history"][-1]["reason"].startswith("duplicate_document")

    async def test_a_flagged_claim_is_not_approved_automatically(self, api):
        worker, claim = await waiting_claim(api, auto_approve_limit="5000.00")
        other, other_claim = await waiting_claim(api, auto_approve_limit="5000.00")
        copy = paper()
        await uploaded(api, other_claim["id"], "invoice", other.member, content=copy)
        await uploaded(api, claim["id"], "invoice", worker.member, content=copy)
        for kind in REQUIRED[1:]:
            answer = await uploaded(api, claim["id"], kind, worker.member)
        assert answer["claim_status"] == "pending_review"
        assert answer["duplicate_document"] is True  # the other member's claim, not named
        assert answer["duplicate_document_claims"] == []

    async def test_concurrent_uploads_of_the_same_bytes_still_flag(self, api):
        """Each upload completes its claim's papers at the same moment. As if one came after
        the other: the first (no copy anywhere yet) is approved, the second sees the first's
        paper and waits for a reviewer; both show the other. Were the uploads not queued on the
        paper's hash, neither would see the other's row and both would be approved."""
        claims = [await waiting_claim(api, auto_approve_limit="5000.00") for _ in range(2)]
        for worker, claim in claims:
            for kind in REQUIRED[1:]:
                await uploaded(api, claim["id"], kind, worker.member)
        copy = paper()
        answers = await asyncio.gather(
            *(upload(api, c["id"], "invoice", w.member, content=copy) for w, c in claims)
        )
        assert [a.status_code for a in answers] == [201, 201]
        statuses = sorted(a.json()["claim_status"] for a in answers)
        assert statuses == ["approved", "pending_review"]
        for (_, claim), (_, other) in zip(claims, reversed(claims), strict=True):
            assert (await get_claim(api, claim["id"]))["duplicate_document_claims"] == [other["id"]]

    async def test_a_withdrawn_claim_or_paper_flags_nothing(self, api):
        first = await enrolled_member(api)
        second = await enrolled_member(api, plan_code=first.plan_code, unit_id=first.unit_id)
        one = await file_claim(api, first, hospital_stay(day(3, 1)))
        two = await file_claim(api, second, hospital_stay(day(3, 1)))
        copy = paper()
        document = await uploaded(api, one["id"], "invoice", first.member, content=copy)
        await uploaded(api, two["id"], "invoice", second.member, content=copy)
        url = f"{documents_url(one['id'])}/{document['id']}/withdraw"
        assert (await api.post(url, headers=first.member)).status_code == 200
        assert (await get_claim(api, two["id"]))["duplicate_document_claims"] == []


class TestWhoSeesTheOtherClaim:
    """A member or a unit's hr learns that a paper is also on another claim, never which one
    (another member's); the reviewer sees it (DOMAIN.md)."""

    async def test_the_flag_without_the_other_claim_for_member_and_hr(self, api):
        first = await enrolled_member(api)
        second = await enrolled_member(api, name="李娜")  # another unit
        one = await file_claim(api, first, hospital_stay(day(3, 1)))
        two = await file_claim(api, second, hospital_stay(day(3, 1)))
        copy = paper()
        await uploaded(api, one["id"], "invoice", first.member, content=copy)
        answer = await upload(api, two["id"], "invoice", second.member, content=copy)
        assert answer.status_code == 201, answer.text
        assert one["id"] not in answer.text
        assert answer.json()["duplicate_document"] is True
        assert answer.json()["duplicate_document_claims"] == []
        for mine, theirs, worker in ((two, one, second), (one, two, first)):
            for headers in (worker.member, worker.hr):
                for url in (documents_url(mine["id"]), f"{CLAIMS}/{mine['id']}"):
                    seen = await api.get(url, headers=headers)
                    assert seen.status_code == 200, seen.text
                    assert theirs["id"] not in seen.text, url
                    assert seen.json()["duplicate_document"] is True
        history = (await get_claim(api, two["id"], second.member))["history"]
        assert history[-1]["reason"].startswith("duplicate_document")

        stored = await get_claim(api, two["id"], REVIEWER)
        assert stored["duplicate_document"] is True
        assert stored["duplicate_document_claims"] == [one["id"]]
        assert stored["history"][-1]["details"]["claims"] == [one["id"]]
        listing = await api.get(documents_url(two["id"]), headers=AUDITOR)
        assert listing.json()["duplicate_document_claims"] == [one["id"]]

    async def test_a_member_sees_her_own_other_claim(self, api):
        worker = await enrolled_member(api)
        one = await file_claim(api, worker, hospital_stay(day(3, 1)))
        two = await file_claim(api, worker, hospital_stay(day(5, 1)))
        copy = paper()
        await uploaded(api, one["id"], "invoice", worker.member, content=copy)
        answer = await uploaded(api, two["id"], "invoice", worker.member, content=copy)
        assert answer["duplicate_document_claims"] == [one["id"]]


@pytest.mark.only(backend="postgres")  # SQLite's BEGIN IMMEDIATE serialises every write
async def test_a_withdrawal_waits_for_an_upload_of_the_same_bytes(api, claims_app):
    """An upload of these bytes on another claim holds the paper's hash lock while it decides
    whether they are a duplicate: the withdrawal waits for it, so the upload's answer and its
    claim's history agree with what is stored once both are done."""
    worker = await enrolled_member(api)
    claim = await file_claim(api, worker, hospital_stay(day(3, 1)))
    document = await uploaded(api, claim["id"], "invoice", worker.member)
    url = f"{documents_url(claim['id'])}/{document['id']}/withdraw"
    async with claims_app.state.database.sessions() as upload_of_the_same_bytes:
        await claims_repository.lock(upload_of_the_same_bytes, f"document:{document['sha256']}")
        withdrawal = asyncio.create_task(api.post(url, headers=worker.member))
        await asyncio.sleep(0.5)
        waited = not withdrawal.done()
        await upload_of_the_same_bytes.rollback()
    response = await withdrawal
    assert response.status_code == 200, response.text
    assert waited, "the withdrawal did not wait for the paper's hash lock"
