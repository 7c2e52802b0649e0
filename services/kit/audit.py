"""The append-only audit log each service keeps in its own database: who changed what, when,
under which request, with the values before and after.

Each record is written by the service that makes the change, in the same transaction; the request
id comes from the log context the middleware binds (services.kit.middleware), so a service never
needs the HTTP request to say which request it served."""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import JSON, Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import clock
from services.kit.access import AdminOrAuditor
from services.kit.auth import Principal
from services.kit.database import SessionDep, UtcDateTime
from services.kit.errors import InvalidInput
from services.kit.ids import new_id
from services.kit.middleware import current_request_id
from services.kit.pagination import Page, PageDep


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
        # built once: every change a service makes writes one (README: performance)
        self.insert = insert(table)

    async def record(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        action: str,
        entity: str,
        entity_id: str,
        before: Any = None,
        after: Any = None,
    ) -> None:
        await self.record_many(
            session,
            principal,
            action=action,
            entity=entity,
            changes=[(entity_id, before, after)],
        )

    def row(
        self,
        principal: Principal,
        *,
        action: str,
        entity: str,
        entity_id: str,
        before: Any = None,
        after: Any = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """One event's values, for a caller that writes it within a statement of its own."""
        return {
            "id": new_id("aud"),
            "at": at or clock.now(),
            "actor": principal.sub,
            "role": principal.role.value,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "request_id": current_request_id(),
            "before": _jsonable(before),
            "after": _jsonable(after),
        }

    async def record_many(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        action: str,
        entity: str,
        changes: list[tuple[str, Any, Any]],
    ) -> None:
        """One event per (entity_id, before, after), written with one executemany per 5,000
        (bulk operations that change many records, each of which keeps its own history)."""
        at = clock.now()
        events = [
            self.row(
                principal,
                action=action,
                entity=entity,
                entity_id=entity_id,
                before=before,
                after=after,
                at=at,
            )
            for entity_id, before, after in changes
        ]
        for start in range(0, len(events), 5_000):
            chunk = events[start : start + 5_000]
            await (await session.connection()).execute(self.insert, chunk)


class AuditEventRead(BaseModel):
    id: str
    at: datetime
    actor: str
    role: str
    action: str
    entity: str
    entity_id: str
    request_id: str | None
    before: Any
    after: Any


def audit_router(table: Table, entities: tuple[str, ...]) -> APIRouter:
    """`GET /api/v1/audit-events` over one service's log (auditor, admin). The gateway sends
    each `entity` to the service that owns it; see services.kit.routing."""
    router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])

    @router.get("", summary="The append-only audit log (auditor, admin)")
    async def audit_events(
        session: SessionDep,
        principal: AdminOrAuditor,
        page: PageDep,
        entity: Annotated[str | None, Query(max_length=40, description=", ".join(entities))] = None,
        entity_id: Annotated[str | None, Query(max_length=60)] = None,
    ) -> Page[AuditEventRead]:
        if entity is not None and entity not in entities:
            raise InvalidInput(["query", "entity"], f"one of {', '.join(entities)} here")
        query = select(table).order_by(table.c.id).limit(page.limit + 1)
        if entity:
            query = query.where(table.c.entity == entity)
        if entity_id:
            query = query.where(table.c.entity_id == entity_id)
        if page.after_id:
            query = query.where(table.c.id > page.after_id)
        rows = (await session.execute(query)).all()
        items = [AuditEventRead.model_validate(row._mapping) for row in rows]
        return Page[AuditEventRead](**page.page(rows, items))

    return router
