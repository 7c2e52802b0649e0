"""A claim's papers through nginx in front of the split topology: a plan that requires them,
the claim waiting in needs_info, the member's phone uploads (one of 5 MiB, over the gateway's
2 MiB limit of other routes), the claim approved automatically with the last one, the reviewer
downloading a paper, and the download in the audit log."""

import httpx
import pytest

from services.stack import papers
from services.stack.launcher import SplitStack
from tests.e2e.conftest import created, enrol_new_member, hospital_stay, request_id
from tests.support import AUDITOR, REVIEWER

pytestmark = pytest.mark.e2e

REQUIRED = ["invoice", "settlement_sheet", "discharge_summary"]


def test_papers_complete_a_waiting_claim_and_every_download_is_audited(
    gateway: httpx.Client, split_stack: SplitStack
) -> None:
    worker = enrol_new_member(gateway, required_documents=REQUIRED, auto_approve_limit="5000.00")
    reference = request_id()
    claim = created(
        gateway.post(
            "/api/v1/claims", json=worker.claim(hospital_stay(reference)), headers=worker.member
        )
    )
    assert claim["status"] == "needs_info"
    assert claim["documents_missing"] == REQUIRED

    big = papers.pdf(f"{reference}-settlement", padding=5 * 1024 * 1024)
    contents = {
        "invoice": ("发票.jpg", papers.jpeg(f"{reference}-invoice"), "image/jpeg"),
        "settlement_sheet": ("结算单.pdf", big, "application/pdf"),
        "discharge_summary": ("出院记录.png", papers.png(f"{reference}-summary"), "image/png"),
    }
    answers = {}
    for kind, file in contents.items():
        response = gateway.post(
            f"/api/v1/claims/{claim['id']}/documents",
            files={"file": file},
            data={"kind": kind},
            headers=worker.member,
        )
        answers[kind] = created(response)
    assert answers["settlement_sheet"]["size"] == len(big)
    assert answers["discharge_summary"]["claim_status"] == "approved"

    stored = gateway.get(f"/api/v1/claims/{claim['id']}", headers=REVIEWER).json()
    assert stored["status"] == "approved" and stored["documents_missing"] == []
    assert [e["to_status"] for e in stored["history"]] == ["submitted", "needs_info", "approved"]

    summary = answers["discharge_summary"]
    url = f"/api/v1/claims/{claim['id']}/documents/{summary['id']}/content"
    download = gateway.get(url, headers=REVIEWER)
    assert download.status_code == 200
    assert download.content == contents["discharge_summary"][1]
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment;")

    log = gateway.get(
        "/api/v1/audit-events",
        params={"entity": "claim_document", "entity_id": summary["id"]},
        headers=AUDITOR,
    )
    assert log.status_code == 200, log.text
    downloads = [e for e in log.json()["items"] if e["action"] == "document.download"]
    assert len(downloads) == 1 and downloads[0]["role"] == "reviewer"
