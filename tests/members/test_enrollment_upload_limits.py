"""POST /api/v1/enrollments/import measures an uploaded list before trusting it: zip bombs,
endless cells, blank rows by the million, DTDs, all refused with a problem naming the limit,
in bounded memory and before the request takes any database lock."""

import asyncio
import io
import itertools
import sqlite3
import struct
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from fastapi import FastAPI

from members_api.enrollments.upload_limits import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_INFLATED_BYTES,
    MAX_LINE_CHARS,
    MAX_LINES,
    MAX_ZIP_PARTS,
    measure_workbook,
)
from members_api.models import Enrollment, Unit
from tests.members.bulk_support import (
    XLSX_TYPE,
    bulk_national_ids,
    by_row,
    csv_bytes,
    import_file,
    open_plan,
)
from tests.support import new_plan, new_unit

CHINESE = ["身份证号", "姓名", "手机号", "份数"]
SHEET = "xl/worksheets/sheet1.xml"
MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MIB = 1 << 20


def _header_row() -> bytes:
    cells = b"".join(
        b'<c r="%s1" t="inlineStr"><is><t>%s</t></is></c>' % (column, name.encode())
        for column, name in zip((b"A", b"B", b"C", b"D"), CHINESE, strict=True)
    )
    return b'<row r="1">' + cells + b"</row>"


def sheet_xml(rows: Iterable[bytes], prolog: bytes = b"") -> Iterator[bytes]:
    """A worksheet's XML in pieces: the Chinese header row, then `rows` as they are."""
    yield b'<?xml version="1.0" encoding="UTF-8"?>' + prolog
    yield b'<worksheet xmlns="' + MAIN + b'"><sheetData>' + _header_row()
    yield from rows
    yield b"</sheetData></worksheet>"


