"""Uploading a claim's papers: the type told by the bytes, the 10 MiB limit met as the bytes
arrive, 30 uploads a claim, the store failing midway, the download and who may read it."""

import gc
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from claims_api.documents import service as documents_service
from claims_api.documents.local_store import LocalFolderStore
from claims_api.documents.receiving import MAX_DOCUMENT_BYTES, display_name
from claims_api.documents.storage import DocumentStore
from services.kit.db_errors import DatabaseUnavailable
from services.stack import papers
from tests.claims.support_claims import (
    CLAIMS,
    enrolled_member,
    file_claim,
    hospital_stay,
    new_unit,
    problem,
)
from tests.claims.support_documents import documents_url, paper, upload, uploaded
from tests.dates import day
from tests.support import ADMIN, AUDITOR, FINANCE, REVIEWER, bearer


async def pending_claim(api: httpx.AsyncClient):
    worker = await enrolled_member(api)
    claim = await file_claim(api, worker, hospital_stay(day(3, 1)))
    assert claim["status"] == "pending_review"
    return worker, claim["id"]


class TestTheTypeIsToldByTheBytes:
    @pytest.mark.parametrize(
        ("made", "content_type"),
        [("jpeg", "image/jpeg"), ("png", "image/png"), ("pdf", "application/pdf")],
    )
    async def test_each_accepted_type_is_stored_as_what_it_is(self, api, made, content_type):
        worker, claim_id = await pending_claim(api)
        content = paper(made)
        document = await uploaded(
            api, claim_id, "invoice", worker.member, content=content, filename=f"票据.{made}"
        )
        assert document["content_type"] == content_type
        assert document["size"] == len(content)
        assert document["kind"] == "invoice" and document["filename"] == f"票据.{made}"
        url = f"{documents_url(claim_id)}/{document['id']}/content"
        downloaded = await api.get(url, headers=worker.member)
        assert downloaded.status_code == 200
        assert downloaded.content == content
        assert downloaded.headers["content-type"] == content_type

    async def test_a_pdf_named_jpg_is_stored_as_a_pdf(self, api):
        worker, claim_id = await pending_claim(api)
        document = await uploaded(
            api, claim_id, "invoice", worker.member, filename="photo.jpg",
            declared_type="image/jpeg",
        )  # fmt: skip
        assert document["content_type"] == "application/pdf"

    @pytest.mark.parametrize(
        "content",
        [b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200, "发票 1234 元\n".encode()],
        ids=["exe", "text"],
    )
    async def test_anything_else_is_415_whatever_its_name(self, api, content):
        worker, claim_id = await pending_claim(api)
        response = await upload(
            api, claim_id, "invoice", worker.member, content=content, filename="photo.jpg",
            declared_type="image/jpeg",
        )  # fmt: skip
        problem(response, 415, "document_type_refused")
        assert (await api.get(documents_url(claim_id), headers=ADMIN)).json()["items"] == []


