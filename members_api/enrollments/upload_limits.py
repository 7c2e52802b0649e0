"""What an uploaded enrolment list may weigh, measured before it is trusted (services.kit.uploads
measures it: zip bombs, endless cells, a million blank rows, a million zip parts). All of this
runs before the request touches the database."""

from typing import IO

from members_api.bulk import MAX_ROWS
from services.kit import uploads
from services.kit.uploads import UploadLimits

# Lines after the header, blank ones included (a file of blank rows costs as much to read).
MAX_LINES = MAX_ROWS
# Characters of one cell: csv's own field size limit, which the CSV reader enforces.
MAX_CELL_CHARS = 131_072
# Cells of one row (the list needs 4; forms carry a few more, a serial number, a department).
MAX_COLUMNS = 1_000
# Characters of one CSV line (a quoted cell may span lines; each line is read up to this).
MAX_LINE_CHARS = 1 << 20
# An XLSX: its zip parts, and the bytes they inflate to, all parts together. openpyxl
# writes about 240 bytes a row of the four columns: 100,000 rows inflate to 24 MB, 200,000
# (MAX_LINES) to 48 MB, 100,000 with a serial number and a department to 33 MB; Excel and WPS
# write less (shared strings). A bomb is refused after inflating at most this much.
MAX_ZIP_PARTS = 100
MAX_INFLATED_BYTES = 64 << 20
# The central directory of MAX_ZIP_PARTS parts: an entry is 46 bytes, its name and extra
# fields (a part's name is under 100 characters in every workbook an office suite writes).
MAX_CENTRAL_DIRECTORY_BYTES = MAX_ZIP_PARTS * 1024
# A part inflating past RATIO_FLOOR bytes may not inflate more than this many times its
# compressed size (sheets written by Excel, WPS or openpyxl: 5 to 20 times).
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR = 1 << 20

LIMITS = UploadLimits(
    max_lines=MAX_LINES,
    max_cell_chars=MAX_CELL_CHARS,
    max_columns=MAX_COLUMNS,
    max_line_chars=MAX_LINE_CHARS,
    max_zip_parts=MAX_ZIP_PARTS,
    max_central_directory_bytes=MAX_CENTRAL_DIRECTORY_BYTES,
    max_inflated_bytes=MAX_INFLATED_BYTES,
    max_compression_ratio=MAX_COMPRESSION_RATIO,
    ratio_floor=RATIO_FLOOR,
)


def measure_workbook(file: IO[bytes]) -> None:
    """An enrolment list's workbook measured against these limits (services.kit.uploads)."""
    uploads.measure_workbook(file, LIMITS)