def workbook(
    sheet: Iterable[bytes],
    sheet_name: str = SHEET,
    extra: dict[str, bytes] | None = None,
    compresslevel: int = 9,
) -> bytes:
    """A real workbook (openpyxl's parts) whose first sheet is `sheet`, streamed into the zip
    at deflate level 9: a gigabyte of repeated bytes makes a zip of about a megabyte. With
    `sheet_name`, the sheet is that part, and the workbook's relationships and content types
    name it there (openpyxl follows them); `extra` parts are added as they are."""
    from openpyxl import Workbook

    buffer = io.BytesIO()
    Workbook().save(buffer)
    base = zipfile.ZipFile(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for part in base.infolist():
            if part.filename != SHEET:
                content = base.read(part).replace(SHEET.encode(), sheet_name.encode())
                archive.writestr(part.filename, content)
                continue
            with archive.open(sheet_name, "w", force_zip64=True) as stream:
                for piece in sheet:
                    stream.write(piece)
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


def list_rows(count: int) -> Iterator[bytes]:
    """`count` rows of valid workers, in the XML openpyxl writes (inline strings)."""
    for line, number in enumerate(bulk_national_ids(count), start=2):
        yield (
            b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c>'
            b'<c r="B%d" t="inlineStr"><is><t>\xe8\x81\x8c\xe5\xb7\xa5%d</t></is></c>'
            b'<c r="C%d" t="inlineStr"><is><t>139%08d</t></is></c>'
            b'<c r="D%d" t="n"><v>1</v></c></row>'
        ) % (line, line, number.encode(), line, line, line, line, line)


def one_cell(text_pieces: Iterable[bytes]) -> Iterator[bytes]:
    yield b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
    yield from text_pieces
    yield b"</t></is></c></row>"


def repeated(piece: bytes, size: int) -> Iterator[bytes]:
    """`size` bytes of `piece` over and over, a mebibyte at a time."""
    for _ in range(size // MIB):
        yield piece * (MIB // len(piece))


@pytest.fixture(scope="module")
def cell_bomb() -> bytes:
    """One cell of 1.2 GB in a zip of about 1.2 MB (the trial's bomb)."""
    return workbook(sheet_xml(one_cell(repeated(b"A", 1200 * MIB))))


@pytest.fixture
async def target(members) -> str:
    await new_plan(members, "MED-2026", **open_plan())
    return await new_unit(members, "上海第一机床厂")


async def upload(members, unit: str, content: bytes, filename: str = "list.xlsx") -> dict:
    media = XLSX_TYPE if filename.endswith(".xlsx") else "text/csv"
    response = await import_file(members, unit, "MED-2026", content, filename, media)
    assert response.headers["content-type"] == "application/problem+json", response.text[:500]
    return {"status": response.status_code, **response.json()}


def _reset_peak_memory() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def _memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


@asynccontextmanager
async def peak_memory_growth() -> AsyncIterator[list[int]]:
    """The growth of this process's peak resident size (KiB) over the block: the peak is
    reset first (Linux: clear_refs 5), so earlier tests' peaks do not hide it."""
    _reset_peak_memory()
    before = _memory_kib("VmRSS")
    growth: list[int] = []
    yield growth
    growth.append(_memory_kib("VmHWM") - before)


async def enrolments(members_app: FastAPI) -> int:
    from sqlalchemy import func, select

    async with members_app.state.database.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Enrollment))


class TestBombs:
    async def test_a_cell_inflating_to_a_gigabyte_is_413_in_bounded_memory(
        self, members, members_app, target, cell_bomb
    ):
        assert len(cell_bomb) < 2 * MIB
        async with peak_memory_growth() as growth:
            problem = await upload(members, target, cell_bomb)
        assert (problem["status"], problem["code"]) == (413, "inflated_too_large")
        assert str(MAX_INFLATED_BYTES) in problem["detail"]
        assert problem["errors"][0]["loc"] == ["file"]
        assert growth[0] < 200 * 1024, f"peak grew by {growth[0]} KiB"
        assert await enrolments(members_app) == 0

    async def test_a_part_inflating_a_hundred_times_is_413_as_it_inflates(self, members, target):
        # 48 MiB of rows, each within the column limit, few enough for the row limit, under
        # the inflated limit: only inflating it can tell
        row = b"<row>" + b"<c><v>1</v></c>" * (MAX_COLUMNS - 1) + b"</row>"
        assert 48 * MIB < MAX_INFLATED_BYTES and 48 * MIB // len(row) < MAX_LINES
        content = workbook(sheet_xml(repeated(row, 48 * MIB)))
        async with peak_memory_growth() as growth:
            problem = await upload(members, target, content)
        assert (problem["status"], problem["code"]) == (413, "compression_ratio")
        assert SHEET in problem["detail"]
        assert growth[0] < 200 * 1024, f"peak grew by {growth[0]} KiB"

    async def test_a_cell_over_the_cell_limit_is_422(self, members, target):
        content = workbook(sheet_xml(one_cell([b"A" * (MAX_CELL_CHARS + 1)])))
        problem = await upload(members, target, content)
        assert (problem["status"], problem["code"]) == (422, "cell_too_long")
        assert str(MAX_CELL_CHARS) in problem["detail"]

    async def test_rich_text_runs_count_together_toward_the_cell_limit(self, members, target):
        run = b"<r><t>" + b"B" * 1000 + b"</t></r>"
        cell = b'<row r="2"><c r="B2" t="inlineStr"><is>' + run * 132 + b"</is></c></row>"
        problem = await upload(members, target, workbook(sheet_xml([cell])))
        assert (problem["status"], problem["code"]) == (422, "cell_too_long")

    async def test_blank_rows_count_toward_the_row_limit(self, members, members_app, target):
        blank = (b'<row r="%d"/>' % line for line in range(2, MAX_LINES + 3))
        problem = await upload(members, target, workbook(sheet_xml(blank)))
        assert (problem["status"], problem["code"]) == (413, "too_many_rows")
        assert str(MAX_LINES) in problem["detail"]
        assert await enrolments(members_app) == 0

    async def test_the_rows_past_the_limit_are_not_read(self, members, target):
        # a cell too long after the row limit: the rows are counted as the sheet inflates
        # and the refusal comes at the first row too many, before the rest is read
        rows = list_rows(MAX_LINES + 1)  # as openpyxl writes them: 10 times compressed
        long_cell = one_cell([b"A" * (MAX_CELL_CHARS + 1)])
        content = workbook(sheet_xml(itertools.chain(rows, long_cell)), compresslevel=1)
        problem = await upload(members, target, content)
        assert (problem["status"], problem["code"]) == (413, "too_many_rows")
        assert problem["errors"][0]["loc"] == ["file"]

    async def test_a_row_numbered_past_the_limit_is_413(self, members, target):
        # openpyxl hands out every missing row in between as an empty one
        far = b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>'
        problem = await upload(members, target, workbook(sheet_xml([far])))
        assert (problem["status"], problem["code"]) == (413, "too_many_rows")

    async def test_a_row_of_too_many_cells_is_422(self, members, target):
        wide = b'<row r="2">' + b"<c><v>1</v></c>" * (MAX_COLUMNS + 1) + b"</row>"
        problem = await upload(members, target, workbook(sheet_xml([wide])))
        assert (problem["status"], problem["code"]) == (422, "too_many_columns")

    async def test_a_cell_in_the_last_column_is_422(self, members, target):
        # one cell, but openpyxl would fill the 16,383 before it in every row
        far = b'<row r="2"><c r="XFD2"><v>1</v></c></row>'
        problem = await upload(members, target, workbook(sheet_xml([far])))
        assert (problem["status"], problem["code"]) == (422, "too_many_columns")
        assert "line 2" in problem["detail"]


class TestEveryPart:
    """openpyxl finds the sheet through the workbook's relationships, whatever the part's
    name: a sheet named sheet1.bin is measured like sheet1.xml."""

    RENAMED = "xl/worksheets/sheet1.bin"

    async def test_a_renamed_sheet_is_what_openpyxl_reads(self, members, target):
        content = workbook(sheet_xml(list_rows(2)), self.RENAMED)
        response = await import_file(members, target, "MED-2026", content, "l.xlsx", XLSX_TYPE)
        assert response.status_code == 200, response.text
        results = by_row(response.json())
        assert [results[2]["status"], results[3]["status"]] == ["ok", "ok"]

    async def test_a_cell_over_the_limit_in_a_renamed_sheet_is_422(
        self, members, members_app, target
    ):
        content = workbook(sheet_xml(one_cell([b"A" * (MAX_CELL_CHARS + 1)])), self.RENAMED)
        problem = await upload(members, target, content)
        assert (problem["status"], problem["code"]) == (422, "cell_too_long")
        assert self.RENAMED in problem["detail"]
        assert await enrolments(members_app) == 0

    async def test_a_row_of_too_many_cells_in_a_renamed_sheet_is_422(self, members, target):
        wide = b'<row r="2">' + b"<c><v>1</v></c>" * (MAX_COLUMNS + 1) + b"</row>"
        problem = await upload(members, target, workbook(sheet_xml([wide]), self.RENAMED))
        assert (problem["status"], problem["code"]) == (422, "too_many_columns")

    async def test_a_dtd_in_a_renamed_sheet_is_refused(self, members, target):
        prolog = b'<!DOCTYPE worksheet [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        content = workbook(sheet_xml(one_cell([b"&secret;"]), prolog), self.RENAMED)
        problem = await upload(members, target, content)
        assert (problem["status"], problem["code"]) == (415, "xml_dtd_refused")

    async def test_pictures_and_printer_settings_are_still_taken(self, members, target):
        # binary parts Excel writes: they are not XML, and nothing reads them as XML
        binary = {
            "xl/media/image1.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
            "xl/printerSettings/printerSettings1.bin": "HP LaserJet".encode("utf-16-le") * 40,
        }
        content = workbook(sheet_xml(list_rows(1)), extra=binary)
        response = await import_file(members, target, "MED-2026", content, "l.xlsx", XLSX_TYPE)
        assert response.status_code == 200, response.text
        assert by_row(response.json())[2]["status"] == "ok"


def test_a_list_at_the_row_limit_as_openpyxl_writes_it_is_within_every_limit():
    # 200,000 rows of the template's four columns inflate to 48 MB; refusing them as
    # inflated_too_large would break the row limit the README promises for XLSX
    content = workbook(sheet_xml(list_rows(MAX_LINES)), compresslevel=1)
    measure_workbook(io.BytesIO(content))


def many_parts(count: int, declared: int | None = None, zip64: bool = False) -> bytes:
    """A zip whose central directory lists `count` empty parts (no part's data: zipfile reads
    the directory first), its end record declaring `declared` of them (`count` if None),
    in a Zip64 end record if `zip64` (the 16-bit counts of the plain one then say 0xFFFF)."""
    entry = struct.Struct("<4s4B4HL2L5H2L")
    names = (b"%x" % index for index in range(count))
    directory = b"".join(
        entry.pack(b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
        + name
        for name in names
    )
    head = b"PK\x03\x04" + bytes(26)  # what the upload is sniffed by
    declared = count if declared is None else declared
    end = b""
    if zip64:
        record = struct.pack(
            "<4sQ2H2L4Q",
            b"PK\x06\x06",
            44,
            45,
            45,
            0,
            0,
            declared,
            declared,
            len(directory),
            len(head),
        )
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(head) + len(directory), 1)
        end, declared = record + locator, 0xFFFF
    end += struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, declared, declared, len(directory), len(head), 0
    )
    return head + directory + end


