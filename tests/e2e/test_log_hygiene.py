"""Identity numbers, bank card numbers and tokens never reach a log.

A whole journey through the gateway of a split stack of this module's own: units, workers
registered with their identity numbers (by the admin, by their unit's hr, from an enrolment
list), searched for by identity number, a bank card, an enrolment, a claim, its review, its
payment, the bank file and the bank's result, the reports and the audit log; then what goes
wrong: a forged, a tampered and a malformed token, an identity number with a wrong check digit,
an identity number typed where an id belongs (in the path, in a query, in a claim), searches by
identity number while the registry is down and beyond the rate limit. Then every file every
process wrote in the run directory (the services' JSON logs, nginx's access and error logs and
its own output) is read whole."""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kit.clock import today
from services.stack.launcher import SplitStack
from tests.cards import card_number
from tests.dates import COVER_START, day
from tests.split_stack import BURST, PrivatePostgres, running_stack
from tests.support import (
    ADMIN,
    AUDITOR,
    FINANCE,
    REVIEWER,
    bearer,
    credit_code,
    plan_body,
    valid_national_id,
    with_wrong_check_digit,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    private_postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SplitStack]:
    with running_stack(
        tmp_path_factory.mktemp("hygiene"),
        kind="hygiene",
        postgres_url=private_postgres.url,
        claims_replicas=1,
    ) as stack:
        yield stack


class Journey:
    """A client of the gateway that remembers every identity number and token it used, and
    the request id of every request it made."""

    def __init__(self, stack: SplitStack) -> None:
        self.stack = stack
        self.client = httpx.Client(base_url=stack.gateway_url, timeout=30)
        self.numbers: set[str] = set()
        self.tokens: set[str] = {
            h["Authorization"].split()[1] for h in (ADMIN, AUDITOR, FINANCE, REVIEWER)
        }
        self.request_ids: list[str] = []
        self.cards: set[str] = set()
        self.in_path = ""  # the identity number a client typed where a member id belongs

    def number(self, birth: date = date(1985, 6, 15), sex: str = "F") -> str:
        number = valid_national_id(birth, sex, region="150102")
        self.numbers.add(number)
        return number

    def wrong(self, number: str) -> str:
        wrong = with_wrong_check_digit(number)
        self.numbers.add(wrong)
        return wrong

    def bearer(self, role: str, **claims: Any) -> dict[str, str]:
        headers = bearer(role, **claims)
        self.tokens.add(headers["Authorization"].split()[1])
        return headers

    def send(
        self, method: str, path: str, headers: dict[str, str], expect: int, **kwargs: Any
    ) -> httpx.Response:
        rid = f"hygiene-{uuid.uuid4().hex}"
        self.request_ids.append(rid)
        response = self.client.request(
            method, path, headers={**headers, "X-Request-ID": rid}, **kwargs
        )
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response

    def json(self, method: str, path: str, headers: dict[str, str], expect: int, **kwargs: Any):
        return self.send(method, path, headers, expect, **kwargs).json()


