"""Settlement files as insurers' systems write them (GB18030, tabs, XLSX, English headers), the
limits that refuse a file before any work, the results as a sheet, the registry down midway,
and the claims report by source."""

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from claims_api.members_client import MembersClient
from claims_api.settlement.parsing import MONEY_FIELDS
from tests.claims.support_claims import (
    CLAIMS,
    Enrolled,
    approve,
    day,
    file_claim,
    hospital_stay,
    listed,
    new_plan,
    new_unit,
    pay,
    problem,
    set_account,
)
from tests.claims.support_settlement import (
    imported,
    outcomes,
    person,
    send,
    settlement_csv,
    settlement_xlsx,
    settlement_xlsx_cells,
    stay,
)
from tests.support import ADMIN
from tests.xlsx_cells import NumberCell


@pytest.fixture
async def insured(api) -> AsyncIterator[tuple[str, object]]:
    unit, plan = await new_unit(api), await new_plan(api)
    yield plan, await person(api, unit, plan)


class TestFileFormats:
    async def test_gb18030_with_tabs(self, api, insured):
        plan, worker = insured
        content = settlement_csv([stay(worker, day(3, 1))], encoding="gb18030", delimiter="\t")
        response = await send(api, plan, content)
        assert response.status_code == 200, response.text
        assert response.json()["encoding"] == "gb18030"
        assert outcomes(response.json()) == [(2, "filed")]

    async def test_utf8_with_bom_and_english_headers(self, api, insured):
        plan, worker = insured
        content = settlement_csv([stay(worker, day(3, 1))], encoding="utf-8-sig", chinese=False)
        response = await send(api, plan, content)
        assert response.status_code == 200, response.text
        assert outcomes(response.json()) == [(2, "filed")]

    async def test_xlsx_with_date_and_number_cells(self, api, insured):
        plan, worker = insured
        row = stay(worker, day(3, 1), diagnoses="K35.8、K37")
        response = await send(api, plan, settlement_xlsx([row]), filename="结算数据.xlsx")
        assert response.status_code == 200, response.text
        [result] = response.json()["results"]
        assert (result["outcome"], result["payable"]) == ("filed", "4000.00")
        claim = (await api.get(f"{CLAIMS}/{result['claim_id']}", headers=ADMIN)).json()
        assert claim["facts"]["diagnosis_codes"] == ["K35.8", "K37"]
        assert claim["facts"]["admitted_on"] == str(day(3, 1))

    async def test_dates_as_insurers_write_them(self, api, insured):
        plan, worker = insured
        on = day(3, 1)
        rows = [
            {**stay(worker, on), "admitted_on": f"{on:%Y/%m/%d}", "discharged_on": f"{on:%Y%m%d}"}
        ]
        answer = await imported(api, plan, rows)
        assert outcomes(answer) == [(2, "filed")]


async def _imported_cells(api, plan: str, rows: list[dict]) -> dict:
    """The answer to these rows sent as a workbook written cell by cell (200 expected)."""
    response = await send(api, plan, settlement_xlsx_cells(rows), filename="结算数据.xlsx")
    assert response.status_code == 200, response.text
    return response.json()


def _number_cells(row: dict, *amounts: str) -> dict:
    """The row with its four amounts (MONEY_FIELDS) as number cells holding these numbers."""
    return {**row, **dict(zip(MONEY_FIELDS, map(NumberCell, amounts), strict=True))}


