"""Payout accounts set by the batch enrolment and the import (optional 银行卡号 / 开户行
columns, JSON account_number / bank_name), in the same pass as the enrolments."""

import pytest

from tests.cards import card_number, masked, with_wrong_check_digit
from tests.members.bulk_support import (
    XLSX_TYPE,
    bulk_national_ids,
    by_row,
    codes,
    csv_bytes,
    fields,
    import_file,
    open_plan,
    post_batch,
    xlsx_bytes,
)
from tests.support import ADMIN, AUDITOR, bearer, new_plan, new_unit

HEADER = ["身份证号", "姓名", "手机号", "份数", "银行卡号", "开户行"]
PLAN = "MED-2026"


async def account_of(client, member_id: str):
    response = await client.get(f"/api/v1/members/{member_id}/payout-account", headers=ADMIN)
    return response.json() if response.status_code == 200 else None


async def account_events(client, member_id: str | None = None) -> list[dict]:
    params = {"entity": "payout_account", "limit": 500}
    if member_id:
        params["entity_id"] = member_id
    response = await client.get("/api/v1/audit-events", params=params, headers=AUDITOR)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.fixture
async def unit(members) -> str:
    unit_id = await new_unit(members)
    await new_plan(members, PLAN, **open_plan())
    return unit_id


class TestImport:
    async def test_good_cards_are_set_and_a_bad_card_is_its_rows_error(self, members, unit):
        numbers = bulk_national_ids(6, start=900)
        good, other = card_number(), card_number(length=16)
        spaced = " ".join(good[i : i + 4] for i in range(0, len(good), 4))
        rows = [
            [numbers[0], "欧阳娜娜", "", 1, spaced, "中国工商银行"],
            [numbers[1], "龙胜", "", 1, with_wrong_check_digit(card_number()), "中国银行"],
            [numbers[2], "李娜", "", 1, card_number(), ""],
            [numbers[3], "王芳", "", 1, "", "中国银行"],
            [numbers[4], "赵敏", "", 1, "", ""],
            [numbers[5], "张伟", "", 1, other, "招商银行"],
        ]
        response = await import_file(members, unit, PLAN, csv_bytes(HEADER, rows, "gb18030"))
        assert response.status_code == 200, response.text
        answer = response.json()
        results = by_row(answer)
        assert [results[line]["status"] for line in range(2, 8)] == [
            "ok",
            "error",
            "error",
            "error",
            "ok",
            "ok",
        ]
        assert codes(results[3]) == ["account_number_invalid"] and fields(results[3]) == [
            "account_number"
        ]
        assert "Luhn" in str(results[3]["errors"])
        assert fields(results[4]) == ["bank_name"]
        assert fields(results[5]) == ["account_number"]
        assert answer["totals"]["enrolled"] == 3 and answer["totals"]["failed"] == 3
        assert answer["payout_accounts"] == {"set": 2, "unchanged": 0}
        first = await account_of(members, results[2]["member_id"])
        assert first["account_name"] == "欧阳娜娜" and first["account_number"] == good
        assert first["bank_name"] == "中国工商银行" and first["bank_branch"] is None
        assert (await account_of(members, results[7]["member_id"]))["account_number"] == other
        assert await account_of(members, results[6]["member_id"]) is None
        # the refused rows registered no one
        listed = await members.get("/api/v1/members", params={"limit": 500}, headers=ADMIN)
        assert len(listed.json()["items"]) == 3

    async def test_a_row_bad_elsewhere_lists_its_cards_error_too(self, members, unit):
        [number] = bulk_national_ids(1, start=910)
        bad = with_wrong_check_digit(card_number())
        content = csv_bytes(HEADER, [[number, "王芳", "", 0, bad, "中国银行"]])
        [result] = (await import_file(members, unit, PLAN, content)).json()["results"]
        assert fields(result) == ["shares", "account_number"]
        assert codes(result)[1] == "account_number_invalid"

    async def test_english_headers_and_a_list_without_card_columns(self, members, unit):
        numbers = bulk_national_ids(2, start=920)
        card = card_number()
        header = ["national_id", "name", "shares", "Account_Number", "bank_name"]
        content = csv_bytes(header, [[numbers[0], "王芳", 1, card, "中国银行"]])
        [result] = (await import_file(members, unit, PLAN, content)).json()["results"]
        assert (await account_of(members, result["member_id"]))["account_number"] == card
        plain = csv_bytes(["身份证号", "姓名", "份数"], [[numbers[1], "李娜", 1]])
        answer = (await import_file(members, unit, PLAN, plain)).json()
        assert answer["results"][0]["status"] == "ok"
        assert answer["payout_accounts"] == {"set": 0, "unchanged": 0}

    async def test_xlsx_a_card_in_a_number_cell_is_refused_saying_why(self, members, unit):
        numbers = bulk_national_ids(3, start=930)
        as_text, exact = card_number(), card_number(bank="436742", length=16)
        rows = [
            [numbers[0], "王芳", None, 1, as_text, "中国银行"],
            [numbers[1], "李娜", None, 1, float(card_number()), "中国银行"],  # as Excel keeps it
            # a whole number a program wrote exactly (openpyxl does so up to 2**53)
            [numbers[2], "赵敏", None, 1, int(exact), "中国银行"],
        ]
        content = xlsx_bytes(HEADER, rows)
        response = await import_file(members, unit, PLAN, content, "名单.xlsx", XLSX_TYPE)
        results = by_row(response.json())
        assert results[2]["status"] == results[4]["status"] == "ok"
        assert codes(results[3]) == ["account_number_invalid"]
        assert "stored as a number" in results[3]["errors"][0]["msg"]
        assert (await account_of(members, results[2]["member_id"]))["account_number"] == as_text
        assert (await account_of(members, results[4]["member_id"]))["account_number"] == exact


