"""Payout accounts (代发): the member's bank card, its checks, who sees it in full, the audit
log, and the lookup a payment batch makes."""

import pytest

from tests.cards import card_number, masked, with_wrong_check_digit
from tests.support import ADMIN, AUDITOR, FINANCE, REVIEWER, bearer, valid_national_id

MEMBERS = "/api/v1/members"
LOOKUP = "/api/v1/payout-accounts/lookup"


def account_url(member_id: str) -> str:
    return f"{MEMBERS}/{member_id}/payout-account"


async def make_unit(members, name="第一医院") -> str:
    response = await members.post("/api/v1/units", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_member(members, unit_id: str, name: str = "王芳") -> str:
    body = {"national_id": valid_national_id(), "name": name, "unit_id": unit_id}
    response = await members.post(MEMBERS, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def account(name: str = "王芳", number: str | None = None, **fields) -> dict:
    return {
        "account_name": name,
        "account_number": number or card_number(),
        "bank_name": "中国工商银行",
        **fields,
    }


async def put(members, member_id: str, body: dict, headers=ADMIN):
    return await members.put(account_url(member_id), json=body, headers=headers)


def refused(response, field: str, code: str) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code, problem
    assert problem["errors"][0]["loc"] == [field], problem
    return problem


@pytest.fixture
async def worker(members):
    unit = await make_unit(members)
    return unit, await make_member(members, unit)


class TestSetting:
    async def test_an_account_is_set_and_read_back(self, members, worker):
        _, member_id = worker
        number = card_number()
        response = await put(members, member_id, account(number=number, bank_branch="西湖支行"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["member_id"] == member_id
        assert body["account_name"] == "王芳" and body["account_number"] == number
        assert body["bank_name"] == "中国工商银行" and body["bank_branch"] == "西湖支行"
        assert body["updated_by"] and body["updated_at"].endswith("Z")
        fetched = await members.get(account_url(member_id), headers=ADMIN)
        assert fetched.status_code == 200 and fetched.json() == body

    async def test_spaces_in_the_number_are_removed(self, members, worker):
        _, member_id = worker
        number = card_number()
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        response = await put(members, member_id, account(number=f" {spaced} "))
        assert response.status_code == 200, response.text
        assert response.json()["account_number"] == number

    async def test_fullwidth_digits_and_name_are_their_ascii_forms(self, members):
        unit = await make_unit(members)
        member_id = await make_member(members, unit, name="Anna Li")
        number = card_number()
        wide = number.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
        response = await put(members, member_id, account(name="  Ａｎｎａ Ｌｉ ", number=wide))
        assert response.status_code == 200, response.text
        assert response.json()["account_number"] == number
        assert response.json()["account_name"] == "Anna Li"

    @pytest.mark.parametrize("length", [16, 17, 18, 19])
    async def test_16_to_19_digits_are_accepted(self, members, worker, length):
        _, member_id = worker
        number = card_number(length=length)
        response = await put(members, member_id, account(number=number))
        assert response.status_code == 200, response.text
        assert response.json()["account_number"] == number

    @pytest.mark.parametrize("length", [15, 20])
    async def test_other_lengths_are_refused(self, members, worker, length):
        _, member_id = worker
        problem = refused(
            await put(members, member_id, account(number=card_number(length=length))),
            "account_number",
            "account_number_invalid",
        )
        assert f"has {length}" in problem["detail"]

    async def test_a_wrong_check_digit_is_refused(self, members, worker):
        _, member_id = worker
        bad = with_wrong_check_digit(card_number())
        problem = refused(
            await put(members, member_id, account(number=bad)),
            "account_number",
            "account_number_invalid",
        )
        assert "Luhn" in problem["detail"]
        assert (await members.get(account_url(member_id), headers=ADMIN)).status_code == 404

    @pytest.mark.parametrize("number", ["6222-0212-3456-7890-128", "62220212345678901a8"])
    async def test_other_characters_than_digits_are_refused(self, members, worker, number):
        _, member_id = worker
        problem = refused(
            await put(members, member_id, account(number=number)),
            "account_number",
            "account_number_invalid",
        )
        assert "digits only" in problem["detail"]

    async def test_another_name_than_the_members_is_refused(self, members, worker):
        _, member_id = worker
        problem = refused(
            await put(members, member_id, account(name="王芳芳")),
            "account_name",
            "account_name_mismatch",
        )
        assert "王芳芳" in problem["detail"] and "王芳" in problem["detail"]

    @pytest.mark.parametrize("field", ["bank_name", "account_name", "account_number"])
    async def test_a_missing_field_is_refused_naming_it(self, members, worker, field):
        _, member_id = worker
        body = account()
        del body[field]
        response = await put(members, member_id, body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == [field]

    async def test_a_control_character_in_the_bank_name_is_refused(self, members, worker):
        _, member_id = worker
        response = await put(members, member_id, account(bank_name="工商\n银行"))
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["bank_name"]

    async def test_a_second_put_replaces_the_account(self, members, worker):
        _, member_id = worker
        assert (await put(members, member_id, account(bank_branch="西湖支行"))).status_code == 200
        number = card_number(length=16)
        second = await put(members, member_id, account(number=number, bank_name="中国银行"))
        assert second.status_code == 200, second.text
        fetched = (await members.get(account_url(member_id), headers=ADMIN)).json()
        assert fetched["account_number"] == number and fetched["bank_name"] == "中国银行"
        assert fetched["bank_branch"] is None

    async def test_no_account_is_404(self, members, worker):
        _, member_id = worker
        response = await members.get(account_url(member_id), headers=ADMIN)
        assert response.status_code == 404, response.text
        assert (await members.delete(account_url(member_id), headers=ADMIN)).status_code == 404

    async def test_delete_removes_it(self, members, worker):
        _, member_id = worker
        assert (await put(members, member_id, account())).status_code == 200
        deleted = await members.delete(account_url(member_id), headers=ADMIN)
        assert deleted.status_code == 204 and deleted.content == b""
        assert (await members.get(account_url(member_id), headers=ADMIN)).status_code == 404

    async def test_an_unknown_member_is_404(self, members):
        response = await put(members, "mbr_nobody", account())
        assert response.status_code == 404, response.text


class TestWhoSeesWhat:
    """Full for the member itself, its unit's hr and admin; masked for the other readers of
    the member; another unit's or member's is 404."""

    async def test_masking_per_role(self, members, worker):
        unit, member_id = worker
        number = card_number(bank="622202", length=19)
        assert (await put(members, member_id, account(number=number))).status_code == 200
        full = {
            "admin": ADMIN,
            "hr": bearer("hr", unit_id=unit),
            "member": bearer("member", member_id=member_id),
        }
        for role, headers in full.items():
            response = await members.get(account_url(member_id), headers=headers)
            assert response.status_code == 200, (role, response.text)
            assert response.json()["account_number"] == number, role
        expected = f"622202{'*' * 9}{number[-4:]}"
        for role, headers in {"reviewer": REVIEWER, "finance": FINANCE, "auditor": AUDITOR}.items():
            response = await members.get(account_url(member_id), headers=headers)
            assert response.status_code == 200, (role, response.text)
            assert response.json()["account_number"] == expected, role
            assert number not in response.text, role

    async def test_a_16_digit_number_is_masked_to_16_characters(self, members, worker):
        _, member_id = worker
        number = card_number(bank="436742", length=16)
        assert (await put(members, member_id, account(number=number))).status_code == 200
        response = await members.get(account_url(member_id), headers=AUDITOR)
        assert response.json()["account_number"] == f"436742******{number[-4:]}"

    async def test_another_units_hr_and_another_member_get_404(self, members, worker):
        _, member_id = worker
        assert (await put(members, member_id, account())).status_code == 200
        other_unit = await make_unit(members, "第二医院")
        other_member = await make_member(members, other_unit, "李强")
        for headers in (
            bearer("hr", unit_id=other_unit),
            bearer("member", member_id=other_member),
        ):
            for method in ("GET", "PUT", "DELETE"):
                body = account() if method == "PUT" else None
                response = await members.request(
                    method, account_url(member_id), json=body, headers=headers
                )
                assert response.status_code == 404, (method, response.text)
        still = await members.get(account_url(member_id), headers=ADMIN)
        assert still.status_code == 200

    async def test_hr_and_the_member_set_and_delete_their_own(self, members, worker):
        unit, member_id = worker
        for headers in (bearer("hr", unit_id=unit), bearer("member", member_id=member_id)):
            number = card_number()
            response = await put(members, member_id, account(number=number), headers)
            assert response.status_code == 200, response.text
            assert response.json()["account_number"] == number
            deleted = await members.delete(account_url(member_id), headers=headers)
            assert deleted.status_code == 204, deleted.text

    async def test_readers_who_may_not_change_it_get_403(self, members, worker):
        _, member_id = worker
        assert (await put(members, member_id, account())).status_code == 200
        for headers in (REVIEWER, FINANCE, AUDITOR):
            assert (await put(members, member_id, account(), headers)).status_code == 403
            response = await members.delete(account_url(member_id), headers=headers)
            assert response.status_code == 403


async def audit_events(members, member_id: str) -> list[dict]:
    params = {"entity": "payout_account", "entity_id": member_id}
    response = await members.get("/api/v1/audit-events", params=params, headers=AUDITOR)
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestAudit:
    async def test_each_change_is_audited_with_the_number_masked(self, members, worker):
        unit, member_id = worker
        first, second = card_number(), card_number(length=16)
        hr = bearer("hr", unit_id=unit)
        assert (await put(members, member_id, account(number=first))).status_code == 200
        assert (await put(members, member_id, account(number=second), hr)).status_code == 200
        assert (await members.delete(account_url(member_id), headers=ADMIN)).status_code == 204
        events = await audit_events(members, member_id)  # in the order they were recorded
        assert [e["action"] for e in events] == [
            "payout_account.set",
            "payout_account.set",
            "payout_account.delete",
        ]
        created, changed, deleted = events
        assert created["before"] is None
        assert created["after"] == {
            "account_name": "王芳",
            "account_number": masked(first),
            "bank_name": "中国工商银行",
            "bank_branch": None,
        }
        assert changed["role"] == "hr"
        assert changed["before"]["account_number"] == masked(first)
        assert changed["after"]["account_number"] == masked(second)
        assert deleted["before"]["account_number"] == masked(second)
        assert deleted["after"] is None
        log = str(events)
        assert first not in log and second not in log

    async def test_the_same_put_twice_records_one_change(self, members, worker):
        _, member_id = worker
        body = account()
        assert (await put(members, member_id, body)).status_code == 200
        again = await put(members, member_id, body)
        assert again.status_code == 200
        assert len(await audit_events(members, member_id)) == 1

    async def test_the_holder_follows_a_correction_of_the_members_name(self, members, worker):
        """The card is in the member's own name: a payment to the old name would bounce."""
        _, member_id = worker
        number = card_number()
        assert (await put(members, member_id, account(number=number))).status_code == 200
        renamed = await members.patch(
            f"{MEMBERS}/{member_id}", json={"name": "王芳芳"}, headers=ADMIN
        )
        assert renamed.status_code == 200, renamed.text
        read = (await members.get(account_url(member_id), headers=ADMIN)).json()
        assert (read["account_name"], read["account_number"]) == ("王芳芳", number)
        looked_up = await members.post(LOOKUP, json={"member_ids": [member_id]}, headers=FINANCE)
        assert looked_up.json()["accounts"][0]["account_name"] == "王芳芳"
        changed = (await audit_events(members, member_id))[-1]
        assert changed["action"] == "payout_account.set"
        assert (changed["before"]["account_name"], changed["after"]["account_name"]) == (
            "王芳",
            "王芳芳",
        )
        assert changed["after"]["account_number"] == masked(number)
        # a PATCH of something else leaves the account as it is
        phone = {"phone": "13800000000"}
        patched = await members.patch(f"{MEMBERS}/{member_id}", json=phone, headers=ADMIN)
        assert patched.status_code == 200, patched.text
        assert len(await audit_events(members, member_id)) == 2

    async def test_a_refused_put_records_nothing(self, members, worker):
        _, member_id = worker
        bad = with_wrong_check_digit(card_number())
        assert (await put(members, member_id, account(number=bad))).status_code == 422
        assert await audit_events(members, member_id) == []


class TestLookup:
    async def test_full_numbers_in_order_and_the_missing(self, members):
        unit = await make_unit(members)
        ids = [await make_member(members, unit, name) for name in ("甲", "乙", "丙")]
        numbers = {ids[0]: card_number(), ids[2]: card_number(length=16)}
        for member_id, name in ((ids[0], "甲"), (ids[2], "丙")):
            body = account(name, numbers[member_id], bank_branch="西湖支行")
            assert (await put(members, member_id, body)).status_code == 200
        asked = [ids[2], "mbr_unknown", ids[1], ids[0]]
        response = await members.post(LOOKUP, json={"member_ids": asked}, headers=FINANCE)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "accounts": [
                {
                    "member_id": ids[2],
                    "account_name": "丙",
                    "account_number": numbers[ids[2]],
                    "bank_name": "中国工商银行",
                    "bank_branch": "西湖支行",
                },
                {
                    "member_id": ids[0],
                    "account_name": "甲",
                    "account_number": numbers[ids[0]],
                    "bank_name": "中国工商银行",
                    "bank_branch": "西湖支行",
                },
            ],
            "missing": ["mbr_unknown", ids[1]],
        }

    async def test_a_lookup_is_audited_naming_whose_numbers_were_read(self, members, worker):
        _, member_id = worker
        number = card_number()
        assert (await put(members, member_id, account(number=number))).status_code == 200
        body = {"member_ids": [member_id, "mbr_unknown"]}
        assert (await members.post(LOOKUP, json=body, headers=ADMIN)).status_code == 200
        params = {"entity": "payout_account_lookup"}
        response = await members.get("/api/v1/audit-events", params=params, headers=AUDITOR)
        [event] = response.json()["items"]
        assert event["action"] == "payout_account.lookup" and event["role"] == "admin"
        assert event["after"] == {
            "requested": 2,
            "count": 1,
            "missing": 1,
            "member_ids": [member_id],
        }
        assert number not in response.text

    async def test_5000_members_in_one_call(self, members, worker):
        _, member_id = worker
        assert (await put(members, member_id, account())).status_code == 200
        asked = [member_id] + [f"mbr_{i:05d}" for i in range(4_999)]
        response = await members.post(LOOKUP, json={"member_ids": asked}, headers=FINANCE)
        assert response.status_code == 200, response.text
        found = response.json()
        assert [a["member_id"] for a in found["accounts"]] == [member_id]
        assert found["missing"] == asked[1:]

    async def test_5001_members_are_refused(self, members):
        asked = [f"mbr_{i:05d}" for i in range(5_001)]
        response = await members.post(LOOKUP, json={"member_ids": asked}, headers=FINANCE)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["member_ids"]

    async def test_a_member_named_twice_is_refused(self, members):
        body = {"member_ids": ["mbr_a", "mbr_b", "mbr_a"]}
        response = await members.post(LOOKUP, json=body, headers=FINANCE)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["errors"][0]["loc"] == ["member_ids"]
        assert "mbr_a" in problem["detail"]

    async def test_only_finance_and_admin_may_look_up(self, members, worker):
        unit, member_id = worker
        assert (await put(members, member_id, account())).status_code == 200
        body = {"member_ids": [member_id]}
        for headers in (
            bearer("hr", unit_id=unit),
            bearer("member", member_id=member_id),
            REVIEWER,
            AUDITOR,
        ):
            response = await members.post(LOOKUP, json=body, headers=headers)
            assert response.status_code == 403, response.text
