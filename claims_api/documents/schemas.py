from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.kit.plan_rules import DocumentKind


class DocumentRead(BaseModel):
    """A claim's paper: what it is, told by its bytes, and who uploaded it. The bytes are at
    `.../documents/{id}/content`."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    claim_id: str
    kind: DocumentKind
    content_type: Literal["image/jpeg", "image/png", "application/pdf"]
    size: int
    sha256: str
    filename: str | None
    uploaded_by: str
    uploaded_role: str
    uploaded_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None


class DocumentUploaded(DocumentRead):
    """The upload's answer: the document, and what the claim is now (it moves on when this
    paper was the last one its plan requires)."""

    claim_status: str
    documents_missing: list[str]
    duplicate_document_claims: list[str] = Field(
        description="other live claims holding the same bytes as one of the claim's papers: "
        "for a member or hr only those they may read, for the staff all"
    )
    duplicate_document: bool = Field(description="the claim carries the duplicate flag")


class DocumentList(BaseModel):
    """A claim's documents in upload order, withdrawn ones included (marked)."""

    items: list[DocumentRead]
    next_cursor: str | None = None  # at most 30 a claim: one page
    documents_missing: list[str]
    duplicate_document_claims: list[str] = Field(
        description="as in the upload's answer: for a member or hr only the claims they may read"
    )
    duplicate_document: bool
