"""Chinese identity numbers: 居民身份证号 (GB 11643) and 统一社会信用代码 (GB 32100), checked with
python-stdnum; sex and birth date are read from the identity number, never typed in."""

import re
from datetime import date

from stdnum.cn import ric, uscc

from services.kit.uploads import lost_digits

COMPACT_NATIONAL_ID = re.compile(r"[0-9]{17}[0-9X]")
"""The shape of a stored identity number (a valid one also has the right check digit)."""
NATIONAL_ID_PATTERN = r"^[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]$"
"""What the OpenAPI documents ask for: region, a birth date of 1800-2099, order, check digit."""
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"
"""GB 32100: registration authority and kind (digits or letters), the region's six digits,
the organisation code and the check character, from 0-9 and the letters but I, O, S, V, Z."""
_USCC = re.compile(USCC_PATTERN)


def validate_national_id(value: str) -> str:
    """Return the compact, upper-case number or raise ValueError saying what is wrong.

    Format, birth date and the GB 11643 check digit are verified. The region code is not
    checked against the birth date (stdnum's `validate` does): it records where the number was
    issued, and districts created after a worker's birth issue valid numbers all the same."""
    if lost_digits(value):
        raise ValueError(
            f"{value.strip()} is a number, not the digits (a spreadsheet keeps 15 significant "
            "digits of a number): format the column as text and enter the number again"
        )
    number = compact_national_id(value)
    if len(number) != 18:
        raise ValueError("the resident identity number must have 18 characters")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError("not a valid resident identity number: 17 digits and a digit or X")
    try:
        birth_date_of(number)
    except ValueError:
        raise ValueError("not a valid resident identity number: no such birth date") from None
    if ric.calc_check_digit(number) != number[17]:
        raise ValueError("not a valid resident identity number: wrong check digit")
    return number


def compact_national_id(value: str) -> str:
    """The form numbers are stored and matched in: separators cleaned, upper case. Bulk imports
    handle 100,000 numbers per request: one already compact skips stdnum's slower cleaning."""
    value = value.strip()
    return value if COMPACT_NATIONAL_ID.fullmatch(value) else ric.compact(value).upper()


def sex_of(national_id: str) -> str:
    return "M" if int(national_id[16]) % 2 == 1 else "F"


def birth_date_of(national_id: str) -> date:
    """The birth date of a compact number (stdnum's get_birth_date without its cleaning)."""
    return date(int(national_id[6:10]), int(national_id[10:12]), int(national_id[12:14]))


def mask_national_id(national_id: str) -> str:
    """150102********1234: region code and the last four, as the scheme's papers show it."""
    return f"{national_id[:6]}{'*' * 8}{national_id[-4:]}"


def mask_account_number(number: str) -> str:
    """622202*********1234: the bank's six-digit prefix and the last four, a star for each
    digit between (a card of 16 to 19 digits); a shorter number shows its last four only."""
    if len(number) <= 10:
        return f"{'*' * max(len(number) - 4, 0)}{number[-4:]}"
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def validate_credit_code(value: str) -> str:
    """The compact, upper-case code, or ValueError. stdnum's `validate` wants digits in the
    first two places, where GB 32100 also has letters (N: agriculture, Y: other authorities):
    the shape is checked here, the check character with stdnum."""
    code = uscc.compact(value)
    if len(code) != 18:
        raise ValueError("not a valid unified social credit code: it must have 18 characters")
    if not _USCC.fullmatch(code):
        raise ValueError(
            "not a valid unified social credit code: two digits or letters, six digits, then "
            "ten digits or letters (not I, O, S, V or Z)"
        )
    if uscc.calc_check_digit(code) != code[-1]:
        raise ValueError("not a valid unified social credit code: wrong check character")
    return code


def age_on(birth_date: date, on: date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
