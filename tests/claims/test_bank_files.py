"""Money to the worker's card (代发): a batch records the account each payment went to, finance
downloads the bank's disbursement file, and the bank's result file settles the successes and
returns the failures.

Amounts: the default stay pays 4000.00; one with 6000.00 in policy pays 3100.00; one with
5000.00 pays 2500.00 (tests/claims/test_payouts.py)."""

import hashlib
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from services.kit.exports import XLSX_TYPE
from tests.cards import card_number, masked
from tests.claims.support_claims import (
    PAYOUTS,
    approved_claim,
    day,
    enrolled_member,
    get_claim,
    hospital_stay,
    listed,
    pay,
    problem,
    registry_calls,
    set_account,
)
from tests.support import ADMIN, AUDITOR, FINANCE
from tests.xlsx_cells import NumberCell, xlsx_cells

pytestmark = pytest.mark.calendar  # also run on pinned clocks (scripts/test.sh)

BANK = "中国工商银行"
BRANCH = "呼和浩特新华支行"


async def worker_with_card(api, name="王芳", number=None, **enrolment):
    """An enrolled worker whose payout account is the card `number` (a new valid one)."""
    worker = await enrolled_member(api, account=False, name=name, **enrolment)
    number = number or card_number()
    await set_account(api, worker.member_id, name, number=number)
    return worker, number


async def approved_stays(api, worker, *out_of_pockets):
    """One approved claim per amount in policy (a stay a month apart), in that order."""
    claims = []
    for month, out_of_pocket in enumerate(out_of_pockets, start=2):
        facts = hospital_stay(day(month, 2), out_of_pocket=out_of_pocket)
        claims.append(await approved_claim(api, worker, facts))
    return claims


async def paid_batch(api, claim_ids, reference="DF-0001"):
    response = await pay(api, claim_ids, reference=reference)
    assert response.status_code == 201, response.text
    return response.json()


async def bank_file(api, batch_id, fmt="csv", headers=FINANCE):
    return await api.get(f"{PAYOUTS}/{batch_id}/bank-file", params={"format": fmt}, headers=headers)


async def send_result(api, batch_id, content, name="代发结果.csv", media="text/csv"):
    return await api.post(
        f"{PAYOUTS}/{batch_id}/bank-result",
        files={"file": (name, content, media)},
        headers=FINANCE,
    )


def result_csv(lines, header="序号,金额,状态,失败原因", encoding="gb18030"):
    text = "\r\n".join([header, *(",".join(map(str, line)) for line in lines)]) + "\r\n"
    return text.encode(encoding)


def xlsx(rows):
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def answered(api, batch_id, lines, **kwargs):
    response = await send_result(api, batch_id, result_csv(lines, **kwargs))
    assert response.status_code == 200, response.text
    return response.json()


def entries_by_claim(batch):
    return {e["claim_id"]: e for e in batch["entries"] if e["entry_kind"] == "payment"}


