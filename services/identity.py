"""Chinese identity numbers: 居民身份证号 (GB 11643) and 统一社会信用代码 (GB 32100), checked with
python-stdnum; sex and birth date are read from the identity number, never typed in."""

from datetime import date

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError


def validate_national_id(value: str) -> str:
    """Return the compact, upper-case number or raise ValueError saying what is wrong.

    Format, birth date and the GB 11643 check digit are verified. The region code is not
    checked against the birth date (stdnum's `validate` does): it records where the number was
    issued, and districts created after a worker's birth issue valid numbers all the same."""
    number = ric.compact(value).upper()
    if len(number) != 18:
        raise ValueError("the resident identity number must have 18 characters")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError("not a valid resident identity number: 17 digits and a digit or X")
    try:
        ric.get_birth_date(number)
    except ValidationError:
        raise ValueError("not a valid resident identity number: no such birth date") from None
    if ric.calc_check_digit(number) != number[17]:
        raise ValueError("not a valid resident identity number: wrong check digit")
    return number


def sex_of(national_id: str) -> str:
    return "M" if int(national_id[16]) % 2 == 1 else "F"


def birth_date_of(national_id: str) -> date:
    return ric.get_birth_date(national_id)


def mask_national_id(national_id: str) -> str:
    """150102********1234: region code and the last four, as the scheme's papers show it."""
    return f"{national_id[:6]}{'*' * 8}{national_id[-4:]}"


def validate_credit_code(value: str) -> str:
    try:
        return uscc.validate(value).upper()
    except ValidationError as exc:
        raise ValueError(f"not a valid unified social credit code: {exc.message}") from None


def age_on(birth_date: date, on: date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