class TestZipDirectory:
    """zipfile builds an entry for every part its central directory lists (600,000 parts:
    15 s and 160 MB); the end records are read first."""

    @pytest.mark.parametrize(
        ("declared", "zip64"), [(None, True), (1, False)], ids=["zip64-count", "count-lies"]
    )
    async def test_a_zip_of_600000_parts_is_413_in_bounded_memory(
        self, members, target, declared, zip64
    ):
        content = many_parts(600_000, declared, zip64)
        async with peak_memory_growth() as growth:
            problem = await upload(members, target, content)
        assert (problem["status"], problem["code"]) == (413, "too_many_zip_parts")
        assert problem["errors"][0]["loc"] == ["file"]
        assert growth[0] < 3 * len(content) // 1024, f"peak grew by {growth[0]} KiB"

    async def test_one_part_over_the_limit_is_413(self, members, target):
        problem = await upload(members, target, many_parts(MAX_ZIP_PARTS + 1))
        assert (problem["status"], problem["code"]) == (413, "too_many_zip_parts")
        assert str(MAX_ZIP_PARTS) in problem["detail"]


class TestEntities:
    async def test_billion_laughs_is_refused(self, members, members_app, target):
        laughs = [b'<!ENTITY lol0 "lol">']
        laughs += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
        prolog = b"<!DOCTYPE worksheet [" + b"".join(laughs) + b"]>"
        cell = one_cell([b"&lol9;"])
        problem = await upload(members, target, workbook(sheet_xml(cell, prolog)))
        assert (problem["status"], problem["code"]) == (415, "xml_dtd_refused")
        assert await enrolments(members_app) == 0

    async def test_an_external_entity_is_refused_and_never_read(self, members, target):
        prolog = b'<!DOCTYPE worksheet [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        cell = one_cell([b"&secret;"])
        response = await import_file(
            members, target, "MED-2026", workbook(sheet_xml(cell, prolog)), "list.xlsx", XLSX_TYPE
        )
        assert (response.status_code, response.json()["code"]) == (415, "xml_dtd_refused")
        assert "root:" not in response.text


