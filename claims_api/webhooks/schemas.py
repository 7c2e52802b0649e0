"""Webhook subscriptions as clients send and read them. The signing secret is shown once, in
the answer that creates the subscription (WebhookCreated), and in no read afterwards."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from claims_api.webhooks.outbox import EventType
from claims_api.webhooks.urls import MAX_URL_LENGTH

Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH),
    Field(
        description="https (http only to this machine, outside production); never to a "
        "private, loopback, link-local or otherwise internal address; no user name or password",
        examples=["https://hr.example.com/hooks/mutualaid"],
    ),
]
UnitId = Annotated[
    str,
    # as the registry issues ids (services.kit.ids) and the column holds them: 40 at most
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_-]{1,40}$"),
    Field(examples=["unt_01a2354ccd7667e2b7c0279a1bf466d5"]),
]
Events = Annotated[
    list[EventType],
    Field(min_length=1, max_length=6, description="the event types to receive, each once"),
]


def _each_once(events: list[str] | None) -> list[str] | None:
    if events is not None and len(set(events)) != len(events):
        raise ValueError("an event type is listed twice")
    return events


class WebhookCreate(BaseModel):
    """`unit_id`: the unit whose claims are told (hr: its own, the default); admin may leave
    it out for every unit's."""

    model_config = ConfigDict(extra="forbid")

    url: Url
    events: Events
    unit_id: UnitId | None = None

    _events_once = field_validator("events")(_each_once)


class WebhookUpdate(BaseModel):
    """Re-enabling a subscription (`enabled: true`) clears why it was disabled."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: Events | None = None
    enabled: bool | None = None

    _events_once = field_validator("events")(_each_once)


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[str]
    unit_id: str | None = Field(description="null: every unit's claims (admin's)")
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None = Field(
        description="the first failed delivery of the current streak; null while it succeeds"
    )
    created_by: str
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead):
    secret: str | None = Field(
        description="the signing secret (Standard Webhooks, `whsec_` + base64): shown only "
        "here, once; null in a replay of this answer (the same Idempotency-Key)"
    )
    secret_shown: bool = Field(
        default=True,
        description="false in a replayed answer: the secret was shown once, in the first; "
        "lost, delete the subscription and create it again",
    )

    def as_stored(self) -> "WebhookCreated":
        """The answer kept for replays (Idempotency-Key): the same, without the secret, which
        is stored nowhere but on the subscription."""
        return self.model_copy(update={"secret": None, "secret_shown": False})
