"""Bank card numbers for tests: valid ones (Luhn check digit), a new one each call."""

import itertools

from stdnum import luhn

_serial = itertools.count(1)


def card_number(bank: str = "622202", length: int = 19) -> str:
    """A valid card number of `length` digits starting with the bank's six (ICBC's 622202)."""
    body = f"{bank}{next(_serial):0{length - len(bank) - 1}d}"
    return body + luhn.calc_check_digit(body)


def with_wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def masked(number: str) -> str:
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"
