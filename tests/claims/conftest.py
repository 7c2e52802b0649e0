"""Fixtures of the webhook tests (tests.claims.support_webhooks, tests.webhook_receiver)."""

from tests.claims.support_webhooks import hooks_api, webhook_claims_app  # noqa: F401
from tests.webhook_receiver import webhook_receiver, webhook_receiver_server  # noqa: F401
