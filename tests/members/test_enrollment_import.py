"""POST /api/v1/enrollments/import and GET /api/v1/enrollments/import-template: enrolment
lists as CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX files."""

import io
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy import func, select

from members_api.models import Enrollment
from tests.databases import postgres_database
from tests.members.bulk_support import (
    XLSX_TYPE,
    bulk_national_ids,
    by_row,
    codes,
    csv_bytes,
    fields,
    import_file,
    open_plan,
    xlsx_bytes,
)
from tests.support import ADMIN, bearer, new_member, new_plan, new_unit
from tests.xlsx_cells import NumberCell, xlsx_cells

CHINESE = ["身份证号", "姓名", "手机号", "份数"]
TEMPLATE = [*CHINESE, "银行卡号", "开户行"]  # the card columns are optional


async def name_of(client, member_id):
    return (await client.get(f"/api/v1/members/{member_id}", headers=ADMIN)).json()["name"]


class TestCsv:
    @pytest.mark.parametrize(
        ("encoding", "bom"), [("utf-8", False), ("utf-8", True), ("gb18030", False)]
    )
    async def test_chinese_headers_and_names_round_trip(self, members, encoding, bom):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        numbers = bulk_national_ids(2)
        rows = [[numbers[0], "欧阳娜娜", "13800138000", 1], [numbers[1], "龙胜", "", 2]]
        content = csv_bytes(CHINESE, rows, encoding, bom)
        response = await import_file(members, unit, "MED-2026", content)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["totals"]["enrolled"] == 2
        first, second = answer["results"]
        assert (first["row"], second["row"]) == (2, 3)  # the header is line 1
        assert await name_of(members, first["member_id"]) == "欧阳娜娜"
        member = await members.get(f"/api/v1/members/{second['member_id']}", headers=ADMIN)
        assert (member.json()["name"], member.json()["phone"]) == ("龙胜", None)

    async def test_english_headers_any_case_and_order_extra_columns_ignored(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        header = [" Shares ", "NAME", "序号", "National_ID", "Phone"]
        rows = [[2, "王芳", "1", bulk_national_ids(1)[0], "13900000000"]]
        answer = (await import_file(members, unit, "MED-2026", csv_bytes(header, rows))).json()
        [result] = answer["results"]
        assert result["status"] == "ok"
        [enrolment] = (
            await members.get("/api/v1/enrollments?plan_code=MED-2026", headers=ADMIN)
        ).json()["items"]
        assert enrolment["shares"] == 2

    async def test_rows_are_numbered_by_the_files_lines_and_blank_lines_are_skipped(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        numbers = bulk_national_ids(2)
        rows = [
            [numbers[0], "王芳", "", 1],
            ["", "", "", ""],
            [numbers[1], "", "", 1],
            ["11010519491231002Y", "李娜", "", "many"],
        ]
        answer = (await import_file(members, unit, "MED-2026", csv_bytes(CHINESE, rows))).json()
        results = by_row(answer)
        assert sorted(results) == [2, 4, 5]
        assert results[2]["status"] == "ok"
        assert fields(results[4]) == ["name"]
        assert fields(results[5]) == ["national_id", "shares"]
        assert answer["totals"] == {**answer["totals"], "rows": 3, "ok": 1, "failed": 2}

    async def test_the_single_enrolment_rules_apply_to_every_line(self, members):
        unit = await new_unit(members)
        await new_plan(members, "WOMEN-2026", "fixed_benefit", **open_plan())
        man = bulk_national_ids(1, sex="M")[0]
        woman = bulk_national_ids(1, start=7)[0]
        rows = [[man, "张伟", "", 1], [woman, "李娜", "", 1], [woman, "李娜", "", 1]]
        answer = (await import_file(members, unit, "WOMEN-2026", csv_bytes(CHINESE, rows))).json()
        results = by_row(answer)
        assert codes(results[2]) == ["sex_not_eligible"]
        assert results[3]["status"] == "ok"
        assert codes(results[4]) == ["duplicate_national_id"] and "row 3" in str(results[4])


class TestXlsx:
    async def test_a_workbook_written_by_openpyxl_imports(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        numbers = bulk_national_ids(3)
        rows = [
            [numbers[0], "欧阳娜娜", 13800138000, 1],  # a phone typed as a number
            [numbers[1], "李娜", None, 2.0],  # shares as Excel stores numbers
            [None, None, None, None],
            [numbers[2], "王芳", "", 0],
        ]
        content = xlsx_bytes(CHINESE, rows)
        response = await import_file(members, unit, "MED-2026", content, "名单.xlsx", XLSX_TYPE)
        assert response.status_code == 200, response.text
        results = by_row(response.json())
        assert sorted(results) == [2, 3, 5]
        assert results[2]["status"] == results[3]["status"] == "ok"
        assert fields(results[5]) == ["shares"]
        member = (
            await members.get(f"/api/v1/members/{results[2]['member_id']}", headers=ADMIN)
        ).json()
        assert (member["name"], member["phone"]) == ("欧阳娜娜", "13800138000")

    async def test_an_identity_number_in_a_number_cell_is_refused_not_registered(self, members):
        """Typed into a number cell, an 18-digit number keeps 15 significant digits: its last
        three are gone. One in ten such numbers would still pass the check digit; none may be
        registered as someone else's number."""
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        kept, typed = bulk_national_ids(2)
        as_excel_keeps_it = NumberCell(f"{typed[0]}.{typed[1:15]}E+17")
        rows = [[kept, "李娜", "", "1"], [as_excel_keeps_it, "王芳", "", "1"]]
        content = xlsx_cells(CHINESE, rows)
        response = await import_file(members, unit, "MED-2026", content, "名单.xlsx", XLSX_TYPE)
        assert response.status_code == 200, response.text
        results = by_row(response.json())
        assert results[2]["status"] == "ok"
        assert fields(results[3]) == ["national_id"]
        assert "format the column as text" in str(results[3]["errors"])
        listed = await members.get("/api/v1/members", params={"unit_id": unit}, headers=ADMIN)
        assert [m["name"] for m in listed.json()["items"]] == ["李娜"]

    async def test_the_template_opens_and_imports_as_it_is(self, members):
        template = await members.get("/api/v1/enrollments/import-template", headers=ADMIN)
        assert template.status_code == 200
        assert template.headers["content-type"] == XLSX_TYPE
        assert "attachment" in template.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(template.content)).active
        assert [cell.value for cell in sheet[1]] == TEMPLATE
        example = [cell.value for cell in sheet[2]]
        assert example[4:] == [None, None] and sheet["E2"].number_format == "@"
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        response = await import_file(
            members, unit, "MED-2026", template.content, "template.xlsx", XLSX_TYPE
        )
        [result] = response.json()["results"]
        assert result["status"] == "ok" and result["row"] == 2
        member = await members.get(f"/api/v1/members/{result['member_id']}", headers=ADMIN)
        assert member.json()["national_id"] == example[0]

    async def test_the_csv_template_has_a_bom_and_the_same_columns(self, members):
        template = await members.get(
            "/api/v1/enrollments/import-template?format=csv", headers=bearer("hr", unit_id="unt_x")
        )
        assert template.status_code == 200
        assert template.content.startswith(b"\xef\xbb\xbf")
        header = template.content.decode("utf-8-sig").splitlines()[0]
        assert header.split(",") == TEMPLATE
        refused = await members.get(
            "/api/v1/enrollments/import-template", headers=bearer("member", member_id="mbr_x")
        )
        assert refused.status_code == 403


class TestRefusedFiles:
    async def test_a_missing_column_is_named(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        content = csv_bytes(["身份证号", "姓名"], [[bulk_national_ids(1)[0], "王芳"]])
        response = await import_file(members, unit, "MED-2026", content)
        assert response.status_code == 422
        assert "份数" in response.json()["detail"]

    async def test_a_broken_csv_line_is_422_naming_the_line(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        content = csv_bytes(CHINESE, [[bulk_national_ids(1)[0], "x" * 200_000, "", 1]])
        response = await import_file(members, unit, "MED-2026", content)
        assert response.status_code == 422
        assert "line 2" in response.json()["detail"]

    async def test_what_is_not_csv_or_xlsx_is_415(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        cases = [
            (b"%PDF-1.4 binary", "list.pdf", "application/pdf"),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old excel", "list.xls", "application/vnd.ms-excel"),
            (b"PK\x03\x04 not really a workbook", "list.xlsx", XLSX_TYPE),
            ("身份证号,姓名,份数\n".encode("utf-16"), "list.csv", "text/csv"),
        ]
        for content, filename, content_type in cases:
            response = await import_file(members, unit, "MED-2026", content, filename, content_type)
            assert response.status_code == 415, (filename, response.text)
            assert response.headers["content-type"] == "application/problem+json"

    async def test_nothing_is_enrolled_from_a_refused_file(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        await import_file(members, unit, "MED-2026", b"nonsense", "list.txt", "text/plain")
        listed = await members.get("/api/v1/enrollments", headers=ADMIN)
        assert listed.json()["items"] == []


class TestImportScopingAndRetries:
    async def test_hr_imports_for_its_own_unit_only(self, members):
        own, other = await new_unit(members, "Own"), await new_unit(members, "Other")
        await new_plan(members, "MED-2026", **open_plan())
        stranger = await new_member(members, other)
        number = (await members.get(f"/api/v1/members/{stranger}", headers=ADMIN)).json()[
            "national_id"
        ]
        hr = bearer("hr", unit_id=own)
        content = csv_bytes(
            CHINESE, [[number, "王芳", "", 1], [bulk_national_ids(1)[0], "李娜", "", 1]]
        )
        elsewhere = await import_file(members, other, "MED-2026", content, headers=hr)
        assert elsewhere.status_code == 404
        answer = (await import_file(members, own, "MED-2026", content, headers=hr)).json()
        results = by_row(answer)
        assert codes(results[2]) == ["member_in_other_unit"]
        assert results[3]["status"] == "ok"

    async def test_the_same_idempotency_key_replays_the_import(self, members):
        unit = await new_unit(members)
        await new_plan(members, "MED-2026", **open_plan())
        content = csv_bytes(CHINESE, [[bulk_national_ids(1)[0], "王芳", "", 1]])
        headers = {**ADMIN, "Idempotency-Key": "import-1"}
        first = await import_file(members, unit, "MED-2026", content, headers=headers)
        again = await import_file(members, unit, "MED-2026", content, headers=headers)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()
        changed = csv_bytes(CHINESE, [[bulk_national_ids(1)[0], "王芳", "", 2]])
        refused = await import_file(members, unit, "MED-2026", changed, headers=headers)
        assert refused.status_code == 422
        listed = await members.get("/api/v1/enrollments", headers=ADMIN)
        assert len(listed.json()["items"]) == 1


# --- one unit of 100,000 workers, in one request, on Postgres ---------------------------------


@pytest.fixture(scope="module")
async def postgres_registry() -> AsyncIterator[FastAPI]:
    """A registry of its own on Postgres (the `members` fixture runs on SQLite as well)."""
    from members_api.app import create_app
    from members_api.settings import MembersSettings

    url = await postgres_database("members", suffix="_bulk")
    app = create_app(MembersSettings(database_url=url, environment="test"))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_unit_of_100000_workers_imports_in_one_request(postgres_registry):
    transport = httpx.ASGITransport(app=postgres_registry)
    async with httpx.AsyncClient(transport=transport, base_url="http://m", timeout=120) as client:
        unit = await new_unit(client, "大型制造企业", insured_headcount=100_000)
        await new_plan(client, "BULK-2026", **open_plan())
        rows = [[n, f"职工{i}", "", 1] for i, n in enumerate(bulk_national_ids(100_000))]
        content = csv_bytes(CHINESE, rows)
        started = time.perf_counter()
        response = await import_file(client, unit, "BULK-2026", content)
        seconds = time.perf_counter() - started
        assert response.status_code == 200, response.text[:1000]
        totals = response.json()["totals"]
        assert totals == {
            "rows": 100_000,
            "ok": 100_000,
            "failed": 0,
            "created_members": 100_000,
            "enrolled": 100_000,
            "already_enrolled": 0,
        }
        report = await client.get("/api/v1/reports/enrollment?plan_code=BULK-2026", headers=ADMIN)
        assert (report.json()["person_times"], report.json()["members"]) == (100_000, 100_000)
    query = select(func.count()).select_from(Enrollment).where(Enrollment.plan_code == "BULK-2026")
    async with postgres_registry.state.database.sessions() as session:
        assert await session.scalar(query) == 100_000
    print(f"100,000 rows imported in {seconds:.1f} s ({100_000 / seconds:,.0f} rows/s)")
