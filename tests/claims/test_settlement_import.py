"""Claims from settlement data (免申即享): the union uploads a month of hospital stays for one
plan, and each row is filed by the system on the member's behalf, with every check a single
claim has (DOMAIN.md, "Claims from settlement data")."""

from datetime import timedelta

from tests.claims.support_claims import (
    CLAIMS,
    JAN_1,
    day,
    get_claim,
    hospital_stay,
    identity_number,
    listed,
    new_plan,
    new_unit,
    problem,
)
from tests.claims.support_settlement import (
    Person,
    imported,
    outcomes,
    person,
    send,
    settlement_csv,
    settlement_number,
    stay,
)
from tests.support import ADMIN, REVIEWER, bearer


async def _claims(api, plan_code: str) -> list[dict]:
    return await listed(api, CLAIMS, plan_code=plan_code, limit=100)


class TestEachRowHasAnOutcome:
    async def test_a_covered_stay_is_filed_by_the_system_with_its_file_and_row(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        worker = await person(api, unit, plan)
        answer = await imported(api, plan, [stay(worker, day(3, 1), number="JS-2026-0001")])

        [result] = answer["results"]
        assert result["outcome"] == "filed"
        assert (result["row"], result["status"], result["payable"]) == (
            2,
            "pending_review",
            "4000.00",
        )
        claim = await get_claim(api, result["claim_id"])
        assert claim["source"] == "settlement"
        assert claim["settlement_number"] == "JS-2026-0001"
        assert claim["facts"]["invoice_numbers"] == ["JS-2026-0001"]
        assert claim["submitted_by"] == "system"
        assert claim["documents_missing"] == []
        submitted = claim["history"][0]
        assert (submitted["actor"], submitted["role"]) == ("system", "system")
        assert submitted["details"]["filename"] == "结算数据-2026-03.csv"
        assert submitted["details"]["row"] == 2
        assert submitted["details"]["import_id"] == answer["import_id"]
        # the member sees it among its claims
        mine = await listed(api, CLAIMS, headers=bearer("member", member_id=worker.member_id))
        assert [c["id"] for c in mine] == [claim["id"]]
        assert mine[0]["source"] == "settlement"
        # and the staff find the file's claims apart from those members and hr filed
        filed = await api.post(
            CLAIMS,
            json={
                "member_id": worker.member_id,
                "plan_code": plan,
                "facts": hospital_stay(day(5, 1)),
            },
            headers=ADMIN,
        )
        assert filed.status_code == 201, filed.text
        by_source = {
            source: [c["id"] for c in await listed(api, CLAIMS, plan_code=plan, source=source)]
            for source in ("settlement", "filed")
        }
        assert by_source == {"settlement": [claim["id"]], "filed": [filed.json()["id"]]}

    async def test_every_outcome_and_the_totals(self, api):
        unit = await new_unit(api)
        plan = await new_plan(api, waiting_days=60, auto_approve_limit="5000")
        insured = await person(api, unit, plan)
        waiting = await person(api, unit, plan, starts_on=day(6, 1))
        not_enrolled = await person(api, unit, None)
        stranger = Person("", identity_number(), "赵六", unit)
        filed_before = await person(api, unit, plan)
        stored = await file_claim_for(api, filed_before, plan, day(5, 1))
        assert stored["status"] == "approved"
        twice = settlement_number()
        rows = [
            stay(insured, day(4, 1)),  # 2: filed, approved
            stay(waiting, day(6, 20)),  # 3: filed, rejected (waiting period)
            stay(not_enrolled, day(4, 1)),  # 4
            stay(stranger, day(4, 1)),  # 5: nobody by that number
            stay(insured, day(4, 10), name="李四"),  # 6
            {**stay(insured, day(5, 1)), "admitted_on": "2026-13-01"},  # 7: bad date
            stay(insured, day(5, 1), total_cost="1.00"),  # 8: the parts are not the total
            stay(filed_before, day(7, 1), number=stored["facts"]["invoice_numbers"][0]),  # 9
            stay(insured, day(8, 1), number=twice),  # 10
            stay(insured, day(9, 1), number=twice),  # 11: the same number again: an error
            stay(filed_before, day(5, 3)),  # 12: overlaps the stored claim's stay
        ]
        before = len(await _claims(api, plan))
        answer = await imported(api, plan, rows)

        assert outcomes(answer) == [
            (2, "filed"),
            (3, "filed"),
            (4, "not_enrolled"),
            (5, "not_enrolled"),
            (6, "name_mismatch"),
            (7, "error"),
            (8, "error"),
            (9, "already_filed"),
            (10, "filed"),
            (11, "error"),
            (12, "filed"),
        ]
        results = {result["row"]: result for result in answer["results"]}
        assert results[2]["status"] == "approved"
        assert (results[3]["status"], results[3]["reason_codes"]) == (
            "rejected",
            ["waiting_period"],
        )
        assert results[3]["payable"] == "0.00"
        assert results[7]["errors"][0]["loc"] == ["admitted_on"]
        assert results[8]["errors"][0]["loc"] == ["total_cost"]
        assert results[9]["claim_id"] == stored["id"]
        assert "row 10" in results[11]["detail"]
        assert results[11]["errors"][0]["loc"] == ["settlement_number"]
        assert results[12]["reason_codes"] == ["overlapping_stay"]
        assert (
            stored["id"]
            in (await get_claim(api, results[12]["claim_id"]))["assessment"]["lines"][-1]["text"]
        )
        assert answer["totals"] == {
            "rows": 11,
            "filed": 4,
            "approved": 2,
            "pending_review": 0,
            "rejected": 2,
            "already_filed": 1,
            "not_enrolled": 2,
            "name_mismatch": 1,
            "errors": 3,
            "payable": "8000.00",
        }
        # only the four filed rows are stored: the rejected ones too, with their reasons
        assert len(await _claims(api, plan)) == before + 4
        rejected = await get_claim(api, results[3]["claim_id"])
        assert rejected["status"] == "rejected"
        assert rejected["history"][-1]["reason"] == "automatic checks: waiting_period"


class TestASettlementNumberTwiceInOneFile:
    """A settlement number is one stay: on a later row of the same file it is that row's error,
    whatever became of the first; `already_filed` is for a claim stored before the file."""

    async def test_every_later_row_with_it_is_an_error_naming_the_first(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        insured, outsider = await person(api, unit, plan), await person(api, unit, None)
        stored = await file_claim_for(api, insured, plan, day(2, 1))
        on_a_claim = stored["facts"]["invoice_numbers"][0]
        first_not_enrolled, first_wrong, first_filed = (settlement_number() for _ in range(3))
        rows = [
            stay(outsider, day(3, 1), number=first_not_enrolled),  # 2: not_enrolled
            stay(insured, day(3, 1), number=first_not_enrolled),  # 3
            {**stay(insured, day(4, 1), number=first_wrong), "admitted_on": "2026-13-01"},  # 4
            stay(insured, day(4, 1), number=first_wrong),  # 5
            stay(insured, day(5, 1), number=on_a_claim),  # 6: already_filed
            stay(insured, day(6, 1), number=on_a_claim),  # 7
            stay(insured, day(7, 1), number=first_filed),  # 8: filed
            stay(insured, day(8, 1), number=first_filed.lower()),  # 9: the same number
            {**stay(insured, day(9, 1), number=first_filed), "hospital": ""},  # 10
        ]
        dry = await imported(api, plan, rows, dry_run=True)
        answer = await imported(api, plan, rows)

        assert outcomes(answer) == [
            (2, "not_enrolled"),
            (3, "error"),
            (4, "error"),
            (5, "error"),
            (6, "already_filed"),
            (7, "error"),
            (8, "filed"),
            (9, "error"),
            (10, "error"),
        ]
        results = {result["row"]: result for result in answer["results"]}
        for row, first, number in [
            (3, 2, first_not_enrolled),
            (5, 4, first_wrong),
            (7, 6, on_a_claim),
            (9, 8, first_filed),
            (10, 8, first_filed),
        ]:
            said = f"{number} is on row {first} of this file already"
            assert results[row]["detail"] == f"结算单号 {said}"
            error = {"loc": ["settlement_number"], "msg": f"结算单号: {said}"}
            assert error in results[row]["errors"]
        assert "claim_id" not in results[7]
        # a row with errors of its own lists them all
        assert [error["loc"] for error in results[10]["errors"]] == [
            ["hospital"],
            ["settlement_number"],
        ]
        assert answer["totals"]["already_filed"] == 1
        assert answer["totals"]["errors"] == 6
        assert len(await _claims(api, plan)) == 2  # the stored claim and row 8

        def without_ids(answer: dict) -> list[dict]:
            return [{k: v for k, v in r.items() if k != "claim_id"} for r in answer["results"]]

        assert without_ids(dry) == without_ids(answer)
        assert dry["totals"] == answer["totals"]


async def file_claim_for(api, who: Person, plan: str, on) -> dict:
    body = {"member_id": who.member_id, "plan_code": plan, "facts": hospital_stay(on)}
    response = await api.post(CLAIMS, json=body, headers=REVIEWER_FILER)
    assert response.status_code == 201, response.text
    return response.json()


REVIEWER_FILER = ADMIN


class TestTheSameAnswerAsFilingOneByOne:
    async def test_identical_stays_filed_both_ways_pay_the_same(self, api):
        """Two workers with identical enrolments: one files her stays one after the other, the
        other's come in one settlement file, out of order; the caps are shared out alike."""
        unit = await new_unit(api)
        plan = await new_plan(
            api,
            auto_approve_limit="5000",
            benefit={"term_cap_per_share": "10000"},
            waiting_days=30,
        )
        filer, settled = await person(api, unit, plan), await person(api, unit, plan)
        stays = [
            (day(1, 20), {}),  # in the waiting period
            (day(2, 10), {}),  # 4000, approved
            (day(3, 10), {"out_of_pocket": "20000.00"}),  # large: to review (not auto)
            (day(4, 10), {}),  # 4000, approved
            (day(4, 12), {}),  # overlaps the one before
            (day(5, 10), {}),  # 2000 left of the cap
            (day(6, 10), {}),  # nothing left: cap_reached
            (day(7, 10), {"out_of_pocket": "800.00"}),  # below the threshold
        ]
        one_by_one = []
        for admitted_on, changes in stays:
            facts = hospital_stay(admitted_on, **changes)
            body = {"member_id": filer.member_id, "plan_code": plan, "facts": facts}
            response = await api.post(CLAIMS, json=body, headers=REVIEWER_FILER)
            assert response.status_code == 201, response.text
            one_by_one.append(response.json())
        rows = [stay(settled, admitted_on, **changes) for admitted_on, changes in stays]
        answer = await imported(api, plan, list(reversed(rows)))  # last admission first
        from_file = list(reversed(answer["results"]))

        def seen(claim: dict) -> tuple:
            return (claim["status"], claim["payable"], claim["reason_codes"])

        expected = [
            seen({**c, "reason_codes": c["assessment"]["reason_codes"]}) for c in one_by_one
        ]
        assert [seen(result) for result in from_file] == expected
        assert [s for s, _, _ in expected] == [
            "rejected",
            "approved",
            "pending_review",
            "approved",
            "rejected",
            "approved",
            "rejected",
            "rejected",
        ]
        assert expected[6][2] == ["cap_reached"]
        # and the stored assessments read the same, line by line
        for claim, result in zip(one_by_one, from_file, strict=True):
            stored = await get_claim(api, result["claim_id"])
            assert [line["amount"] for line in stored["assessment"]["lines"]] == [
                line["amount"] for line in claim["assessment"]["lines"]
            ]
            assert stored["assessment"]["cap_left"] == claim["assessment"]["cap_left"]


class TestSendingAgain:
    async def test_a_dry_run_answers_the_same_and_stores_nothing(self, api):
        unit, plan = await new_unit(api), await new_plan(api, auto_approve_limit="5000")
        worker = await person(api, unit, plan)
        rows = [stay(worker, day(3, 1)), stay(worker, day(3, 3)), stay(worker, day(5, 1))]
        dry = await imported(api, plan, rows, dry_run=True)
        assert dry["dry_run"] is True and dry["import_id"] is None
        assert await _claims(api, plan) == []
        real = await imported(api, plan, rows)

        def without_ids(answer: dict) -> list[dict]:
            return [{k: v for k, v in r.items() if k != "claim_id"} for r in answer["results"]]

        assert without_ids(dry) == without_ids(real)
        assert dry["totals"] == real["totals"]
        assert all("claim_id" not in result for result in dry["results"])

    async def test_the_same_file_twice_files_nothing_twice(self, api):
        unit, plan = await new_unit(api), await new_plan(api, waiting_days=60)
        worker = await person(api, unit, plan)
        content = settlement_csv([stay(worker, day(1, 20)), stay(worker, day(4, 1))])
        first = await send(api, plan, content)
        assert first.json()["totals"]["filed"] == 2  # one rejected (waiting period), one filed
        again = await send(api, plan, content)
        assert again.status_code == 200, again.text
        assert outcomes(again.json()) == [(2, "already_filed"), (3, "already_filed")]
        ids = [result["claim_id"] for result in first.json()["results"]]
        assert [result["claim_id"] for result in again.json()["results"]] == ids
        assert len(await _claims(api, plan)) == 2

    async def test_an_idempotency_key_replays_the_answer(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        worker = await person(api, unit, plan)
        content = settlement_csv([stay(worker, day(3, 1))])
        headers = {**REVIEWER_FILER, "Idempotency-Key": "settlement-2026-03"}
        first = await send(api, plan, content, headers=headers)
        second = await send(api, plan, content, headers=headers)
        assert second.headers.get("Idempotent-Replayed") == "true"
        assert second.json() == first.json()
        assert len(await _claims(api, plan)) == 1

    async def test_a_member_filing_the_stay_afterwards_is_a_duplicate_invoice(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        worker = await person(api, unit, plan)
        row = stay(worker, day(3, 1))
        await imported(api, plan, [row])
        facts = hospital_stay(day(6, 1), invoices=[row["settlement_number"]])
        body = {"member_id": worker.member_id, "plan_code": plan, "facts": facts}
        response = await api.post(CLAIMS, json=body, headers=REVIEWER_FILER)
        assert response.json()["assessment"]["reason_codes"] == ["duplicate_invoice"]


class TestRefusals:
    async def test_a_fixed_benefit_plan_takes_no_settlement_data(self, api):
        unit, plan = await new_unit(api), await new_plan(api, "fixed_benefit")
        worker = await person(api, unit, plan)
        response = await send(api, plan, settlement_csv([stay(worker, day(3, 1))]))
        problem(response, 422, "settlement_plan_kind")

    async def test_an_unknown_plan_is_404(self, api):
        unit = await new_unit(api)
        worker = await person(api, unit, None)
        response = await send(api, "NOPE-2026", settlement_csv([stay(worker, day(3, 1))]))
        problem(response, 404)

    async def test_only_admin_imports(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        worker = await person(api, unit, plan)
        content = settlement_csv([stay(worker, day(3, 1))])
        for headers in (REVIEWER, bearer("hr", unit_id=unit)):
            problem(await send(api, plan, content, headers=headers), 403)
        assert await _claims(api, plan) == []

    async def test_a_stay_after_today_is_rejected_like_a_single_claim(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        worker = await person(api, unit, plan)
        tomorrow = day(1, 1) + timedelta(days=301)
        answer = await imported(api, plan, [stay(worker, tomorrow, days=1)])
        assert answer["results"][0]["reason_codes"] == ["event_in_future"]

    async def test_an_amount_of_minus_zero_is_refused_as_negative(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        worker = await person(api, unit, plan)
        rows = [
            stay(worker, day(3, 1), self_pay="-0.00", total_cost="17500.00"),
            stay(worker, day(4, 1), self_pay="-0", total_cost="17500.00"),
            stay(worker, day(5, 1), self_pay="-1.00", total_cost="17499.00"),
        ]
        answer = await imported(api, plan, rows)
        assert outcomes(answer) == [(2, "error"), (3, "error"), (4, "error")]
        for result in answer["results"]:
            assert result["errors"] == [{"loc": ["self_pay"], "msg": "自费: must not be negative"}]
        assert await _claims(api, plan) == []

    async def test_the_first_day_of_cover_is_covered(self, api):
        unit, plan = await new_unit(api), await new_plan(api)
        worker = await person(api, unit, plan)
        answer = await imported(api, plan, [stay(worker, JAN_1)])
        assert answer["results"][0]["outcome"] == "filed"


class TestAtTheSameTimeAsSingleFilings:
    async def test_an_import_and_single_filings_of_one_member_never_pay_past_her_cap(
        self, api, backend
    ):
        """The import takes the member-and-plan lock of every member of its file, as a single
        filing does: three stays in the file and three filed at once for the same worker, each
        worth 4000.00 against a 10000.00 term cap, approve 10000.00 in all, never more."""
        import asyncio
        from decimal import Decimal

        unit = await new_unit(api)
        plan = await new_plan(
            api, auto_approve_limit="5000", benefit={"term_cap_per_share": "10000"}
        )
        worker = await person(api, unit, plan)
        file_rows = [stay(worker, day(month, 10)) for month in (2, 3, 4)]
        singles = [
            {"member_id": worker.member_id, "plan_code": plan, "facts": hospital_stay(day(m, 10))}
            for m in (5, 6, 7)
        ]
        answers = await asyncio.gather(
            imported(api, plan, file_rows),
            *(api.post(CLAIMS, json=body, headers=ADMIN) for body in singles),
        )
        for response in answers[1:]:
            assert response.status_code == 201, response.text
        claims = await _claims(api, plan)
        assert len(claims) == 6
        approved = [c for c in claims if c["status"] == "approved"]
        paid = sum((Decimal(c["payable"]) for c in approved), Decimal("0.00"))
        assert paid == Decimal("10000.00"), backend
        assert {c["status"] for c in claims} == {"approved", "rejected"}
        refused = [c for c in claims if c["status"] == "rejected"]
        assert all(c["reason_codes"] == ["cap_reached"] for c in refused)
