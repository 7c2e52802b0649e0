"""The engine's hot path: money and percentage texts, and its result models built without a
second validation pass.

Profiling the engine (README, "Performance") showed most of its time in `Decimal.quantize` for
the texts of amounts that already had their two places, and in pydantic validating again the
`Assessment` and `AssessmentLine` values the engine had just computed from validated inputs.
These helpers give the very same results, faster:

- `money_text(x)` is `services.money.format_money(x)`, without the rounding when `str(x)`
  already shows exactly two places (rounding to the fen then changes nothing); `money_pair`
  gives it together with `money_value(x)`, from one `str(x)`;
- `percent_text(r)` is `services.money.percent(r)`, cached by value (it normalises, so it
  depends on the value only); `day_text(d)` is `f"{d}"`, cached;
- `money_value` / `ratio_ok` tell, with plain Python, whether validation would keep a value as
  it is (or what it would make of it). The builders of claims_api.engine.assessment
  (`amount_line`, `text_line`, `ratio_line`, `finish`) then make the instance as
  `BaseModel.model_construct` does (its `__dict__`, `__pydantic_fields_set__`,
  `__pydantic_extra__`, `__pydantic_private__`), with what validation would have stored; anything
  unusual goes through the model's own validation instead, so that a value validation refuses
  still raises the same `ValidationError`.

Every answer of the engine is the same as before these helpers, to the Decimal exponent, the
fields set and the repr: tests/claims/test_engine_equivalence.py checks it against the engine
as first written (tests/claims/engine_reference.py) on random plans, covers, facts and usage.
"""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel

from services.money import FEN, MAX_YUAN, format_money, percent, to_fen

_CACHE_SIZE = 1024
_percents: dict[Decimal, str] = {}
_days: dict[date, str] = {}
_ratios_ok: dict[int, Decimal] = {}

# What BaseModel.model_construct sets on a new instance, without its per-field work.
new_object = object.__new__
set_attribute = object.__setattr__  # (for "__dict__")
set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def money_text(amount: Decimal) -> str:
    """Exactly `format_money(amount)`."""
    text = str(amount)
    # "...d.dd": plain notation with exponent -2, which rounding to the fen leaves unchanged.
    if len(text) > 3 and text[-3] == ".":
        return text
    return format_money(amount)


def percent_text(ratio: Decimal) -> str:
    """Exactly `percent(ratio)`."""
    text = _percents.get(ratio)
    if text is None:
        text = percent(ratio)
        if len(_percents) >= _CACHE_SIZE:
            _percents.clear()
        _percents[ratio] = text
    return text


def money_pair(amount: Decimal) -> tuple[Decimal | None, str]:
    """`(money_value(amount), money_text(amount))`, from one `str(amount)`."""
    if type(amount) is Decimal:
        text = str(amount)
        if len(text) > 3 and text[-3] == ".":  # as in money_text
            if text[0] != "-" and amount < MAX_YUAN:  # as in money_value
                return amount, text
            return money_value(amount), text
    return money_value(amount), format_money(amount)


def day_text(day: date) -> str:
    """Exactly `f"{day}"` (the ISO date), remembered: claims fall on the same few hundred days."""
    if type(day) is not date:
        return f"{day}"
    text = _days.get(day)
    if text is None:
        text = str(day)
        if len(_days) >= _CACHE_SIZE:
            _days.clear()
        _days[day] = text
    return text


def money_value(value: Any) -> Decimal | None:
    """What `Money` validation stores for this value, or None when it is not a Decimal or
    validation would refuse it (then the caller validates, to raise the same error)."""
    if type(value) is not Decimal:
        return None
    text = str(value)
    if len(text) > 3 and text[-3] == "." and text[0] != "-":  # "d.dd": kept as it is
        return value if value < MAX_YUAN else None
    if not value.is_finite():
        return None
    fen = value.quantize(FEN, ROUND_HALF_UP)
    if fen != value or value < 0 or value >= MAX_YUAN:
        return None
    return fen


def ratio_ok(value: Any) -> bool:
    """True when `Ratio` validation would keep this value as it is (from 0 to 1, at most six
    places). The engine's ratios are the plan's own, so the answer is remembered per object
    (the cache holds the object, so its id is not reused meanwhile)."""
    if _ratios_ok.get(id(value)) is value:
        return True
    if type(value) is not Decimal or not value.is_finite() or value < 0 or value > 1:
        return False
    text = str(value)
    if "E" in text:  # exponents 0 to -6 show in plain notation
        return False
    dot = text.find(".")
    if dot >= 0 and len(text) - dot - 1 > 6:
        return False
    if len(_ratios_ok) >= _CACHE_SIZE:
        _ratios_ok.clear()
    _ratios_ok[id(value)] = value
    return True


__all__ = [
    "FEN",
    "format_money",
    "new_object",
    "set_attribute",
    "set_extra",
    "set_fields_set",
    "set_private",
    "day_text",
    "money_pair",
    "money_text",
    "money_value",
    "percent_text",
    "ratio_ok",
    "to_fen",
]