class TestTheAccountPaidTo:
    async def test_each_payment_records_the_members_account_shown_masked(self, api):
        worker, number = await worker_with_card(api)
        [claim] = await approved_stays(api, worker, "7500.00")
        batch = await paid_batch(api, [claim["id"]])
        [entry] = batch["entries"]
        assert entry["account_name"] == "王芳"
        assert entry["account_number"] == masked(number)
        assert (entry["bank_name"], entry["bank_branch"]) == (BANK, BRANCH)
        assert (entry["bank_line"], entry["bank_status"], entry["bank_reason"]) == (1, "sent", None)
        assert (batch["sent"], batch["settled"], batch["returned"]) == (1, 0, 0)
        for headers in (FINANCE, AUDITOR, ADMIN):
            read = await api.get(f"{PAYOUTS}/{batch['id']}", headers=headers)
            ledger = await api.get(PAYOUTS, headers=headers)
            for response in (read, ledger):
                assert response.status_code == 200, response.text
                assert masked(number) in response.text
                assert number not in response.text

    async def test_the_entry_keeps_the_account_of_the_day_it_was_paid(self, api):
        worker, number = await worker_with_card(api)
        [claim] = await approved_stays(api, worker, "7500.00")
        batch = await paid_batch(api, [claim["id"]])
        await set_account(api, worker.member_id, number=card_number(bank="621700"))
        [entry] = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()["entries"]
        assert entry["account_number"] == masked(number)
        assert number in (await bank_file(api, batch["id"])).content.decode("gb18030")

    async def test_a_batch_asks_the_registry_once_for_all_its_members(self, api, claims_app):
        claims = []
        for name in ("王芳", "李娜", "张敏"):
            worker, _ = await worker_with_card(api, name)
            claims += await approved_stays(api, worker, "7500.00", "6000.00")
        before = await registry_calls(claims_app, "ok")
        await paid_batch(api, [claim["id"] for claim in claims])
        assert await registry_calls(claims_app, "ok") - before == 1  # six claims, one lookup

    async def test_the_batch_is_refused_naming_every_claim_without_an_account(self, api):
        with_card, _ = await worker_with_card(api)
        first = await enrolled_member(api, account=False, plan_code=with_card.plan_code)
        second = await enrolled_member(api, account=False, plan_code=with_card.plan_code)
        [paid] = await approved_stays(api, with_card, "7500.00")
        [a] = await approved_stays(api, first, "7500.00")
        [b, c] = await approved_stays(api, second, "7500.00", "6000.00")
        listed_ids = [a["id"], paid["id"], c["id"], b["id"]]
        body = problem(await pay(api, listed_ids), 422, "no_payout_account")
        assert body["claim_ids"] == [a["id"], c["id"], b["id"]]  # every one, in the batch's order
        assert body["member_ids"] == sorted([first.member_id, second.member_id])
        for claim_id in (a["id"], b["id"], c["id"]):
            assert claim_id in body["detail"]
        for claim_id in listed_ids:
            assert (await get_claim(api, claim_id))["status"] == "approved"
        assert await listed(api, PAYOUTS, headers=FINANCE) == []

    async def test_an_account_set_afterwards_lets_the_batch_through(self, api):
        worker = await enrolled_member(api, account=False)
        [claim] = await approved_stays(api, worker, "7500.00")
        problem(await pay(api, [claim["id"]]), 422, "no_payout_account")
        await set_account(api, worker.member_id)
        assert (await pay(api, [claim["id"]])).status_code == 201


