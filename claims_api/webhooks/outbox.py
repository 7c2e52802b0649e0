"""The outbox: one `webhook_event` row for each move of a claim a subscriber can ask for,
written in the transaction of the change it reports (DOMAIN.md: no event for a change rolled
back, no change without its event), whether or not anyone subscribes; delivery reads it later
(claims_api.webhooks.worker), so a slow or dead receiver never slows a request.

The row's values come from `event_row` (one claim, one move), called where the claims' history
is written: claims_api.claims.service (filing, decisions, documents, reversals, the bank's
result), claims_api.payouts.service (a batch, in bulk) and claims_api.settlement.writing (an
import, by COPY).

Contract with the fan-out (who receives what):
- `type` is one of EVENT_TYPES; a subscription receives an event when `type` is in its
  `events`, it is enabled and not deleted, and its `unit_id` is null (admin: every unit) or
  equal to the event's `unit_id`. An hr subscription always names its own unit, so it never
  receives another unit's claims; an event whose claim has no unit (`unit_id` null) goes only
  to subscriptions of every unit.
- `id` ("evt_...") is the event's stable id, time-ordered; `payload` is the whole Standard
  Webhooks body, `{"type", "timestamp", "data"}`, sent as it is.
- The payload holds ids, statuses, amounts and dates: no name and no identity number (the
  claims service holds none); a payment's account number is masked as the registry shows it to
  others (622202*********1234)."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any, Literal, get_args

from services.kit.identity import mask_account_number
from services.kit.ids import new_id, new_ids
from services.kit.money import format_money

EventType = Literal[
    "claim.filed",
    "claim.approved",
    "claim.rejected",
    "claim.needs_info",
    "claim.paid",
    "claim.payment_returned",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
STATUS_EVENTS = {
    "submitted": "claim.filed",
    "approved": "claim.approved",
    "rejected": "claim.rejected",
    "needs_info": "claim.needs_info",
    "paid": "claim.paid",
}
"""The event of a claim reaching a status (pending_review and withdrawn have none)."""


@dataclass(frozen=True)
class Payment:
    """The ledger entry a claim.paid or claim.payment_returned event reports: the payment
    (for a return, the payment returned)."""

    entry_id: str
    batch_id: str
    amount: Decimal
    paid_on: date
    account_number: str | None
    reason: str | None = None


def payment_of(entry: Any, reason: str | None = None) -> Payment:
    """A payment's ledger entry (a PayoutEntry or the mapping of its columns) as an event
    reports it; `reason`: the bank's or finance's, when it was returned."""
    return Payment(
        _field(entry, "id"),
        _field(entry, "batch_id"),
        _field(entry, "amount"),
        _field(entry, "paid_on"),
        _field(entry, "account_number"),
        reason,
    )


def event_type_of(previous_status: str | None, status: str) -> str | None:
    """The event type of a move, or None: a note that leaves the status as it was, or a
    status no one is told of."""
    if previous_status == status:
        return None
    if previous_status == "paid" and status == "approved":
        return "claim.payment_returned"
    return STATUS_EVENTS.get(status)


def _field(claim: Any, name: str) -> Any:
    return claim[name] if isinstance(claim, Mapping) else getattr(claim, name)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _moment(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def event_row(
    claim: Any,
    *,
    status: str,
    previous_status: str | None,
    at: datetime,
    payment: Payment | None = None,
    event_id: str | None = None,
) -> dict[str, Any] | None:
    """The `webhook_event` columns of `claim` (a Claim, a row or a mapping of its columns)
    moving from `previous_status` to `status` at `at`, or None when the move has no event.
    `payment`: for claim.paid and claim.payment_returned. `event_id`: when the caller draws
    several at once (new_event_ids), so that their order is the moves' order."""
    event_type = event_type_of(previous_status, status)
    if event_type is None:
        return None
    unit_id, member_id = _field(claim, "unit_id"), _field(claim, "member_id")
    data: dict[str, Any] = {
        "claim_id": _field(claim, "id"),
        "member_id": member_id,
        "unit_id": unit_id,
        "plan_code": _field(claim, "plan_code"),
        "status": status,
        "previous_status": None if event_type == "claim.filed" else previous_status,
        "payable": format_money(_field(claim, "payable")),
        "event_on": _day(_field(claim, "event_on")),
        "filed_on": _day(_field(claim, "filed_on")),
        "approved_at": _moment(_field(claim, "approved_at")),
        "paid_on": None if event_type == "claim.payment_returned" else _day(_paid_on(claim)),
        "source": _field(claim, "source") or "filed",
        "reason_codes": list(_field(claim, "reason_codes") or ()),
    }
    if payment is not None:
        data["payment"] = {
            "entry_id": payment.entry_id,
            "batch_id": payment.batch_id,
            "amount": format_money(payment.amount),
            "paid_on": payment.paid_on.isoformat(),
            "account_number": (
                mask_account_number(payment.account_number) if payment.account_number else None
            ),
        }
        data["amount"] = data["payment"]["amount"]
        if event_type == "claim.paid":
            data["paid_on"] = payment.paid_on.isoformat()
        if payment.reason is not None:
            data["payment"]["returned_reason"] = payment.reason
    timestamp = _moment(at)
    return {
        "id": event_id or new_id("evt"),
        "type": event_type,
        "claim_id": data["claim_id"],
        "unit_id": unit_id,
        "member_id": member_id,
        "payload": {"type": event_type, "timestamp": timestamp, "data": data},
        "created_at": at,
        "dispatched_at": None,
    }


