"""Many requests at once: caps hold, a claim changes state once, a retried filing is one claim,
an invoice is held by one live claim.

Every test runs on both databases: Postgres runs the requests truly in parallel (row locks
decide), SQLite serialises writers (BEGIN IMMEDIATE); the outcome must be the same."""

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from tests.claims.support_claims import (
    CLAIMS,
    PAYOUTS,
    day,
    decide,
    enrolled_member,
    file_claim,
    get_claim,
    hospital_stay,
    listed,
    pay,
    problem,
)
from tests.support import FINANCE, REVIEWER

CLAIMS_FILED = 25


class TestSimultaneousApprovals:
    async def test_simultaneous_approvals_never_pay_past_the_term_cap(self, api, backend):
        # 2 shares of a 20000.00 term cap: 40000.00 for the year. Each stay pays 4000.00
        # (5000 x 50% + 2500 x 60%), under the 10000.00 x 2 per-stay cap: exactly 10 fit.
        shares, term_cap, payout = 2, Decimal("20000.00"), Decimal("4000.00")
        fits = int(term_cap * shares / payout)
        assert fits == 10
        worker = await enrolled_member(api, shares=shares)
        claims = []
        for n in range(CLAIMS_FILED):  # 2-day stays, 3 days apart: none overlaps another
            claim = await file_claim(api, worker, hospital_stay(day(2, 1) + timedelta(n * 3), 2))
            assert (claim["status"], claim["payable"]) == ("pending_review", "4000.00")
            claims.append(claim["id"])

        responses = await asyncio.gather(
            *(decide(api, claim_id, "approve", "ok") for claim_id in claims)
        )

        approved = [r.json() for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code != 200]
        for response in refused:
            problem(response, 422, "cap_reached")
        paid_out = sum((Decimal(claim["payable"]) for claim in approved), Decimal("0.00"))
        assert paid_out <= term_cap * shares
        assert len(approved) == fits, backend
        assert paid_out == Decimal("40000.00")
        # What the service stored agrees with what it answered.
        stored = Counter(claim["status"] for claim in await listed(api, plan_code=worker.plan_code))
        assert stored == {"approved": fits, "pending_review": CLAIMS_FILED - fits}
        stored_total = sum(
            (Decimal(c["payable"]) for c in await listed(api, status="approved")), Decimal(0)
        )
        assert stored_total == Decimal("40000.00")

    async def test_the_same_claim_approved_by_two_reviewers_at_once_is_approved_once(
        self, api, backend
    ):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        responses = await asyncio.gather(
            *(decide(api, claim["id"], "approve", f"reviewer {n}") for n in range(5))
        )
        assert sorted(r.status_code for r in responses) == [200, 422, 422, 422, 422], backend
        for response in responses:
            if response.status_code == 422:
                problem(response, 422, "invalid_transition")
        history = (await get_claim(api, claim["id"]))["history"]
        assert [e["to_status"] for e in history].count("approved") == 1

    async def test_approval_and_withdrawal_at_once_leave_one_outcome(self, api, backend):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        approval, withdrawal = await asyncio.gather(
            decide(api, claim["id"], "approve", "ok"),
            api.post(f"{CLAIMS}/{claim['id']}/withdraw", json={}, headers=worker.member),
        )
        codes = sorted([approval.status_code, withdrawal.status_code])
        assert codes == [200, 422], (backend, approval.text, withdrawal.text)
        stored = await get_claim(api, claim["id"])
        winner = "approved" if approval.status_code == 200 else "withdrawn"
        assert stored["status"] == winner
        assert [e["to_status"] for e in stored["history"]][2:] == [winner]

    async def test_one_claim_in_simultaneous_batches_is_paid_once(self, api, backend):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert (await decide(api, claim["id"], "approve", headers=REVIEWER)).status_code == 200
        responses = await asyncio.gather(
            *(pay(api, [claim["id"]], reference=f"B-{n}") for n in range(4))
        )
        assert sorted(r.status_code for r in responses) == [201, 422, 422, 422], backend
        ledger = await listed(api, PAYOUTS, headers=FINANCE)
        assert [entry["amount"] for entry in ledger] == ["4000.00"]

    async def test_a_bounced_batch_reversed_twice_at_once_is_reversed_once(self, api, backend):
        worker = await enrolled_member(api)
        claim = await file_claim(api, worker, hospital_stay(day(3, 2)))
        assert (await decide(api, claim["id"], "approve", headers=REVIEWER)).status_code == 200
        batch = (await pay(api, [claim["id"]])).json()
        responses = await asyncio.gather(
            *(
                api.post(
                    f"{PAYOUTS}/{batch['id']}/reversal",
                    json={"reason": f"bounced, clerk {n}"},
                    headers=FINANCE,
                )
                for n in range(4)
            )
        )
        assert sorted(r.status_code for r in responses) == [201, 422, 422, 422], backend
        for response in responses:
            if response.status_code == 422:
                problem(response, 422, "already_reversed")
        ledger = await listed(api, PAYOUTS, headers=FINANCE)
        assert sorted(entry["amount"] for entry in ledger) == ["-4000.00", "4000.00"]
        history = (await get_claim(api, claim["id"]))["history"]
        assert [e["to_status"] for e in history][-2:] == ["paid", "approved"]


class TestSimultaneousFilings:
    async def test_ten_identical_filings_with_one_key_make_one_claim(self, api, backend):
        worker = await enrolled_member(api)
        body = worker.claim(hospital_stay(day(3, 2)))
        headers = {**worker.member, "Idempotency-Key": "tap-tap-tap"}
        responses = await asyncio.gather(
            *(api.post(CLAIMS, json=body, headers=headers) for _ in range(10))
        )
        assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
        assert len(replayed) == 9, backend
        stored = await listed(api)
        assert len(stored) == 1
        assert stored[0]["status"] == "pending_review"

    async def test_one_invoice_filed_by_several_workers_at_once_is_held_by_one_claim(
        self, api, backend
    ):
        first = await enrolled_member(api)
        others = [
            await enrolled_member(api, plan_code=first.plan_code, unit_id=first.unit_id)
            for _ in range(4)
        ]
        responses = await asyncio.gather(
            *(
                api.post(
                    CLAIMS,
                    json=worker.claim(hospital_stay(day(3, 2), invoices=["FP-SHARED"])),
                    headers=worker.member,
                )
                for worker in [first, *others]
            )
        )
        live = []
        for response in responses:
            if response.status_code == 201:
                claim = response.json()
                if claim["status"] == "rejected":
                    assert claim["assessment"]["reason_codes"] == ["duplicate_invoice"]
                else:
                    live.append(claim)
            else:  # lost the race at the unique index, after the check had passed
                problem(response, 409, "duplicate_invoice")
        assert len(live) == 1, backend
        stored = await listed(api)
        assert [c["status"] for c in stored].count("pending_review") == 1