def a_whole_journey(j: Journey) -> None:
    year = today().year
    unit = j.json(
        "POST",
        "/api/v1/units",
        ADMIN,
        201,
        json={"name": "鄂尔多斯市第二中学", "credit_code": credit_code(), "insured_headcount": 80},
    )
    hr = j.bearer("hr", unit_id=unit["id"])
    code = f"HYG{uuid.uuid4().hex[:6].upper()}-{year}"
    j.json("POST", "/api/v1/plans", ADMIN, 201, json=plan_body(code))

    first, second = j.number(), j.number(date(1990, 3, 8), "M")
    member = j.json(
        "POST",
        "/api/v1/members",
        ADMIN,
        201,
        json={"national_id": first, "name": "李娜", "unit_id": unit["id"], "phone": "13800138000"},
    )
    j.json(
        "POST",
        "/api/v1/members",
        {**hr, "Idempotency-Key": uuid.uuid4().hex},
        201,
        json={"national_id": second, "name": "王强", "unit_id": unit["id"]},
    )
    found = j.json("GET", "/api/v1/members", ADMIN, 200, params={"q": first})
    assert [m["id"] for m in found["items"]] == [member["id"]]
    j.json("GET", "/api/v1/members", hr, 200, params={"q": second})
    j.json("GET", f"/api/v1/members/{member['id']}", hr, 200)
    card = card_number()
    j.cards.add(card)
    account = {"account_name": "李娜", "account_number": card, "bank_name": "中国工商银行"}
    j.json("PUT", f"/api/v1/members/{member['id']}/payout-account", hr, 200, json=account)
    j.json("GET", f"/api/v1/members/{member['id']}/payout-account", AUDITOR, 200)
    j.json("PATCH", f"/api/v1/members/{member['id']}", ADMIN, 200, json={"phone": "13900139000"})
    j.json(
        "POST",
        "/api/v1/enrollments",
        ADMIN,
        201,
        json={
            "member_id": member["id"],
            "plan_code": code,
            "shares": 1,
            "starts_on": str(COVER_START),
        },
    )
    listed, refused_row = j.number(date(1979, 11, 2)), j.wrong(j.number(date(1988, 1, 20)))
    roster = f"national_id,name,phone,shares\n{listed},赵敏,13700137000,1\n{refused_row},钱多,,1\n"
    j.json(
        "POST",
        "/api/v1/enrollments/import",
        hr,
        200,
        files={"file": ("roster.csv", roster.encode(), "text/csv")},
        data={"unit_id": unit["id"], "plan_code": code},
    )
    j.json(
        "GET",
        "/api/v1/coverage",
        ADMIN,
        200,
        params={"member_id": member["id"], "plan_code": code, "on": str(today())},
    )

    worker = j.bearer("member", member_id=member["id"])
    stay = {
        "admitted_on": str(day(1, 10)),
        "discharged_on": str(day(1, 15)),
        "hospital": "鄂尔多斯市中心医院",
        "diagnosis_codes": ["K35.8"],
        "invoice_numbers": [f"INV-HYG-{uuid.uuid4().hex[:8].upper()}"],
        "total_cost": "18000.00",
        "insurance_paid": "10000.00",
        "out_of_pocket_in_policy": "7500.00",
        "self_pay": "500.00",
    }
    body = {"member_id": member["id"], "plan_code": code, "facts": stay}
    j.json("POST", "/api/v1/claims/quote", worker, 200, json=body)
    claim = j.json(
        "POST", "/api/v1/claims", {**worker, "Idempotency-Key": uuid.uuid4().hex}, 201, json=body
    )
    j.json("GET", f"/api/v1/claims/{claim['id']}", worker, 200)
    if claim["status"] == "pending_review":
        j.json(
            "POST",
            f"/api/v1/claims/{claim['id']}/decision",
            REVIEWER,
            200,
            json={"decision": "approve", "reason": "invoices checked"},
        )
    batch = j.json(
        "POST",
        "/api/v1/payouts",
        FINANCE,
        201,
        json={"claim_ids": [claim["id"]], "paid_on": str(today()), "reference": "BANK-HYG-1"},
    )
    bank_file = f"/api/v1/payouts/{batch['id']}/bank-file"
    assert card in j.send("GET", bank_file, FINANCE, 200).content.decode("gb18030")
    amount = batch["entries"][0]["amount"]
    result = f"序号,账号,金额,状态,失败原因\n1,{card},{amount},失败,账户已销户\n".encode("gb18030")
    j.json(
        "POST",
        f"/api/v1/payouts/{batch['id']}/bank-result",
        FINANCE,
        200,
        files={"file": ("result.csv", result, "text/csv")},
    )
    j.json("GET", "/api/v1/payouts", FINANCE, 200, params={"plan_code": code})
    j.json("GET", "/api/v1/reports/claims", AUDITOR, 200, params={"plan_code": code})
    j.send(
        "GET", "/api/v1/reports/claims", AUDITOR, 200, params={"plan_code": code, "format": "csv"}
    )
    j.json("GET", "/api/v1/reports/enrollment", AUDITOR, 200, params={"plan_code": code})
    j.json("GET", "/api/v1/audit-events", ADMIN, 200, params={"entity": "member"})
    j.json("GET", "/api/v1/members", AUDITOR, 200, params={"unit_id": unit["id"]})

    # What goes wrong.
    forged = j.bearer("admin", secret="not-the-secret-" + "x" * 32)
    admin_token = ADMIN["Authorization"].split()[1]
    tampered = admin_token[:-6] + ("AAAAAA" if not admin_token.endswith("AAAAAA") else "BBBBBB")
    j.tokens.add(tampered)
    for headers in (
        forged,
        {"Authorization": f"Bearer {tampered}"},
        {"Authorization": "Bearer x.y"},
    ):
        j.send("GET", "/api/v1/members", headers, 401, params={"q": first})
        j.send("POST", "/api/v1/claims", headers, 401, json=body)
    j.send(
        "POST",
        "/api/v1/members",
        ADMIN,
        422,
        json={"national_id": j.wrong(j.number()), "name": "孙丽", "unit_id": unit["id"]},
    )
    j.in_path = first
    j.send("GET", f"/api/v1/members/{first}", ADMIN, 404)  # an identity number for an id
    j.send(
        "GET",
        "/api/v1/coverage",
        ADMIN,
        404,
        params={"member_id": second, "plan_code": code, "on": str(today())},
    )
    j.send("POST", "/api/v1/claims", ADMIN, 404, json={**body, "member_id": second})


