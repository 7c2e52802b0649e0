"""Keyset pagination: `{"items": [...], "next_cursor": "..." | null}` with `?limit=&cursor=`.

Ids are time-ordered (services.kit.ids), so the cursor is the last id seen, wrapped so that
clients treat it as opaque."""

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from services.kit.errors import InvalidInput

MAX_LIMIT = 500
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        last_id = ""
    if not re.fullmatch(r"[a-z]{2,4}_[0-9a-f]{12,40}", last_id):
        raise InvalidInput(["query", "cursor"], "not a cursor this service issued")
    return last_id


@dataclass(frozen=True)
class PageParams:
    limit: int
    after_id: str | None

    def page(self, rows: list[Any], items: list[Any], id_of: Any = None) -> dict[str, Any]:
        """`rows` were fetched with limit + 1: the extra row only says there is more."""
        more = len(rows) > self.limit
        items = items[: self.limit]
        last = rows[self.limit - 1] if more else None
        next_cursor = None
        if last is not None:
            next_cursor = encode_cursor(id_of(last) if id_of else last.id)
        return {"items": items, "next_cursor": next_cursor}


async def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most 500")] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> PageParams:
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(_page_params)]