class TestTheBankFile:
    async def test_the_csv_is_gb18030_with_crlf_and_a_closing_line(self, api):
        wang, wang_card = await worker_with_card(api, "王芳")
        li, li_card = await worker_with_card(api, "李娜", plan_code=wang.plan_code)
        await set_account(api, li.member_id, "李娜", number=li_card, bank_branch=None)
        [first] = await approved_stays(api, wang, "7500.00")
        [second] = await approved_stays(api, li, "6000.00")
        batch = await paid_batch(
            api, [second["id"], first["id"]]
        )  # the batch's order is the file's

        response = await bank_file(api, batch["id"])
        assert response.status_code == 200, response.text
        plan = wang.plan_code
        expected = (
            "序号,户名,账号,开户行,金额,用途\r\n"
            f"1,李娜,{li_card},{BANK},3100.00,互助金 {plan} {second['id']}\r\n"
            f"2,王芳,{wang_card},{BANK} {BRANCH},4000.00,互助金 {plan} {first['id']}\r\n"
            "合计,2,,,7100.00,\r\n"
        ).encode("gb18030")
        assert response.content == expected
        assert response.headers["content-type"] == "text/csv; charset=gb18030"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="payout-{batch["id"]}-bank-file.csv"'
        )

    async def test_the_xlsx_holds_the_same_lines_as_text(self, api):
        worker, number = await worker_with_card(api)
        claims = await approved_stays(api, worker, "7500.00", "6000.00")
        batch = await paid_batch(api, [claim["id"] for claim in claims])
        response = await bank_file(api, batch["id"], "xlsx")
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"].endswith('-bank-file.xlsx"')
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
        assert rows[0] == ["序号", "户名", "账号", "开户行", "金额", "用途"]
        assert rows[1][:5] == [1, "王芳", number, f"{BANK} {BRANCH}", "4000.00"]
        assert rows[2][:5] == [2, "王芳", number, f"{BANK} {BRANCH}", "3100.00"]
        assert rows[3] == ["合计", 2, None, None, "7100.00", None]
        cells = [cell for row in sheet.iter_rows() for cell in row]
        assert not [cell for cell in cells if cell.data_type == "f"]
        assert sheet["C2"].data_type == "s"  # the 19 digits stay text, never a float

    async def test_a_returned_payment_leaves_the_file_and_its_line_number_unused(self, api):
        worker, _ = await worker_with_card(api)
        claims = await approved_stays(api, worker, "7500.00", "6000.00", "5000.00")
        batch = await paid_batch(api, [claim["id"] for claim in claims])
        await answered(api, batch["id"], [(2, "3100.00", "失败", "户名不符")])
        text = (await bank_file(api, batch["id"])).content.decode("gb18030")
        lines = text.split("\r\n")
        assert [line.split(",")[0] for line in lines[1:-1]] == ["1", "3", "合计"]
        assert lines[-2] == "合计,2,,,6500.00,"  # 4000.00 + 2500.00

    async def test_a_payment_the_bank_settled_is_not_sent_again(self, api):
        """A file downloaded again after the bank's answer would pay the settled ones twice."""
        worker, _ = await worker_with_card(api)
        claims = await approved_stays(api, worker, "7500.00", "6000.00", "5000.00")
        batch = await paid_batch(api, [claim["id"] for claim in claims])
        await answered(api, batch["id"], [(1, "4000.00", "成功", ""), (3, "2500.00", "成功", "")])
        lines = (await bank_file(api, batch["id"])).content.decode("gb18030").split("\r\n")
        assert [line.split(",")[0] for line in lines[1:-1]] == ["2", "合计"]
        assert lines[-2] == "合计,1,,,3100.00,"
        await answered(api, batch["id"], [(2, "3100.00", "成功", "")])
        problem(await bank_file(api, batch["id"]), 422, "bank_file_empty")

    async def test_every_download_is_audited_with_the_files_digest(self, api):
        worker, _ = await worker_with_card(api)
        [claim] = await approved_stays(api, worker, "7500.00")
        batch = await paid_batch(api, [claim["id"]])
        csv = await bank_file(api, batch["id"], "csv")
        book = await bank_file(api, batch["id"], "xlsx")
        events = await listed(
            api, "/api/v1/audit-events", AUDITOR, entity="payout_batch", entity_id=batch["id"]
        )
        downloads = [e for e in events if e["action"] == "payout.bank_file"]
        assert [(e["after"]["format"], e["after"]["sha256"]) for e in downloads] == [
            ("csv", hashlib.sha256(csv.content).hexdigest()),
            ("xlsx", hashlib.sha256(book.content).hexdigest()),
        ]
        assert {(e["actor"], e["after"]["lines"], e["after"]["total"]) for e in downloads} == {
            ("finance:local", 1, "4000.00")
        }

    async def test_a_batch_with_nothing_left_to_send_is_refused(self, api):
        worker, _ = await worker_with_card(api)
        [claim] = await approved_stays(api, worker, "7500.00")
        batch = await paid_batch(api, [claim["id"]])
        reversal = await api.post(
            f"{PAYOUTS}/{batch['id']}/reversal", json={"reason": "card lost"}, headers=FINANCE
        )
        assert reversal.status_code == 201, reversal.text
        problem(await bank_file(api, batch["id"]), 422, "bank_file_empty")

    async def test_only_finance_downloads_it(self, api):
        worker, _ = await worker_with_card(api)
        [claim] = await approved_stays(api, worker, "7500.00")
        batch = await paid_batch(api, [claim["id"]])
        for headers in (ADMIN, AUDITOR, worker.hr, worker.member):
            problem(await bank_file(api, batch["id"], headers=headers), 403)
        problem(await bank_file(api, "pay_unknown"), 404)


