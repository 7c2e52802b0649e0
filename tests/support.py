"""Test data makers: valid identity numbers and credit codes, tokens, plan bodies."""

import itertools
import random
from datetime import date
from typing import Any

from stdnum.cn import ric, uscc

from services.kit.auth import issue_token
from services.kit.settings import DEVELOPMENT_JWT_SECRET
from services.stack import plans
from tests.dates import cover_window

_serial = itertools.count(1)
_random = random.Random(20231231)


def national_id(birth: date = date(1985, 6, 15), sex: str = "F", region: str = "150102") -> str:
    """A valid 18-digit identity number for this birth date and sex; a new one each call."""
    sequence = next(_serial) % 500
    order = sequence * 2 + (1 if sex == "M" else 0)  # the 17th digit's parity is the sex
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")  # it ignores the last character given


def with_wrong_check_digit(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


def credit_code() -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + "150102" + "".join(_random.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body + "0")


def bearer(
    role: str,
    *,
    unit_id: str | None = None,
    member_id: str | None = None,
    secret: str = DEVELOPMENT_JWT_SECRET,
) -> dict[str, str]:
    token = issue_token(secret, role=role, unit_id=unit_id, member_id=member_id)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("admin")
AUDITOR = bearer("auditor")
REVIEWER = bearer("reviewer")
FINANCE = bearer("finance")


def plan_body(code: str, kind: str = "hospital_reimbursement", **overrides: Any) -> dict[str, Any]:
    """A plan open for enrolment today, covering the cover year (tests.dates); overrides
    replace top-level keys. The same builder as the demo's plans (services.stack.plans)."""
    return plans.plan_body(code, kind, **{**cover_window(), **overrides})


def valid_national_id(
    birth: date = date(1985, 6, 15), sex: str = "F", region: str = "150102"
) -> str:
    """The same as national_id() (kept for the tests that call it by this name)."""
    return national_id(birth, sex, region)


# --- plans, enrolments, coverage ------------------------------------------------------------


async def new_unit(client: Any, name: str = "呼和浩特市第一医院", **fields: Any) -> str:
    response = await client.post("/api/v1/units", json={"name": name, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def new_plan(
    client: Any, code: str, kind: str = "hospital_reimbursement", **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/plans", json=plan_body(code, kind, **overrides), headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return response.json()


async def new_member(
    client: Any, unit_id: str, *, birth: date = date(1985, 6, 15), sex: str = "F"
) -> str:
    """A worker registered through the API; sex and birth date come from the identity number.
    Region 110101 (Beijing Dongcheng) has existed since before any birth year a test uses."""
    number = valid_national_id(birth, sex, region="110101")
    body = {"national_id": number, "name": "王芳", "unit_id": unit_id}
    response = await client.post("/api/v1/members", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def member_leaves(client: Any, member_id: str, left_on: date) -> None:
    body = {"status": "left", "left_on": str(left_on)}
    response = await client.patch(f"/api/v1/members/{member_id}", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text


async def enrol(
    client: Any, member_id: str, plan_code: str, shares: int = 1, headers: Any = None, **extra: Any
) -> Any:
    body = {"member_id": member_id, "plan_code": plan_code, "shares": shares, **extra}
    return await client.post("/api/v1/enrollments", json=body, headers=headers or ADMIN)


def metric_value(exposition: str, series: str) -> float:
    """The value of one series (name and labels, as Prometheus writes them, then a space) in a
    /metrics text; 0 when it is not there yet."""
    found = [line for line in exposition.splitlines() if line.startswith(series)]
    return float(found[0].removeprefix(series)) if found else 0.0