class TestTheSizeLimit:
    async def test_exactly_10_mib_is_taken_and_one_byte_more_is_413(self, api):
        worker, claim_id = await pending_claim(api)
        exact = papers.pdf("big", padding=MAX_DOCUMENT_BYTES - len(papers.pdf("big")))
        assert len(exact) == MAX_DOCUMENT_BYTES
        document = await uploaded(api, claim_id, "cost_list", worker.member, content=exact)
        assert document["size"] == MAX_DOCUMENT_BYTES
        response = await upload(api, claim_id, "cost_list", worker.member, content=exact + b"\n")
        body = problem(response, 413, "document_too_large")
        assert body["errors"][0]["loc"] == ["body", "file"]
        listed = (await api.get(documents_url(claim_id), headers=ADMIN)).json()["items"]
        assert [d["id"] for d in listed] == [document["id"]]

    async def test_a_large_body_is_refused_as_it_arrives_not_after(self, claims_app: FastAPI, api):
        """Sent straight to the claims service without a Content-Length (chunked), 40 MiB: the
        refusal comes after the file's 10 MiB, with most of the body never read."""
        worker, claim_id = await pending_claim(api)
        sent = []

        async def body():
            head = (
                b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n'
                b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
                b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
            )
            yield head
            for _ in range(40):
                sent.append(1)
                yield b"0" * (1024 * 1024)

        transport = httpx.ASGITransport(app=claims_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
            headers = {**worker.member, "Content-Type": "multipart/form-data; boundary=b"}
            response = await client.post(documents_url(claim_id), content=body(), headers=headers)
        problem(response, 413, "document_too_large")
        assert len(sent) <= 12, f"{len(sent)} MiB read before the refusal"

    async def test_a_content_length_over_the_limit_is_refused_before_the_body(
        self, claims_app: FastAPI, api
    ):
        worker, claim_id = await pending_claim(api)
        read = []

        async def body():
            read.append(1)
            yield b"--b--\r\n"

        transport = httpx.ASGITransport(app=claims_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
            headers = {
                **worker.member,
                "Content-Type": "multipart/form-data; boundary=b",
                "Content-Length": str(MAX_DOCUMENT_BYTES + 1024 * 1024),
            }
            response = await client.post(documents_url(claim_id), content=body(), headers=headers)
        problem(response, 413, "document_too_large")
        assert read == [] or len(read) == 1  # at most the transport's first chunk, never parsed


class TestARefusedUploadIsNotRead:
    """What would refuse an upload anyway refuses it before its bytes are read, so refused
    uploads cannot fill the store."""

    async def _send_unread(self, claims_app: FastAPI, claim_id: str, headers) -> tuple:
        read = []

        async def body():
            read.append(1)
            yield b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n'
            read.append(2)
            yield b"--b--\r\n"

        transport = httpx.ASGITransport(app=claims_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
            headers = {**headers, "Content-Type": "multipart/form-data; boundary=b"}
            response = await client.post(documents_url(claim_id), content=body(), headers=headers)
        return response, read

    async def test_another_members_claim(self, claims_app: FastAPI, api):
        _, claim_id = await pending_claim(api)
        stranger = bearer("member", member_id="mbr_someone_else")
        response, read = await self._send_unread(claims_app, claim_id, stranger)
        problem(response, 404)
        assert len(read) <= 1  # at most the transport's first chunk, never parsed

    async def test_a_decided_claim(self, claims_app: FastAPI, api):
        worker, claim_id = await pending_claim(api)
        decided = await api.post(
            f"{CLAIMS}/{claim_id}/decision",
            json={"decision": "reject", "reason": "not a hospital stay"},
            headers=REVIEWER,
        )
        assert decided.status_code == 200, decided.text
        response, read = await self._send_unread(claims_app, claim_id, worker.member)
        problem(response, 422, "invalid_transition")
        assert len(read) <= 1


async def test_a_claim_takes_30_uploads_withdrawn_ones_included(api):
    worker, claim_id = await pending_claim(api)
    first = await uploaded(api, claim_id, "other", worker.member)
    withdrawn = await api.post(
        f"{documents_url(claim_id)}/{first['id']}/withdraw", headers=worker.member
    )
    assert withdrawn.status_code == 200, withdrawn.text
    for _ in range(29):
        await uploaded(api, claim_id, "other", worker.member)
    response = await upload(api, claim_id, "other", worker.member)
    problem(response, 422, "too_many_documents")
    listed = (await api.get(documents_url(claim_id), headers=ADMIN)).json()["items"]
    assert len(listed) == 30 and listed[0]["withdrawn_at"] is not None


async def test_the_store_failing_midway_is_503_and_leaves_no_row(
    api, claims_app: FastAPI, tmp_path
):
    worker, claim_id = await pending_claim(api)
    not_a_folder = tmp_path / "documents"
    not_a_folder.write_text("a regular file where the folder should be")
    working = claims_app.state.document_store
    claims_app.state.document_store = LocalFolderStore(not_a_folder)
    try:
        response = await upload(api, claim_id, "invoice", worker.member)
    finally:
        claims_app.state.document_store = working
    problem(response, 503)
    assert (await api.get(documents_url(claim_id), headers=ADMIN)).json()["items"] == []
    audit = await api.get(
        "/api/v1/audit-events", params={"entity": "claim_document"}, headers=AUDITOR
    )
    assert [e for e in audit.json()["items"] if e["after"]["claim_id"] == claim_id] == []


class TestReadingAndDownloading:
    async def test_the_download_says_what_it_is_and_is_audited(self, api):
        worker, claim_id = await pending_claim(api)
        name = "出院记录\u202e.pdf"
        document = await uploaded(api, claim_id, "discharge_summary", worker.hr, filename=name)
        assert document["filename"] == "出院记录.pdf"  # no bidi override, no control character
        url = f"{documents_url(claim_id)}/{document['id']}/content"
        response = await api.get(url, headers={**REVIEWER, "X-Request-ID": "download-1"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"] == (
            'attachment; filename="____.pdf"; '
            "filename*=UTF-8''%E5%87%BA%E9%99%A2%E8%AE%B0%E5%BD%95.pdf"
        )
        events = await api.get(
            "/api/v1/audit-events",
            params={"entity": "claim_document", "entity_id": document["id"]},
            headers=AUDITOR,
        )
        actions = {e["action"]: e for e in events.json()["items"]}
        assert set(actions) == {"document.upload", "document.download"}
        assert actions["document.download"]["role"] == "reviewer"
        assert actions["document.download"]["request_id"] == "download-1"
        assert actions["document.download"]["after"]["sha256"] == document["sha256"]

    async def test_finance_reads_no_papers_and_another_member_finds_none(self, api):
        worker, claim_id = await pending_claim(api)
        document = await uploaded(api, claim_id, "invoice", worker.member)
        one = f"{documents_url(claim_id)}/{document['id']}"
        for url in (documents_url(claim_id), one, f"{one}/content"):
            problem(await api.get(url, headers=FINANCE), 403)
            stranger = bearer("member", member_id="mbr_someone_else")
            problem(await api.get(url, headers=stranger), 404)
            assert (await api.get(url, headers=AUDITOR)).status_code == 200
        problem(await upload(api, claim_id, "invoice", REVIEWER), 403)


def test_a_file_name_is_kept_for_display_only():
    assert display_name("C:\\扫描\\出院\x07记录\u2066.pdf") == "出院记录.pdf"
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("\u202e\x00") is None
    assert len(display_name("长" * 500) or "") == 200


class TestWithdrawing:
    async def test_who_uploaded_it_withdraws_it_and_nobody_else(self, api):
        worker, claim_id = await pending_claim(api)
        document = await uploaded(api, claim_id, "invoice", worker.member)
        url = f"{documents_url(claim_id)}/{document['id']}/withdraw"
        problem(await api.post(url, headers=worker.hr), 403, "not_the_uploader")
        problem(await api.post(url, headers=ADMIN), 403, "not_the_uploader")
        response = await api.post(url, headers=worker.member)
        assert response.status_code == 200, response.text
        assert response.json()["withdrawn_at"] is not None
        problem(await api.post(url, headers=worker.member), 422, "invalid_transition")


def is_stored(claims_app: FastAPI, settings: dict[str, str], request, sha256: str) -> bool:
    """Whether the store the service uses holds an object under `sha256` (looked at directly:
    the folder's file, the bucket's key)."""
    if settings["document_store"] == "s3":
        return sha256 in request.getfixturevalue("s3_server").keys(settings["s3_bucket"])
    folder = Path(settings["documents_dir"])
    return (folder / sha256[:2] / sha256[2:4] / sha256).exists()


class TestRetries:
    """An upload's Idempotency-Key is looked at before anything else: a retry gets the first
    answer whatever the claim is now, and a key reused for other bytes stores nothing."""

    async def test_the_retry_of_the_upload_that_approved_the_claim_gets_its_201(self, api):
        worker = await enrolled_member(
            api, required_documents=["invoice", "discharge_summary"],
            auto_approve_limit="5000.00",
        )  # fmt: skip
        claim = await file_claim(api, worker, hospital_stay(day(3, 1)))
        assert claim["status"] == "needs_info"
        await uploaded(api, claim["id"], "invoice", worker.member)
        content = paper()
        headers = {**worker.member, "Idempotency-Key": "last-paper"}
        first = await upload(api, claim["id"], "discharge_summary", headers, content=content)
        assert first.status_code == 201 and first.json()["claim_status"] == "approved"
        retry = await upload(api, claim["id"], "discharge_summary", headers, content=content)
        assert retry.status_code == 201, retry.text
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"

    async def test_the_retry_of_the_30th_upload_gets_its_201(self, api):
        worker, claim_id = await pending_claim(api)
        for _ in range(29):
            await uploaded(api, claim_id, "other", worker.member)
        content = paper()
        headers = {**worker.member, "Idempotency-Key": "thirtieth"}
        first = await upload(api, claim_id, "other", headers, content=content)
        assert first.status_code == 201, first.text
        retry = await upload(api, claim_id, "other", headers, content=content)
        assert retry.status_code == 201 and retry.json() == first.json()
        listed = (await api.get(documents_url(claim_id), headers=ADMIN)).json()["items"]
        assert len(listed) == 30

    async def test_a_key_reused_for_other_bytes_is_422_and_stores_nothing(
        self, api, claims_app: FastAPI, document_store_settings: dict[str, str], request
    ):
        worker, claim_id = await pending_claim(api)
        headers = {**worker.member, "Idempotency-Key": "one-scan"}
        await uploaded(api, claim_id, "invoice", headers)
        other = paper()
        response = await upload(api, claim_id, "invoice", headers, content=other)
        problem(response, 422)
        sha256 = hashlib.sha256(other).hexdigest()
        assert not is_stored(claims_app, document_store_settings, request, sha256)
        assert len((await api.get(documents_url(claim_id), headers=ADMIN)).json()["items"]) == 1


async def test_a_boundary_over_70_characters_is_a_400_not_a_500(claims_app: FastAPI, api):
    """RFC 2046 allows 1 to 70 characters; python-multipart refuses longer ones."""
    worker, claim_id = await pending_claim(api)
    boundary = "x" * 300
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ninvoice\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    transport = httpx.ASGITransport(app=claims_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
        headers = {**worker.member, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        response = await client.post(documents_url(claim_id), content=body, headers=headers)
    problem(response, 400)


class WatchedStore:
    """The service's store, counting the downloads' readers still open."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.open_readers = 0

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        self.open_readers += 1
        try:
            async for chunk in self.inner.read(sha256):
                yield chunk
        finally:
            self.open_readers -= 1

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


async def test_a_download_that_fails_after_opening_the_bytes_closes_them(
    api, claims_app: FastAPI, monkeypatch
):
    """The audit write failing (the database gone at that moment): the file or the bucket's
    body opened for the download is closed at once, not left to the garbage collector."""
    worker, claim_id = await pending_claim(api)
    document = await uploaded(api, claim_id, "invoice", worker.member)

    async def audit_fails(*args, **kwargs):
        raise DatabaseUnavailable()

    working = claims_app.state.document_store
    watched = claims_app.state.document_store = WatchedStore(working)
    monkeypatch.setattr(documents_service.audit, "record", audit_fails)
    gc.disable()  # only this request's own handling may close the reader
    try:
        url = f"{documents_url(claim_id)}/{document['id']}/content"
        response = await api.get(url, headers=worker.member)
        still_open = watched.open_readers
    finally:
        gc.enable()
        claims_app.state.document_store = working
    problem(response, 503)
    assert still_open == 0


async def test_another_units_hr_finds_no_papers_and_staff_read_them(api):
    worker, claim_id = await pending_claim(api)
    content = paper("png")
    document = await uploaded(api, claim_id, "invoice", worker.member, content=content)
    one = f"{documents_url(claim_id)}/{document['id']}"
    other_hr = bearer("hr", unit_id=await new_unit(api, "第二纺织厂"))
    for url in (documents_url(claim_id), one, f"{one}/content"):
        problem(await api.get(url, headers=other_hr), 404)
    for staff in (REVIEWER, AUDITOR):
        listed = (await api.get(documents_url(claim_id), headers=staff)).json()["items"]
        assert [d["id"] for d in listed] == [document["id"]]
        downloaded = await api.get(f"{one}/content", headers=staff)
        assert downloaded.status_code == 200 and downloaded.content == content
