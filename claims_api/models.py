"""The claims service's tables. Money columns hold whole fen (services.money.Fen)."""

from sqlmodel import SQLModel

from services.audit import audit_table
from services.database import new_registry
from services.idempotency import idempotency_table

claims_registry = new_registry()
metadata = claims_registry.metadata


class ClaimsTable(SQLModel, registry=claims_registry):
    pass


idempotency = idempotency_table(metadata)
audit_event = audit_table(metadata)