def _text(value: str | None) -> str:
    """A string (or None) as json.dumps writes it: its own encoder, without its call."""
    return "null" if value is None else encode_basestring_ascii(value)


@lru_cache(maxsize=64)  # an import's claims share the few combinations of reasons
def _codes_text(codes: tuple[str, ...]) -> str:
    return json.dumps(list(codes))


@lru_cache(maxsize=16)  # by value: an import's claims are filed at one moment
def _moment_text(value: datetime | None) -> str:
    return json.dumps(_moment(value))


@lru_cache(maxsize=16)
def _filing_moves(status: str) -> list[tuple[str, str, str]]:
    """The events of a claim filed and given `status` at once, each with its payload's text
    around the timestamp and the pieces the two events share."""
    moves = [("claim.filed", "submitted", None)]
    decided = event_type_of("submitted", status)
    if decided is not None:
        moves.append((decided, status, "submitted"))
    return [
        (
            event_type,
            f'{{"type": {json.dumps(event_type)}, "timestamp": ',
            f', "status": {json.dumps(to)}, "previous_status": {json.dumps(previous)}, ',
        )
        for event_type, to, previous in moves
    ]


def filing_payloads(claim: Mapping[str, Any], at: datetime) -> list[tuple[str, str]]:
    """The event type and payload, as JSON text, of a claim filed at `at` and given its status
    (`claim["status"]`) at once, as a settlement import files it: claim.filed, then the
    status's event when it has one. The text is json.dumps of event_row's payload, made from
    pieces the two events share and strings each encoded as json.dumps does (a fifth of an
    import's time went into making and serialising its webhook events)."""
    head = (
        f'{{"claim_id": {_text(claim["id"])}, "member_id": {_text(claim["member_id"])}, '
        f'"unit_id": {_text(claim["unit_id"])}, "plan_code": {_text(claim["plan_code"])}'
    )
    tail = (
        f'"payable": {_text(format_money(claim["payable"]))}, '
        f'"event_on": {_text(_day(claim["event_on"]))}, '
        f'"filed_on": {_text(_day(claim["filed_on"]))}, '
        f'"approved_at": {_moment_text(claim["approved_at"])}, '
        f'"paid_on": {_text(_day(claim["paid_on"]))}, '
        f'"source": {_text(claim["source"] or "filed")}, '
        f'"reason_codes": {_codes_text(tuple(claim["reason_codes"] or ()))}}}}}'
    )
    timestamp = _moment_text(at)
    return [
        (event_type, f'{before}{timestamp}, "data": {head}{moved}{tail}')
        for event_type, before, moved in _filing_moves(claim["status"])
    ]


def _paid_on(claim: Any) -> date | None:
    try:
        return _field(claim, "paid_on")
    except (KeyError, AttributeError):  # a row read without it (a payment batch's)
        return None


def new_event_ids(count: int) -> list[str]:
    """`count` event ids in ascending order (services.kit.ids.new_ids), for moves written
    together: ordering by id is the order they happened in."""
    return new_ids("evt", count)