def the_gateway_refusing(j: Journey) -> None:
    """Searches by identity number that nginx itself answers: the registry down (503), the
    rate limit reached (429)."""
    searched = j.number(date(1970, 7, 1), "M")
    j.stack.kill("members")
    try:
        j.send("GET", "/api/v1/members", ADMIN, 503, params={"q": searched})
        j.send(
            "POST",
            "/api/v1/members",
            ADMIN,
            503,
            json={"national_id": searched, "name": "周杰", "unit_id": "unt_x"},
        )
    finally:
        j.stack.restart("members")
    # At once, from another loopback address: a bucket of its own, the journey's is left alone.
    noisy = httpx.Client(
        base_url=j.stack.gateway_url,
        transport=httpx.HTTPTransport(local_address="127.0.0.4"),
        limits=httpx.Limits(max_connections=40),
    )

    def search(_: int) -> int:
        return noisy.get("/api/v1/members", params={"q": searched}, headers=ADMIN).status_code

    with noisy, ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(search, range(3 * BURST)))
    assert 429 in statuses, statuses


def every_file_written(run_dir: Path) -> dict[Path, str]:
    """Every file under the run directory but nginx's rendered config and docs page."""
    return {
        path: path.read_text(errors="replace")
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and path.name not in ("nginx.conf", "docs.html")
    }


def assert_nothing_secret(
    files: dict[Path, str], numbers: set[str], tokens: set[str], cards: set[str]
) -> None:
    needles = {number: "identity number" for number in numbers}
    needles |= {card: "bank card number" for card in cards}
    needles |= {number[:17]: "identity number (without its check digit)" for number in numbers}
    for token in tokens:
        needles[token] = "bearer token"
        needles[token.rsplit(".", 1)[-1]] = "token signature"
    found = [
        f"{what} {needle} in {path.name}"
        for path, text in files.items()
        for needle, what in needles.items()
        if needle and needle in text
    ]
    assert found == []


class TestLogHygiene:
    def test_no_identity_number_or_token_in_any_log_of_a_whole_journey(
        self, stack: SplitStack
    ) -> None:
        journey = Journey(stack)
        with journey.client:
            a_whole_journey(journey)
            the_gateway_refusing(journey)
        # Stopped, so that every process has written and closed its logs, shutdown included.
        stack.stop()

        files = every_file_written(stack.run_dir)
        names = {path.name for path in files}
        assert {"members.log", "claims-1.log", "nginx.log", "access.log", "error.log"} <= names
        assert len(journey.numbers) >= 7 and len(journey.tokens) >= 8
        # Not vacuous: each request of the journey is in nginx's log and, but for the two
        # nginx answered itself while the registry was down, in a service's.
        services_log = "".join(files[stack.log_path(name)] for name in stack.service_names)
        access = stack.topology.run_dir / "logs" / "access.log"
        assert all(rid in files[access] for rid in journey.request_ids)
        assert sum(rid not in services_log for rid in journey.request_ids) == 2
        assert journey.cards
        assert_nothing_secret(files, journey.numbers, journey.tokens, journey.cards)
        # What a path a client got wrong leaves behind: the number masked as the API masks it.
        masked = f"{journey.in_path[:6]}********{journey.in_path[-4:]}"
        assert f"/api/v1/members/{masked}" in files[access]
        assert f"/api/v1/members/{masked}" in files[stack.log_path("members")]
