"""What makes a payout account good, pure (the single PUT and the bulk enrolment share it):
the holder's name is the member's, the number a bank card's.

A card number is typed with spaces (as it is printed), sometimes in fullwidth digits: it is
NFKC-normalised and its spaces removed, then it must be 16 to 19 ASCII digits whose last is the
Luhn check digit (ISO/IEC 7812; python-stdnum). Names are compared NFKC-normalised and trimmed
(a fullwidth Ａ is an A), as the bank compares what it has on file."""

import re
import unicodedata

from stdnum import luhn

from services.kit.identity import mask_account_number  # noqa: F401  (shown masked: the kit's)

_SPACES = re.compile(r"\s+")
_CARD_NUMBER = re.compile(r"[0-9]{16,19}")
_DIGITS = re.compile(r"[0-9]+")
# A spreadsheet cell holding the card as a number: Excel keeps 15 significant digits, so the
# last ones are lost (openpyxl reads it as a float: 6.22202123456789e+18).
_AS_NUMBER = re.compile(r"[0-9](\.[0-9]+)?[eE]\+?[0-9]+")


class AccountProblem(ValueError):
    """What is wrong with one field of an account (`field`), in a sentence for a clerk."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.field, self.msg = field, msg


def normal_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


def account_number(value: str) -> str:
    """The compact card number, or AccountProblem naming account_number."""
    number = _SPACES.sub("", unicodedata.normalize("NFKC", value))
    if _AS_NUMBER.fullmatch(number):
        raise AccountProblem(
            "account_number",
            f"{value} is the card number stored as a number, which has lost its last digits: "
            "format the column as text and type the number again",
        )
    if not _DIGITS.fullmatch(number):
        raise AccountProblem("account_number", "a card number has digits only (and spaces)")
    if not _CARD_NUMBER.fullmatch(number):
        raise AccountProblem(
            "account_number", f"a card number has 16 to 19 digits; this one has {len(number)}"
        )
    if not luhn.is_valid(number):
        raise AccountProblem(
            "account_number",
            "the card number's last digit is not its check digit (Luhn): a digit is mistyped",
        )
    return number


def account_name(value: str, member_name: str) -> str:
    """The holder's name, NFKC-normalised and trimmed, if it is the member's."""
    name = normal_name(value)
    if name != normal_name(member_name):
        raise AccountProblem(
            "account_name",
            f"the account holder {name} is not the member {member_name}: the bank pays only to "
            "an account in the member's own name",
        )
    return name