class TestTheBankResult:
    @pytest.fixture
    async def three(self, api):
        """A batch of three payments (4000.00, 3100.00, 2500.00) to one worker's card."""
        worker, number = await worker_with_card(api)
        claims = await approved_stays(api, worker, "7500.00", "6000.00", "5000.00")
        batch = await paid_batch(api, [claim["id"] for claim in claims])
        return worker, number, claims, batch

    async def test_successes_settle_and_a_failure_returns_its_payment(self, api, three):
        worker, number, (first, second, third), batch = three
        lines = [
            (1, "4000.00", "成功", ""),
            (2, "3100.00", "失败", "账户已销户"),
            (3, "2500.00", "成功", ""),
        ]
        answer = await answered(api, batch["id"], lines)
        assert [(r["line"], r["status"], r["claim_id"]) for r in answer["results"]] == [
            (2, "settled", first["id"]),
            (3, "returned", second["id"]),
            (4, "settled", third["id"]),
        ]
        assert answer["results"][1]["reason"] == "账户已销户"
        assert answer["results"][0]["account_number"] is None  # the line gave no 账号
        totals = answer["totals"]
        assert (totals["settled"], totals["returned"], totals["unchanged"]) == (2, 1, 0)
        assert (totals["unmatched"], totals["errors"], totals["lines"]) == (0, 0, 3)
        assert (totals["settled_amount"], totals["returned_amount"]) == ("6500.00", "3100.00")
        assert answer["batch"]["total"] == "6500.00"
        summary = (answer["batch"]["settled"], answer["batch"]["returned"], answer["batch"]["sent"])
        assert summary == (2, 1, 0)

        read = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        payments = entries_by_claim(read)
        assert payments[first["id"]]["bank_status"] == "settled"
        assert payments[first["id"]]["bank_status_at"] is not None
        returned = payments[second["id"]]
        assert (returned["bank_status"], returned["bank_reason"]) == ("returned", "账户已销户")
        [reversal] = [e for e in read["entries"] if e["entry_kind"] == "reversal"]
        assert (reversal["amount"], reversal["reverses_entry_id"]) == ("-3100.00", returned["id"])
        assert reversal["account_number"] == masked(number)
        assert "账户已销户" in reversal["reason"]

        back = await get_claim(api, second["id"], headers=worker.member)
        assert (back["status"], back["paid_on"]) == ("approved", None)
        last = back["history"][-1]
        assert (last["from_status"], last["to_status"]) == ("paid", "approved")
        assert "账户已销户" in last["reason"]
        for claim in (first, third):
            assert (await get_claim(api, claim["id"]))["status"] == "paid"

    async def test_the_same_file_sent_again_changes_nothing(self, api, three):
        _, _, (first, second, _), batch = three
        lines = [(1, "4000.00", "成功", ""), (2, "3100.00", "失败", "账户冻结")]
        await answered(api, batch["id"], lines)
        before = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        history = (await get_claim(api, second["id"]))["history"]
        again = await answered(api, batch["id"], lines)
        assert [(r["status"], r["bank_status"]) for r in again["results"]] == [
            ("unchanged", "settled"),
            ("unchanged", "returned"),
        ]
        assert "settled already" in again["results"][0]["detail"]
        assert again["totals"]["unchanged"] == 2
        after = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        assert after == before
        assert (await get_claim(api, second["id"]))["history"] == history
        # a later file saying otherwise does not undo the bank's first answer either
        contrary = await answered(api, batch["id"], [(1, "4000.00", "失败", "退票")])
        assert contrary["results"][0]["status"] == "conflict"
        assert "ask the bank" in contrary["results"][0]["detail"]
        assert contrary["totals"]["conflicts"] == 1
        assert (await get_claim(api, first["id"]))["status"] == "paid"

    async def test_lines_that_match_no_payment_are_reported_and_change_nothing(self, api, three):
        worker, number, _, batch = three
        other = card_number()
        lines = [
            (9, "4000.00", "成功", ""),  # no such line in the file
            (1, "4000.01", "成功", ""),  # another amount
            (2, "31.00", "失败", "户名不符"),  # another amount
        ]
        answer = await answered(api, batch["id"], lines)
        assert [r["status"] for r in answer["results"]] == ["unmatched"] * 3
        assert "no line 9" in answer["results"][0]["detail"]
        assert "4000.01" in answer["results"][1]["detail"]
        by_account = await answered(
            api,
            batch["id"],
            [(other, "4000.00", "成功"), (number, "1.00", "成功")],
            header="账号,金额,状态",
        )
        assert [r["status"] for r in by_account["results"]] == ["unmatched", "unmatched"]
        assert by_account["results"][0]["account_number"] == masked(other)
        assert by_account["totals"]["unmatched"] == 2
        read = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        assert {e["bank_status"] for e in read["entries"]} == {"sent"}
        assert len(read["entries"]) == 3

    async def test_lines_matched_by_account_and_amount(self, api, three):
        _, number, (first, second, third), batch = three
        spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
        lines = [(number, "3100.00", "成功"), (spaced, "2500.00", "失败")]
        answer = await answered(api, batch["id"], lines, header="账号,金额,状态")
        assert [(r["status"], r["claim_id"]) for r in answer["results"]] == [
            ("settled", second["id"]),
            ("returned", third["id"]),
        ]
        assert answer["results"][1]["reason"] is None
        read = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        assert entries_by_claim(read)[third["id"]]["bank_reason"] == (
            "returned by the bank (no reason given)"
        )
        again = await answered(api, batch["id"], lines, header="账号,金额,状态")
        assert [(r["status"], r["bank_status"]) for r in again["results"]] == [
            ("unchanged", "settled"),
            ("unchanged", "returned"),
        ]

    async def test_two_payments_to_one_card_of_one_amount_need_the_serial(self, api):
        worker, number = await worker_with_card(api)
        claims = await approved_stays(api, worker, "7500.00", "7500.00")
        batch = await paid_batch(api, [claim["id"] for claim in claims])
        answer = await answered(
            api, batch["id"], [(number, "4000.00", "成功")], header="账号,金额,状态"
        )
        assert answer["results"][0]["status"] == "unmatched"
        assert "序号" in answer["results"][0]["detail"]
        both = await answered(
            api, batch["id"], [(2, number, "4000.00", "成功")], header="序号,账号,金额,状态"
        )
        assert (both["results"][0]["status"], both["results"][0]["claim_id"]) == (
            "settled",
            claims[1]["id"],
        )
        wrong = await answered(
            api, batch["id"], [(1, card_number(), "4000.00", "成功")], header="序号,账号,金额,状态"
        )
        assert wrong["results"][0]["status"] == "unmatched"
        assert "another account" in wrong["results"][0]["detail"]

    async def test_the_banks_own_layout_in_utf8_with_its_closing_line(self, api, three):
        """The bank sends back the file it was given, its answer in two more columns."""
        _, number, (first, second, third), batch = three
        given = (await bank_file(api, batch["id"])).content.decode("gb18030").split("\r\n")
        header, *lines, closing, _ = given
        rows = [f"{header},处理结果,原因"]
        rows += [f"{line},成功," for line in lines]
        rows.append(f"{closing},,")
        content = ("\ufeff" + "\n".join(rows) + "\n").encode("utf-8")
        response = await send_result(api, batch["id"], content)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["format"], answer["encoding"]) == ("csv", "utf-8")
        assert [r["status"] for r in answer["results"]] == ["settled"] * 3  # 合计 is no payment
        assert answer["results"][0]["account_number"] == masked(number)

    async def test_an_xlsx_result(self, api, three):
        _, _, (first, second, _), batch = three
        content = xlsx(
            [
                ["序号", "金额", "状态", "失败原因"],
                [1, 4000, "成功", None],
                [2, "3100.00", "失败", "卡已挂失"],
            ]
        )
        response = await send_result(
            api,
            batch["id"],
            content,
            "结果.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["format"] == "xlsx"
        assert [(r["status"], r["claim_id"]) for r in answer["results"]] == [
            ("settled", first["id"]),
            ("returned", second["id"]),
        ]

    async def test_number_cells_as_a_banks_workbook_holds_them(self, api, three):
        """A formula's sum is stored to 17 digits (3100.0000000000005): it is 3100.00. A card
        typed into a number cell kept 15 of its digits: the line matches no payment, and
        says why, rather than being matched by digits that are not the card's."""
        _, number, (first, second, _), batch = three
        card_as_excel_keeps_it = NumberCell(f"{number[0]}.{number[1:15]}E+{len(number) - 1}")
        content = xlsx_cells(
            ["序号", "账号", "金额", "状态"],
            [
                [NumberCell("2"), "", NumberCell("3100.0000000000005"), "成功"],
                ["", card_as_excel_keeps_it, NumberCell("4000"), "成功"],
            ],
        )
        response = await send_result(api, batch["id"], content, "结果.xlsx", XLSX_TYPE)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert (results[0]["status"], results[0]["claim_id"]) == ("settled", second["id"])
        assert results[1]["status"] == "error"
        assert "账号" in results[1]["detail"]
        read = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        assert entries_by_claim(read)[first["id"]]["bank_status"] == "sent"

    async def test_unreadable_lines_are_errors_and_change_nothing(self, api, three):
        *_, batch = three
        lines = [
            (1, "4000.00", "处理中", ""),
            (2, "三千一", "成功", ""),
            ("一", "2500.00", "成功", ""),
        ]
        answer = await answered(api, batch["id"], lines)
        assert [r["status"] for r in answer["results"]] == ["error"] * 3
        assert "状态" in answer["results"][0]["detail"]
        assert "金额" in answer["results"][1]["detail"]
        assert "序号" in answer["results"][2]["detail"]
        assert answer["totals"]["errors"] == 3
        read = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        assert {e["bank_status"] for e in read["entries"]} == {"sent"}

    async def test_two_lines_of_one_file_saying_both_is_a_conflict(self, api, three):
        _, _, (first, *_), batch = three
        lines = [(1, "4000.00", "成功", ""), (1, "4000.00", "失败", "退票")]
        answer = await answered(api, batch["id"], lines)
        assert [r["status"] for r in answer["results"]] == ["settled", "conflict"]
        assert (await get_claim(api, first["id"]))["status"] == "paid"

    async def test_a_line_whose_purpose_names_another_claim_is_not_guessed(self, api, three):
        """Another batch's file has the same 序号 and often the same amounts: its 用途 says
        which claim each line paid."""
        _, _, (first, second, _), batch = three
        lines = [
            (1, "4000.00", "失败", "退票", f"互助金 MED {second['id']}"),
            (2, "3100.00", "成功", "", f"互助金 MED {second['id']}"),
        ]
        answer = await answered(api, batch["id"], lines, header="序号,金额,状态,失败原因,用途")
        assert [r["status"] for r in answer["results"]] == ["unmatched", "settled"]
        assert first["id"] in answer["results"][0]["detail"]
        assert (await get_claim(api, first["id"]))["status"] == "paid"

    async def test_digits_that_are_not_ascii_and_overlong_reasons_are_line_errors(self, api, three):
        worker, number, _, batch = three
        fullwidth = number.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
        lines = [
            ("²", "4000.00", "成功", ""),
            ("٣", "2500.00", "成功", ""),
            ("9" * 5000, "4000.00", "成功", ""),
            (2, "3100.00", "失败", "因" * 501),
        ]
        answer = await answered(api, batch["id"], lines, encoding="utf-8")
        assert [r["status"] for r in answer["results"]] == ["error"] * 4
        assert "500" in answer["results"][3]["detail"]
        # a card number in fullwidth digits is the card
        by_account = await answered(
            api,
            batch["id"],
            [(fullwidth, "4000.00", "成功")],
            header="账号,金额,状态",
            encoding="utf-8",
        )
        assert by_account["results"][0]["status"] == "settled"

    async def test_a_file_without_the_columns_or_not_a_sheet_is_refused(self, api, three):
        *_, batch = three
        missing = await send_result(api, batch["id"], result_csv([(1, "成功")], header="序号,状态"))
        body = problem(missing, 422)
        assert body["errors"][0]["loc"] == ["file", "header"]
        assert "金额" in body["detail"]
        no_payment = await send_result(
            api, batch["id"], result_csv([("4000.00", "成功")], header="金额,状态")
        )
        assert "序号 or 账号" in problem(no_payment, 422)["detail"]
        pdf = await send_result(api, batch["id"], b"%PDF-1.4", "结果.pdf", "application/pdf")
        problem(pdf, 415)
        unknown = await send_result(api, "pay_unknown", result_csv([(1, "1.00", "成功", "")]))
        problem(unknown, 404)

    async def test_a_file_over_the_line_limit_is_refused_before_anything(self, api, three):
        *_, batch = three
        content = result_csv([(1, "4000.00", "成功", "")] * 20_001)
        body = problem(await send_result(api, batch["id"], content), 413, "too_many_rows")
        assert body["errors"][0]["loc"] == ["file"]
        read = (await api.get(f"{PAYOUTS}/{batch['id']}", headers=FINANCE)).json()
        assert {e["bank_status"] for e in read["entries"]} == {"sent"}

    async def test_every_result_file_is_audited(self, api, three):
        *_, (_, second, _), batch = three
        content = result_csv([(2, "3100.00", "失败", "户名不符")])
        assert (await send_result(api, batch["id"], content)).status_code == 200
        events = await listed(
            api, "/api/v1/audit-events", AUDITOR, entity="payout_batch", entity_id=batch["id"]
        )
        [event] = [e for e in events if e["action"] == "payout.bank_result"]
        assert event["after"]["sha256"] == hashlib.sha256(content).hexdigest()
        assert event["after"]["filename"] == "代发结果.csv"
        assert event["after"]["returned_claims"] == [second["id"]]
        assert (event["after"]["returned"], event["after"]["settled"]) == (1, 0)


class TestAfterTheBank:
    async def test_a_returned_claim_is_paid_again_in_a_new_batch_to_its_new_card(self, api):
        worker, _ = await worker_with_card(api)
        [claim] = await approved_stays(api, worker, "7500.00")
        batch = await paid_batch(api, [claim["id"]])
        await answered(api, batch["id"], [(1, "4000.00", "失败", "账户已销户")])
        new_card = card_number(bank="621700")
        await set_account(api, worker.member_id, number=new_card, bank_name="中国建设银行")
        again = await paid_batch(api, [claim["id"]], reference="DF-0002")
        [entry] = again["entries"]
        assert (entry["bank_line"], entry["bank_status"]) == (1, "sent")
        assert entry["account_number"] == masked(new_card)
        assert (await get_claim(api, claim["id"]))["status"] == "paid"
        ledger = await listed(api, PAYOUTS, headers=FINANCE)
        assert sum(Decimal(e["amount"]) for e in ledger) == Decimal("4000.00")

    async def test_the_ledger_filters_by_the_banks_answer(self, api):
        worker, _ = await worker_with_card(api)
        claims = await approved_stays(api, worker, "7500.00", "6000.00", "5000.00")
        batch = await paid_batch(api, [claim["id"] for claim in claims])
        await answered(api, batch["id"], [(1, "4000.00", "成功", ""), (2, "3100.00", "失败", "")])

        async def claim_ids(status):
            rows = await listed(api, PAYOUTS, headers=AUDITOR, bank_status=status)
            return [(row["claim_id"], row["entry_kind"]) for row in rows]

        assert await claim_ids("settled") == [(claims[0]["id"], "payment")]
        assert await claim_ids("returned") == [(claims[1]["id"], "payment")]
        assert await claim_ids("sent") == [(claims[2]["id"], "payment")]
        problem(await api.get(PAYOUTS, params={"bank_status": "lost"}, headers=FINANCE), 422)

    async def test_a_manual_reversal_is_the_banks_return_recorded_by_hand(self, api):
        worker, _ = await worker_with_card(api)
        [claim] = await approved_stays(api, worker, "7500.00")
        batch = await paid_batch(api, [claim["id"]])
        reversal = await api.post(
            f"{PAYOUTS}/{batch['id']}/reversal", json={"reason": "退票"}, headers=FINANCE
        )
        payment = entries_by_claim(reversal.json())[claim["id"]]
        assert (payment["bank_status"], payment["bank_reason"]) == ("returned", "退票")
        # the bank then says the money did arrive: reported, nothing guessed
        later = await answered(api, batch["id"], [(1, "4000.00", "成功", "")])
        assert later["results"][0]["status"] == "conflict"
        assert (await get_claim(api, claim["id"]))["status"] == "approved"

    async def test_the_claims_report_counts_a_returned_payment_as_not_paid(self, api):
        worker, _ = await worker_with_card(api)
        claims = await approved_stays(api, worker, "7500.00", "6000.00", "5000.00")
        batch = await paid_batch(api, [claim["id"] for claim in claims])
        lines = [
            (1, "4000.00", "成功", ""),
            (2, "3100.00", "失败", "户名不符"),
            (3, "2500.00", "失败", ""),
        ]
        await answered(api, batch["id"], lines)
        params = {"plan_code": worker.plan_code}
        response = await api.get("/api/v1/reports/claims", params=params, headers=AUDITOR)
        report = response.json()
        assert (report["claims"], report["claimants"], report["total_paid"]) == (1, 1, "4000.00")
        assert (report["returned_payments"], report["returned_total"]) == (2, "5600.00")
        assert report["largest_payout"] == "4000.00"

        again = await paid_batch(api, [claims[1]["id"]], reference="DF-0002")
        assert again["total"] == "3100.00"
        report = (await api.get("/api/v1/reports/claims", params=params, headers=AUDITOR)).json()
        assert (report["claims"], report["total_paid"]) == (2, "7100.00")
        assert report["returned_payments"] == 2  # the first payment did come back


async def test_a_card_removed_before_the_batch_refuses_it(api):
    """A worker who removed her card since her claim was approved: nobody of the batch is
    paid until it is set again."""
    worker, _ = await worker_with_card(api)
    other = await enrolled_member(api, plan_code=worker.plan_code, unit_id=worker.unit_id)
    [mine] = await approved_stays(api, worker, "7500.00")
    [theirs] = await approved_stays(api, other, "7500.00")
    removed = await api.delete(f"/api/v1/members/{other.member_id}/payout-account", headers=ADMIN)
    assert removed.status_code == 204, removed.text
    body = problem(await pay(api, [mine["id"], theirs["id"]]), 422, "no_payout_account")
    assert body["claim_ids"] == [theirs["id"]]
    assert (await get_claim(api, mine["id"]))["status"] == "approved"
