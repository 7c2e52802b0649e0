"""Money as the imports and the API read it (services.kit.money): an amount is never
negative, and a zero written with a minus sign is a negative amount as a clerk typed it."""

from decimal import Decimal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.kit.money import Money, SignedMoney

MONEY = TypeAdapter(Money)


class _Body(BaseModel):
    amount: Money


def _refusal(value: object) -> str:
    with pytest.raises(ValidationError) as refused:
        MONEY.validate_python(value)
    return refused.value.errors()[0]["msg"]


@pytest.mark.parametrize("text", ["-0", "-0.0", "-0.00", " -0.00 ", "-0E+2", "-1.00"])
def test_a_minus_sign_is_refused_as_negative_even_on_zero(text):
    assert _refusal(text) == "Value error, must not be negative"


def test_a_negative_zero_json_number_is_refused_too():
    with pytest.raises(ValidationError) as refused:
        _Body.model_validate_json('{"amount": -0.0}')
    assert refused.value.errors()[0]["msg"] == "Value error, must not be negative"
    with pytest.raises(ValidationError):
        _Body.model_validate_json('{"amount": "-0.00"}')


@pytest.mark.parametrize("text", ["0", "0.0", "0.00", "+0.00"])
def test_zero_is_an_amount(text):
    amount = MONEY.validate_python(text)
    assert amount == 0 and not amount.is_signed()
    assert MONEY.dump_json(amount) == b'"0.00"'


def test_a_zero_the_system_computed_with_a_sign_is_written_as_zero():
    """Zero times -1 is Decimal("-0.00"): arithmetic's zero, not a clerk's minus sign. It
    passes, and never reaches the JSON or a stored snapshot as "-0.00" (refused when read
    back)."""
    signed = Decimal("0.00") * -1
    assert signed.is_signed()
    body = _Body(amount=signed)
    assert body.model_dump_json() == '{"amount":"0.00"}'


def test_amounts_to_the_fen():
    assert MONEY.validate_python("863.31") == Decimal("863.31")
    assert MONEY.validate_python(100.1) == Decimal("100.10")
    assert _refusal("100.101") == "Value error, must have at most two decimal places (fen)"


@pytest.mark.parametrize("text", ["-0", "-0.00"])
def test_a_signed_amount_reads_a_negative_zero_as_zero(text):
    amount = TypeAdapter(SignedMoney).validate_python(text)
    assert amount == 0 and not amount.is_signed()
    assert TypeAdapter(SignedMoney).validate_python("-863.31") == Decimal("-863.31")
