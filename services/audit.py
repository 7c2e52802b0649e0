"""The append-only audit log each service keeps in its own database: who changed what, when,
under which request, with the values before and after."""

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import JSON, Column, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import Principal
from services.database import UtcDateTime
from services.ids import new_id


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_event",
        metadata,
        Column("id", String(40), primary_key=True),
        Column("at", UtcDateTime, nullable=False),
        Column("actor", String(200), nullable=False),
        Column("role", String(20), nullable=False),
        Column("action", String(60), nullable=False),
        Column("entity", String(40), nullable=False, index=True),
        Column("entity_id", String(60), nullable=False, index=True),
        Column("request_id", String(128)),
        Column("before", JSON),
        Column("after", JSON),
    )


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


class AuditLog:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def record(
        self,
        session: AsyncSession,
        principal: Principal,
        request: Request | None,
        *,
        action: str,
        entity: str,
        entity_id: str,
        before: Any = None,
        after: Any = None,
    ) -> None:
        request_id = getattr(request.state, "request_id", None) if request is not None else None
        await session.execute(
            insert(self.table).values(
                id=new_id("aud"),
                at=datetime.now(UTC),
                actor=principal.sub,
                role=principal.role.value,
                action=action,
                entity=entity,
                entity_id=entity_id,
                request_id=request_id,
                before=_jsonable(before),
                after=_jsonable(after),
            )
        )
