"""Money and ratios: `Decimal` yuan to the fen, rounded half-up, strings in JSON.

Amounts are stored as whole fen (BIGINT) so sums in SQL are exact on every database,
SQLite included, whose NUMERIC would silently become a float.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema
from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

FEN = Decimal("0.01")
MAX_YUAN = Decimal("1000000000000")  # a trillion yuan: far above any real amount, far below BIGINT


def to_fen(amount: Decimal) -> Decimal:
    """Round to the fen, half-up: the one rounding rule of the scheme."""
    # The rounding passed positionally: the same result, a cheaper call than by keyword.
    return amount.quantize(FEN, ROUND_HALF_UP)


def format_money(amount: Decimal) -> str:
    """The amount to the fen, as text: "863.31"."""
    text = str(amount)
    if text[-3:-2] == ".":  # already to the fen ("d.dd"): rounding would change nothing
        return text
    return str(amount.quantize(FEN, ROUND_HALF_UP))  # to_fen(amount)


def _parse_decimal(value: Any) -> Any:
    if isinstance(value, float):
        # A JSON number arrives as float only when it is not representable; go through its text.
        value = repr(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a decimal number") from None
    return value


def _parse_money(value: Any) -> Any:
    """As _parse_decimal; a zero with a minus sign ("-0.00", -0.0) is refused as a negative
    amount is (Decimal's -0 is not below zero), but only as it was written: a Decimal the
    system computed (0 times -1) is zero, kept without its sign so that it is never written
    as "-0.00", which this would refuse when read back."""
    parsed = _parse_decimal(value)
    if isinstance(parsed, Decimal) and parsed.is_zero() and parsed.is_signed():
        if not isinstance(value, Decimal):
            raise ValueError("must not be negative")
        return parsed.copy_abs()
    return parsed


def _parse_signed_money(value: Any) -> Any:
    """As _parse_decimal, a zero's sign dropped (an amount that may be negative: -0 is 0)."""
    parsed = _parse_decimal(value)
    if isinstance(parsed, Decimal) and parsed.is_zero():
        return parsed.copy_abs()
    return parsed


def _check_money(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    if value < 0:
        raise ValueError("must not be negative")
    # Before rounding: an amount with more digits than the decimal context holds cannot be
    # rounded to the fen at all (decimal.InvalidOperation).
    if value >= MAX_YUAN:
        raise ValueError("is implausibly large")
    fen = value.quantize(FEN, ROUND_HALF_UP)  # to_fen(value)
    if value != fen:
        raise ValueError("must have at most two decimal places (fen)")
    return fen


def _check_ratio(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0 or value > 1:
        raise ValueError("must be a ratio between 0 and 1")
    if value.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError("has more than six decimal places")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_parse_money),
    AfterValidator(_check_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    # below MAX_YUAN: at most 12 digits before the point
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,12}\.\d{2}$", "examples": ["863.31"]}),
]
"""A non-negative amount in yuan, at most two decimal places; `"863.31"` in JSON."""

SignedMoney = Annotated[
    Decimal,
    BeforeValidator(_parse_signed_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["-863.31"]}),
]
"""An amount that may be negative (ledger reversals); only ever produced by the system."""

MoneySum = Annotated[
    Decimal,
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "examples": ["86331.00"]}),
]
"""A sum the system adds up (a report's totals, a unit's credit): each term is Money, the sum
may pass MAX_YUAN, and an answer must not fail because finance mistyped two amounts."""

Ratio = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    AfterValidator(_check_ratio),
    PlainSerializer(lambda r: format(r.normalize(), "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^(0(\.\d{1,6})?|1(\.0{1,6})?)$", "examples": ["0.5"]}
    ),
]
"""A ratio from 0 to 1, e.g. `"0.6"` for 60%."""


@lru_cache(maxsize=1024)  # by value: the few ratios of the plans come back claim after claim
def percent(ratio: Decimal) -> str:
    """0.55 -> '55%', 0.125 -> '12.5%'."""
    return f"{format((ratio * 100).normalize(), 'f')}%"


class Fen(TypeDecorator[Decimal]):
    """A yuan `Decimal` in Python, whole fen in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        if value is None:
            return None
        fen = Decimal(value) * 100
        if fen != fen.to_integral_value():
            raise ValueError(f"{value} is not a whole number of fen")
        return int(fen)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(FEN)