class TestCsvLimits:
    async def test_a_cell_over_the_cell_limit_is_422_naming_the_line(self, members, target):
        content = csv_bytes(CHINESE, [["11010519491231002X", "A" * (MAX_CELL_CHARS + 1), "", 1]])
        problem = await upload(members, target, content, "list.csv")
        assert (problem["status"], problem["code"]) == (422, "cell_too_long")
        assert "line 2" in problem["detail"]

    async def test_blank_lines_count_toward_the_row_limit(self, members, target):
        content = csv_bytes(CHINESE, []) + b"\r\n" * (MAX_LINES + 1)
        problem = await upload(members, target, content, "list.csv")
        assert (problem["status"], problem["code"]) == (413, "too_many_rows")

    async def test_a_line_without_end_is_413_without_reading_it_whole(self, members, target):
        content = csv_bytes(CHINESE, []) + b"," * (8 * MAX_LINE_CHARS)
        async with peak_memory_growth() as growth:
            problem = await upload(members, target, content, "list.csv")
        assert (problem["status"], problem["code"]) == (413, "line_too_long")
        assert "line 2" in problem["detail"]
        assert growth[0] < 200 * 1024, f"peak grew by {growth[0]} KiB"

    async def test_a_line_of_too_many_cells_is_422(self, members, target):
        content = csv_bytes(CHINESE, [["x"] * (MAX_COLUMNS + 1)])
        problem = await upload(members, target, content, "list.csv")
        assert (problem["status"], problem["code"]) == (422, "too_many_columns")


# --- refused before the database is touched ---------------------------------------------------


@asynccontextmanager
async def registry_locked(members_app: FastAPI) -> AsyncIterator[None]:
    """Another client holds the registry's write lock (SQLite) or an exclusive lock on the
    units (Postgres) for the block."""
    database = members_app.state.database
    if database.is_sqlite:
        other = sqlite3.connect(database.engine.url.database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    other = await asyncpg.connect(url)
    try:
        async with other.transaction():
            await other.execute(f"LOCK TABLE {Unit.__tablename__} IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await other.close()


class TestBeforeTheLock:
    async def test_a_bomb_is_refused_while_another_client_holds_the_lock(
        self, members, members_app, target, cell_bomb
    ):
        async with registry_locked(members_app):
            # The guard only turns a request waiting for the lock (the old order) into a
            # failure instead of a hang; the refusal needs no database at all.
            problem = await asyncio.wait_for(upload(members, target, cell_bomb), 120)
        assert (problem["status"], problem["code"]) == (413, "inflated_too_large")

    async def test_the_file_is_measured_before_the_unit_is_looked_up(self, members, cell_bomb):
        problem = await upload(members, "unt_nosuchunit", cell_bomb)
        assert (problem["status"], problem["code"]) == (413, "inflated_too_large")
