"""The document routes on the store the settings name, `[local]` and `[s3]` alike (tests/conftest.py
runs every tests/claims/test_documents_*.py against both): the paper lands where the settings
say, and that store going down is a 503 for the upload (no document row) and for the download.
"""

import hashlib
from pathlib import Path

import httpx
import pytest
from botocore.awsrequest import AWSResponse
from fastapi import FastAPI

from claims_api.documents.local_store import LocalFolderStore
from claims_api.documents.s3_store import S3Store
from claims_api.documents.storage import DocumentStore
from services.stack.launcher import free_port
from tests.claims.support_claims import enrolled_member, file_claim, hospital_stay, problem
from tests.claims.support_documents import documents_url, paper, upload, uploaded
from tests.dates import day
from tests.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer
from tests.support import ADMIN


async def pending_claim(api: httpx.AsyncClient):
    worker = await enrolled_member(api)
    claim = await file_claim(api, worker, hospital_stay(day(3, 1)))
    assert claim["status"] == "pending_review"
    return worker, claim["id"]


def store_that_is_down(settings: dict[str, str], tmp_path: Path) -> DocumentStore:
    """The same kind of store as the service's, unreachable: a file where the folder should
    be, a bucket's address where nothing listens."""
    if settings["document_store"] == "local":
        blocked = tmp_path / "documents"
        blocked.write_text("a regular file where the folder should be")
        return LocalFolderStore(blocked)
    return S3Store(
        bucket=settings["s3_bucket"],
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )


async def test_an_uploaded_paper_lands_in_the_store_the_settings_name(
    api, claims_app: FastAPI, document_store_settings: dict[str, str], request
):
    worker, claim_id = await pending_claim(api)
    content = paper()
    document = await uploaded(api, claim_id, "invoice", worker.member, content=content)
    sha256 = hashlib.sha256(content).hexdigest()
    assert document["sha256"] == sha256

    store = claims_app.state.document_store
    if document_store_settings["document_store"] == "s3":
        assert isinstance(store, S3Store)
        s3_server: MotoServer = request.getfixturevalue("s3_server")
        assert sha256 in s3_server.keys(document_store_settings["s3_bucket"])
    else:
        assert isinstance(store, LocalFolderStore)
        folder = Path(document_store_settings["documents_dir"])
        assert (folder / sha256[:2] / sha256[2:4] / sha256).read_bytes() == content


async def test_the_store_down_makes_an_upload_503_with_no_row(
    api, claims_app: FastAPI, document_store_settings: dict[str, str], tmp_path: Path
):
    worker, claim_id = await pending_claim(api)
    working = claims_app.state.document_store
    claims_app.state.document_store = store_that_is_down(document_store_settings, tmp_path)
    try:
        response = await upload(api, claim_id, "invoice", worker.member)
    finally:
        await claims_app.state.document_store.close()
        claims_app.state.document_store = working
    problem(response, 503)
    assert (await api.get(documents_url(claim_id), headers=ADMIN)).json()["items"] == []
    # Back up: the same upload is taken.
    await uploaded(api, claim_id, "invoice", worker.member)


async def test_the_store_down_makes_a_download_503(
    api, claims_app: FastAPI, document_store_settings: dict[str, str], tmp_path: Path
):
    worker, claim_id = await pending_claim(api)
    content = paper("png")
    document = await uploaded(api, claim_id, "invoice", worker.member, content=content)
    url = f"{documents_url(claim_id)}/{document['id']}/content"
    working = claims_app.state.document_store
    claims_app.state.document_store = store_that_is_down(document_store_settings, tmp_path)
    try:
        response = await api.get(url, headers=worker.member)
    finally:
        await claims_app.state.document_store.close()
        claims_app.state.document_store = working
    problem(response, 503)
    downloaded = await api.get(url, headers=worker.member)
    assert downloaded.status_code == 200 and downloaded.content == content


async def test_the_store_down_makes_the_service_not_ready(
    claims_app: FastAPI, document_store_settings: dict[str, str], tmp_path: Path
):
    """A claims process whose papers cannot be stored says it is not ready, like one whose
    database is gone (an orchestrator's readiness probe, compose's healthcheck)."""
    transport = httpx.ASGITransport(app=claims_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://claims") as client:
        ready = await client.get("/healthz")
        assert ready.status_code == 200
        assert ready.json()["document_store"] == "ok"
        working = claims_app.state.document_store
        claims_app.state.document_store = store_that_is_down(document_store_settings, tmp_path)
        try:
            down = await client.get("/healthz")
        finally:
            await claims_app.state.document_store.close()
            claims_app.state.document_store = working
    problem(down, 503)
    assert down.json()["detail"] == "the document store does not answer"


@pytest.mark.only(store="s3")
async def test_a_bucket_that_forbids_the_existence_check_still_takes_the_paper(
    api, claims_app: FastAPI, document_store_settings: dict[str, str], request
):
    """AWS answers a HEAD on a missing key with 403, not 404, when the keys may not list the
    bucket (no s3:ListBucket): the upload goes on to its PUT. moto answers 404 there, so the
    bucket's 403 is given to the client the way botocore receives it (a `before-call` answer);
    the PUT goes to the bucket."""
    worker, claim_id = await pending_claim(api)
    client = await claims_app.state.document_store._s3()

    def forbidden(**_: object) -> tuple[AWSResponse, dict[str, object]]:
        answer = {"Error": {"Code": "403", "Message": "Forbidden"}, "ResponseMetadata": {}}
        return AWSResponse("https://bucket/key", 403, {}, None), answer

    client.meta.events.register("before-call.s3.HeadObject", forbidden)
    try:
        content = paper()
        document = await uploaded(api, claim_id, "invoice", worker.member, content=content)
    finally:
        client.meta.events.unregister("before-call.s3.HeadObject", forbidden)
    s3_server: MotoServer = request.getfixturevalue("s3_server")
    assert document["sha256"] in s3_server.keys(document_store_settings["s3_bucket"])
    downloaded = await api.get(
        f"{documents_url(claim_id)}/{document['id']}/content", headers=worker.member
    )
    assert downloaded.content == content
