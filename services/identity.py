"""Chinese identity numbers: 居民身份证号 (GB 11643) and 统一社会信用代码 (GB 32100), checked with
python-stdnum; sex and birth date are read from the identity number, never typed in."""

from datetime import date

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError


def validate_national_id(value: str) -> str:
    """Return the compact, upper-case number or raise ValueError saying what is wrong."""
    try:
        number = ric.validate(value)
    except ValidationError as exc:
        raise ValueError(f"not a valid resident identity number: {exc.message}") from None
    if len(number) != 18:
        raise ValueError("the resident identity number must have 18 characters")
    return number.upper()


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