class TestBatch:
    async def test_a_known_members_card_is_replaced_and_audited_masked(self, members, unit):
        [number] = bulk_national_ids(1, start=940)
        first, second = card_number(), card_number()
        row = {"national_id": number, "name": "王芳", "shares": 1}
        created = await post_batch(
            members, unit, PLAN, [{**row, "account_number": first, "bank_name": "中国银行"}]
        )
        member_id = created.json()["results"][0]["member_id"]
        # registered by this batch: its account comes with its record, in the batch's event
        assert await account_events(members, member_id) == []
        assert created.json()["payout_accounts"] == {"set": 1, "unchanged": 0}
        params = {"entity": "enrollment_batch", "entity_id": created.json()["batch_id"]}
        batches = await members.get("/api/v1/audit-events", params=params, headers=AUDITOR)
        [batch] = batches.json()["items"]
        assert batch["after"]["payout_accounts"] == {"set": 1, "unchanged": 0}

        again = await post_batch(
            members, unit, PLAN, [{**row, "account_number": second, "bank_name": "农业银行"}]
        )
        assert again.status_code == 200, again.text
        [result] = again.json()["results"]
        assert result["status"] == "ok" and result["already_enrolled"] is True
        assert (await account_of(members, member_id))["account_number"] == second
        [event] = await account_events(members, member_id)
        assert event["action"] == "payout_account.set"
        assert event["before"]["account_number"] == masked(first)
        assert event["after"] == {
            "account_name": "王芳",
            "account_number": masked(second),
            "bank_name": "农业银行",
            "bank_branch": None,
        }
        assert first not in str(event) and second not in str(event)

        same = await post_batch(
            members, unit, PLAN, [{**row, "account_number": second, "bank_name": "农业银行"}]
        )
        assert same.json()["payout_accounts"] == {"set": 0, "unchanged": 1}
        assert len(await account_events(members, member_id)) == 1

    async def test_the_holder_is_the_member_as_registered(self, members, unit):
        [number] = bulk_national_ids(1, start=950)
        body = {"national_id": number, "name": "欧阳娜娜", "unit_id": unit}
        registered = await members.post("/api/v1/members", json=body, headers=ADMIN)
        member_id = registered.json()["id"]
        card = card_number()
        rows = [
            {
                "national_id": number,
                "name": "欧阳娜",
                "shares": 1,
                "account_number": card,
                "bank_name": "中国银行",
            }
        ]
        [result] = (await post_batch(members, unit, PLAN, rows)).json()["results"]
        assert result["status"] == "ok" and result["member_id"] == member_id
        account = await account_of(members, member_id)
        assert account["account_name"] == "欧阳娜娜" and account["account_number"] == card
        [event] = await account_events(members, member_id)
        assert event["before"] is None and event["after"]["account_name"] == "欧阳娜娜"

    async def test_hr_sets_no_card_of_another_units_worker(self, members, unit):
        other = await new_unit(members, "第二医院")
        [number] = bulk_national_ids(1, start=960)
        body = {"national_id": number, "name": "王芳", "unit_id": other}
        member_id = (await members.post("/api/v1/members", json=body, headers=ADMIN)).json()["id"]
        rows = [
            {
                "national_id": number,
                "name": "王芳",
                "shares": 1,
                "account_number": card_number(),
                "bank_name": "中国银行",
            }
        ]
        answer = await post_batch(members, unit, PLAN, rows, bearer("hr", unit_id=unit))
        [result] = answer.json()["results"]
        assert codes(result) == ["member_in_other_unit"]
        assert await account_of(members, member_id) is None

    async def test_thousands_of_cards_set_then_replaced(self, members, unit):
        """More rows than a chunk (5,000): new accounts written, then all replaced."""
        numbers = bulk_national_ids(5_050, start=10_000)

        def rows(bank: str) -> list[dict]:
            return [
                {
                    "national_id": number,
                    "name": f"职工{i}",
                    "shares": 1,
                    "account_number": card_number(),
                    "bank_name": bank,
                }
                for i, number in enumerate(numbers)
            ]

        first = await post_batch(members, unit, PLAN, rows("中国银行"))
        assert first.status_code == 200, first.text[:500]
        assert first.json()["payout_accounts"] == {"set": 5_050, "unchanged": 0}
        sent = rows("农业银行")
        second = await post_batch(members, unit, PLAN, sent)
        assert second.json()["payout_accounts"] == {"set": 5_050, "unchanged": 0}
        last = second.json()["results"][-1]
        account = await account_of(members, last["member_id"])
        assert account["account_number"] == sent[-1]["account_number"]
        assert account["bank_name"] == "农业银行" and account["account_name"] == "职工5049"
        assert len(await account_events(members, last["member_id"])) == 1
