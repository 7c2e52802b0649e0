"""`Idempotency-Key` on creating POSTs: a retry with the same key and body gets the first
response; the same key with another body is 422.

The key's row is written in the request's own transaction, before the work: a concurrent retry
blocks on the key's primary key until the first commits (then replays it) or rolls back (then
does the work itself). A crash can never leave the work done without its key, or the reverse.
"""

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from typing import IO, Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, bindparam, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.kit import clock
from services.kit.auth import Principal, PrincipalDep
from services.kit.database import SessionDep
from services.kit.errors import Conflict, InvalidInput

HEADER = "Idempotency-Key"
M = TypeVar("M", bound=BaseModel)


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_record",
        metadata,
        Column("principal", String(200), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer),
        Column("response_body", Text),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


@cache
def _statements(table: Table, dialect: str) -> tuple[Any, Any]:
    """Built once per table: every creating POST runs both (README: performance)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    claim = insert(table).on_conflict_do_nothing().returning(table.c.key)
    remember = (
        sql_update(table)
        .where(table.c.principal == bindparam("p"), table.c.key == bindparam("k"))
        .values(status_code=bindparam("status_code"), response_body=bindparam("response_body"))
    )
    return claim, remember


class StoredResponse(Exception):
    """Raised to answer with the response stored for an earlier request with the same key."""

    def __init__(self, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body

    def response(self) -> JSONResponse:
        return JSONResponse(
            json.loads(self.body),
            status_code=self.status_code,
            headers={"Idempotent-Replayed": "true"},
        )


class Idempotency:
    def __init__(self, session: Any, table: Table | None, principal: str, key: str | None) -> None:
        self.session, self.table, self.principal, self.key = session, table, principal, key

    async def _existing(self) -> Any:
        assert self.table is not None
        query = select(self.table).where(
            self.table.c.principal == self.principal, self.table.c.key == self.key
        )
        return (await self.session.execute(query)).first()

    def _answer_for(self, row: Any, request_hash: str) -> Exception:
        if row.request_hash != request_hash:
            return InvalidInput(
                ["header", HEADER], "this key was already used with a different request body"
            )
        if row.status_code is None:
            return Conflict("a request with this Idempotency-Key is still being processed")
        return StoredResponse(row.status_code, row.response_body)

    async def answered(self) -> bool:
        """Read-only: an answer is stored for this key (whatever body it was for)."""
        if self.key is None or self.table is None:
            return False
        row = await self._existing()
        return row is not None and row.status_code is not None

    async def refuse_known(self, request_hash: str) -> None:
        """Read-only: raise what `claim` would for a key already stored (its answer replayed,
        422 for another body, 409 while it is processed), without writing the key. For a route
        that must refuse a reused key before work no transaction can undo (bytes stored)."""
        if self.key is None or self.table is None:
            return
        row = await self._existing()
        if row is not None:
            raise self._answer_for(row, request_hash)

    async def claim(self, request_hash: str) -> None:
        if self.key is None or self.table is None:
            return
        # ON CONFLICT DO NOTHING: a key already stored is not an error (no SAVEPOINT needed),
        # and a key being inserted by a concurrent transaction makes this INSERT wait for it
        # (Postgres; SQLite's BEGIN IMMEDIATE serialises them anyway): committed, the row is
        # then read and replayed; rolled back, this request does the work.
        statement, _ = _statements(self.table, self.session.bind.dialect.name)
        values = {
            "principal": self.principal,
            "key": self.key,
            "request_hash": request_hash,
            "created_at": clock.now(),
        }
        connection = await self.session.connection()
        if (await connection.execute(statement, values)).first() is None:
            row = await self._existing()
            raise self._answer_for(row, request_hash)

    async def remember(self, status_code: int, response: M) -> M:
        await self.remember_json(status_code, response.model_dump_json())
        return response

    async def remember_json(self, status_code: int, body: str) -> None:
        """For answers built as JSON text directly (bulk results too large for a model)."""
        remembering = self.remembering(status_code, body)
        if remembering is not None:
            await (await self.session.connection()).execute(*remembering)

    def remembering(self, status_code: int, body: str) -> tuple[Any, dict[str, Any]] | None:
        """The UPDATE that keeps this answer, with its parameters, for a caller that runs it
        within a statement of its own; None when the request has no key."""
        if self.key is None or self.table is None:
            return None
        _, statement = _statements(self.table, self.session.bind.dialect.name)
        parameters = {
            "p": self.principal,
            "k": self.key,
            "status_code": status_code,
            "response_body": body,
        }
        return statement, parameters


def request_digest(request: Request, presentation: tuple[str, ...] = ()) -> "hashlib._Hash":
    """The hash a request is known by: method, path and query; the caller adds the body.
    `presentation`: query parameters that only choose how the answer is shown (`format`),
    left out, so that a retry may ask for the stored answer in another form."""
    query = request.url.query
    if presentation:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in presentation]
        query = urlencode(kept)
    return hashlib.sha256(f"{request.method} {request.url.path}?{query}\n".encode())


def upload_digest(
    request: Request,
    fields: Mapping[str, Any],
    file: IO[bytes],
    presentation: tuple[str, ...] = (),
) -> str:
    """What an upload is known by for its Idempotency-Key: the form's fields and the file's
    bytes (not the raw body, whose multipart boundary changes from one retry to the next)."""
    digest = request_digest(request, presentation)
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    file.seek(0)
    while chunk := file.read(1 << 20):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


async def claim_idempotency(
    request: Request, session: Any, principal: Principal, request_hash: str
) -> Idempotency:
    """Claim the request's Idempotency-Key (if it has one) for a request known by this hash.

    Upload routes call it themselves with a hash of the parsed form (the multipart boundary
    changes from one retry to the next, and their body is a spooled file, not bytes)."""
    idempotency = idempotency_of(request, session, principal)
    await idempotency.claim(request_hash)
    return idempotency


def idempotency_of(request: Request, session: Any, principal: Principal) -> Idempotency:
    """The request's Idempotency-Key (if it has one), not claimed yet: for `answered` and
    `refuse_known` before the work, `claim` in the work's transaction."""
    key = request.headers.get(HEADER)
    if key is not None and not (1 <= len(key) <= 200):
        raise InvalidInput(["header", HEADER], "must be 1 to 200 characters")
    table = getattr(request.app.state, "idempotency_table", None)
    return Idempotency(session, table, principal.sub, key)


async def _idempotency(
    request: Request, session: SessionDep, principal: PrincipalDep
) -> Idempotency:
    digest = request_digest(request)
    digest.update(await request.body())
    return await claim_idempotency(request, session, principal, digest.hexdigest())


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
