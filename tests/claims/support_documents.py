"""Uploading a claim's papers the way a client does (multipart `file` and `kind`)."""

import itertools
from typing import Any

import httpx

from services.stack import papers
from tests.claims.support_claims import CLAIMS

_tags = itertools.count(1)


def paper(kind: str = "pdf") -> bytes:
    """A small valid PDF (or png, jpeg), different bytes every call."""
    tag = f"paper-{next(_tags)}"
    return {"pdf": papers.pdf, "png": papers.png, "jpeg": papers.jpeg}[kind](tag)


def documents_url(claim_id: str) -> str:
    return f"{CLAIMS}/{claim_id}/documents"


async def upload(
    api: httpx.AsyncClient,
    claim_id: str,
    kind: str,
    headers: dict[str, str],
    content: bytes | None = None,
    filename: str = "scan.pdf",
    declared_type: str = "application/pdf",
) -> httpx.Response:
    files = {"file": (filename, content if content is not None else paper(), declared_type)}
    return await api.post(
        documents_url(claim_id), files=files, data={"kind": kind}, headers=headers
    )


async def uploaded(
    api: httpx.AsyncClient, claim_id: str, kind: str, headers: dict[str, str], **extra: Any
) -> dict[str, Any]:
    response = await upload(api, claim_id, kind, headers, **extra)
    assert response.status_code == 201, response.text
    return response.json()
