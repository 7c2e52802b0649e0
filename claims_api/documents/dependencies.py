"""The document store of the claims process: made from the settings at start-up
(claims_api.documents.storage.document_store_from), closed at shutdown, handed to routes."""

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from claims_api.documents.storage import DocumentStore, document_store_from


async def open_document_store(app: FastAPI) -> None:
    app.state.document_store = document_store_from(app.state.settings)


async def close_document_store(app: FastAPI) -> None:
    store = getattr(app.state, "document_store", None)
    if store is not None:
        await store.close()


async def _document_store(request: Request) -> DocumentStore:
    return request.app.state.document_store


DocumentStoreDep = Annotated[DocumentStore, Depends(_document_store)]