class TestNumberCells:
    """Identifiers and amounts typed into number cells: a number keeps 15 significant digits
    in Excel, so an 18-digit identity number or a long settlement number has lost its last
    ones; what cannot be the exact identifier is the row's error, never a wrong number."""

    async def test_identifiers_that_are_not_exact_numbers_are_row_errors_saying_so(
        self, api, insured
    ):
        plan, worker = insured
        digits = worker.national_id
        as_excel_keeps_it = NumberCell(f"{digits[0]}.{digits[1:15]}E+17")
        rows = [
            stay(worker, day(3, 1), national_id=as_excel_keeps_it),
            stay(worker, day(4, 1), number=NumberCell("1.23456789012345E+17")),
            stay(worker, day(5, 1), number=NumberCell("123.5")),
            stay(worker, day(6, 1), number=NumberCell("9876543210.5")),
        ]
        answer = await _imported_cells(api, plan, rows)
        assert outcomes(answer) == [(2, "error"), (3, "error"), (4, "error"), (5, "error")]
        for result, column in zip(answer["results"], ["身份证号"] + ["结算单号"] * 3, strict=True):
            [error] = result["errors"]
            assert error["msg"].startswith(f"{column}: ")
            assert "format the column as text" in error["msg"]
        assert await listed(api, CLAIMS, plan_code=plan) == []

    async def test_a_csv_saved_from_number_cells_is_refused_alike(self, api, insured):
        plan, worker = insured
        rows = [stay(worker, day(3, 1), national_id="1.10101E+17", number="1.23457E+17")]
        [result] = (await imported(api, plan, rows))["results"]
        assert result["outcome"] == "error"
        assert [error["loc"] for error in result["errors"]] == [
            ["national_id"],
            ["settlement_number"],
        ]
        assert all("format the column as text" in error["msg"] for error in result["errors"])

    async def test_whole_numbers_are_their_digits(self, api, insured):
        plan, worker = insured
        rows = [
            stay(worker, day(3, 1), number=NumberCell("123456")),
            stay(worker, day(4, 1), number=NumberCell("654321.0")),
            stay(worker, day(5, 1), number=NumberCell("1.23456789012345E+14")),
        ]
        answer = await _imported_cells(api, plan, rows)
        assert outcomes(answer) == [(2, "filed"), (3, "filed"), (4, "filed")]
        numbers = [result["settlement_number"] for result in answer["results"]]
        assert numbers == ["123456", "654321", "123456789012345"]

    async def test_amounts_are_read_to_the_fen_without_float_artefacts(self, api, insured):
        plan, worker = insured
        # a total summed by a formula: Excel keeps the float's 17 digits in the file
        summed = _number_cells(
            stay(worker, day(3, 1)), "18000.600000000002", "10000.1", "7500.200000000001", "500.3"
        )
        fractions_of_a_fen = _number_cells(
            stay(worker, day(5, 1)), "18000.123", "10000", "7500", "500.123"
        )
        rows = [summed, fractions_of_a_fen]
        filed, refused = (await _imported_cells(api, plan, rows))["results"]
        assert filed["outcome"] == "filed", filed
        claim = (await api.get(f"{CLAIMS}/{filed['claim_id']}", headers=ADMIN)).json()
        assert [claim["facts"][name] for name in MONEY_FIELDS] == [
            "18000.60",
            "10000.10",
            "7500.20",
            "500.30",
        ]
        assert refused["outcome"] == "error"
        assert {error["loc"][0] for error in refused["errors"]} == {"total_cost", "self_pay"}
        assert all("two decimal places" in error["msg"] for error in refused["errors"])

    async def test_a_negative_zero_amount_is_refused_as_negative(self, api, insured):
        plan, worker = insured
        row = _number_cells(stay(worker, day(3, 1)), "17500", "10000", "7500", "-0.0")
        [result] = (await _imported_cells(api, plan, [row]))["results"]
        assert result["errors"] == [{"loc": ["self_pay"], "msg": "自费: must not be negative"}]


class TestRefusedBeforeAnyWork:
    async def test_a_missing_column_is_422_naming_it(self, api, insured):
        plan, _ = insured
        response = await send(api, plan, "身份证号,姓名\n".encode())
        body = problem(response, 422)
        assert "结算单号" in body["detail"]

    async def test_rows_past_the_limit_are_413_too_many_rows(self, api, insured):
        plan, worker = insured
        head = settlement_csv([stay(worker, day(3, 1))])
        response = await send(api, plan, head + b"\r\n" * 200_000)
        problem(response, 413, "too_many_rows")
        assert await listed(api, CLAIMS, plan_code=plan) == []

    async def test_an_old_excel_file_is_415(self, api, insured):
        plan, _ = insured
        response = await send(api, plan, b"\xd0\xcf\x11\xe0" + b"\0" * 100, filename="a.xls")
        problem(response, 415)

    async def test_a_body_over_the_upload_limit_is_413(self, claims_app: FastAPI, insured):
        plan, _ = insured
        transport = httpx.ASGITransport(app=claims_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
            headers = {
                **ADMIN,
                "Content-Type": "multipart/form-data; boundary=b",
                "Content-Length": str(300 * 1024 * 1024),
            }
            response = await client.post(
                "/api/v1/claims/import", content=b"--b--\r\n", headers=headers
            )
        assert response.status_code == 413, response.text


class TestResultsAsASheet:
    async def test_csv_with_bom_and_chinese_headers(self, api, insured):
        plan, worker = insured
        content = settlement_csv([stay(worker, day(3, 1)), stay(worker, day(4, 1), name="李四")])
        response = await send(api, plan, content, params={"format": "csv"})
        assert response.status_code == 200, response.text
        assert response.content.startswith("\ufeff".encode())
        lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert lines[0][:3] == ["行号", "结算单号", "结果"]
        assert [line[2] for line in lines[1:]] == ["已立案", "姓名不符"]
        assert lines[1][6] == "4000.00"

    async def test_xlsx(self, api, insured):
        plan, worker = insured
        content = settlement_csv([stay(worker, day(3, 1))])
        response = await send(api, plan, content, params={"format": "xlsx"}, dry_run=True)
        assert response.status_code == 200, response.text
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "行号"
        assert rows[1][2] == "已立案" and rows[1][6] == 4000


class _RegistryGoesDown(httpx.AsyncBaseTransport):
    """The registry app itself, until its first look-up of people has been answered (the
    plan's, with no items, is the call before it): then it is gone (the connection refused),
    as a registry that stops between two chunks."""

    def __init__(self, members_app: FastAPI) -> None:
        self.registry = httpx.ASGITransport(app=members_app)
        self.lookups = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/coverage/lookup":
            self.lookups += 1
            if self.lookups > 2:
                raise httpx.ConnectError("connection refused", request=request)
        return await self.registry.handle_async_request(request)


async def test_the_registry_down_midway_is_503_and_nothing_is_stored(
    api, claims_app: FastAPI, members_app: FastAPI
):
    unit, plan = await new_unit(api), await new_plan(api)
    workers = [await person(api, unit, plan) for _ in range(3)]
    content = settlement_csv([stay(worker, day(3, 1)) for worker in workers])
    transport = _RegistryGoesDown(members_app)
    settings = claims_app.state.settings
    kept_client, kept_chunk = claims_app.state.members_client, settings.settlement_lookup_chunk
    claims_app.state.members_client = MembersClient(
        httpx.AsyncClient(transport=transport, base_url="http://members")
    )
    settings.settlement_lookup_chunk = 2  # two calls for three people
    try:
        response = await send(api, plan, content, headers={**ADMIN, "Idempotency-Key": "k-503"})
    finally:
        await claims_app.state.members_client.close()
        claims_app.state.members_client, settings.settlement_lookup_chunk = kept_client, kept_chunk
    problem(response, 503)
    assert transport.lookups == 3
    assert await listed(api, CLAIMS, plan_code=plan) == []
    # the key was never claimed: sent again with the registry up, the file is worked on
    again = await send(api, plan, content, headers={**ADMIN, "Idempotency-Key": "k-503"})
    assert again.status_code == 200, again.text
    assert again.json()["totals"]["filed"] == 3


async def test_the_claims_report_reads_claims_by_source(api):
    unit = await new_unit(api)
    plan = await new_plan(api, auto_approve_limit="5000")
    settled = await person(api, unit, plan)
    filer = await person(api, unit, plan)
    for who in (settled, filer):
        await set_account(api, who.member_id, who.name)
    answer = await imported(api, plan, [stay(settled, day(3, 1))])
    from_file = answer["results"][0]["claim_id"]
    enrolled = Enrolled(unit, filer.member_id, plan, "", 1)
    filed = await file_claim(api, enrolled, hospital_stay(day(3, 1), out_of_pocket="3000.00"))
    if filed["status"] != "approved":
        await approve(api, filed["id"])
    paid = await pay(api, [from_file, filed["id"]])
    assert paid.status_code == 201, paid.text

    async def report(**params: str) -> dict:
        response = await api.get(
            "/api/v1/reports/claims", params={"plan_code": plan, **params}, headers=ADMIN
        )
        assert response.status_code == 200, response.text
        return response.json()

    everything = await report()
    by_file, by_people = await report(source="settlement"), await report(source="filed")
    assert (everything["claims"], by_file["claims"], by_people["claims"]) == (2, 1, 1)
    assert by_file["total_paid"] == "4000.00"
    assert by_people["total_paid"] == "1500.00"
    assert by_file["source"] == "settlement"
