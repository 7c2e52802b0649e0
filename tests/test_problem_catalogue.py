"""Every `code` a service answers is named once, in its catalogue (services.kit.problems), and the
service's OpenAPI document lists it on the routes that can answer it."""

import ast
from pathlib import Path

import pytest

from claims_api import problems as claims_problems
from claims_api.app import create_app as create_claims_app
from claims_api.claims.assessing import ALL_REASON_CODES
from claims_api.engine import REASON_CODES
from members_api import problems as members_problems
from members_api.app import create_app as create_members_app
from services.kit import errors
from services.kit.problems import SHARED, ProblemType

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("members_api", "claims_api", "services")
# The engine's reason codes are claim assessment reasons, not problems (claims_api.problems).
NOT_SCANNED = (ROOT / "claims_api" / "engine",)
CATALOGUE_MODULES = {
    ROOT / "services" / "kit" / "problems.py",
    ROOT / "members_api" / "problems.py",
    ROOT / "claims_api" / "problems.py",
}
CATALOGUES = {"members": members_problems.CATALOGUE, "claims": claims_problems.CATALOGUE}
APPS = {"members": create_members_app, "claims": create_claims_app}


def _problem_classes() -> set[str]:
    names, pending = set(), [errors.Problem]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return names


def _modules() -> list[Path]:
    paths = [path for source in SOURCES for path in sorted((ROOT / source).rglob("*.py"))]
    return [path for path in paths if not any(path.is_relative_to(p) for p in NOT_SCANNED)]


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _raised_codes() -> list[tuple[str, str]]:
    """(where, what): each problem built with a `code=` of its own, and each catalogue entry
    made outside a catalogue."""
    problem_classes = _problem_classes()
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if _called(node) == "ProblemType" and path not in CATALOGUE_MODULES:
                found.append((where, "a ProblemType outside a catalogue module"))
            if _called(node) not in problem_classes:
                continue
            for keyword in node.keywords:
                if keyword.arg == "code":
                    found.append((where, ast.unparse(keyword.value)))
    return found


def test_no_problem_is_raised_with_a_code_of_its_own():
    """A code is raised as `TYPE.error(...)` of a catalogued type; the one exception is
    services.kit.db_errors, whose code is its catalogue entry's."""
    allowed = {"DATABASE_UNAVAILABLE.code"}
    assert [(where, code) for where, code in _raised_codes() if code not in allowed] == []


def test_the_scan_sees_a_code_typed_at_a_raise_site(tmp_path, monkeypatch):
    bad = tmp_path / "services" / "bad.py"
    bad.parent.mkdir()
    bad.write_text('raise RuleViolation("no", code="made_up")\n')
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert _raised_codes() == [("services/bad.py:1", "'made_up'")]


@pytest.mark.parametrize("module", [members_problems, claims_problems])
def test_every_problem_type_of_a_catalogue_module_is_in_its_catalogue(module):
    made = [value for value in vars(module).values() if isinstance(value, ProblemType)]
    made += list(getattr(module, "NOT_PAYABLE", {}).values())
    assert {t.code for t in made} - set(module.CATALOGUE) == set()
    assert set(SHARED) <= set(module.CATALOGUE)


def test_every_engine_reason_code_refuses_an_approval_as_itself():
    """Approving a claim the rules do not pay answers its first reason code (README)."""
    for reason in REASON_CODES:
        entry = claims_problems.CATALOGUE[reason]
        assert (entry.status, entry.title) == (422, "Refused by a rule")
        assert claims_problems.not_payable([reason, "cap_reached"]) is entry


def test_every_reason_a_claim_is_refused_for_refuses_an_approval_with_a_catalogued_code():
    """Not only the engine's: the payment gate's and those from the claims held (an
    overlapping stay), which a reopened claim may carry to its approval."""
    for reason in ALL_REASON_CODES:
        assert claims_problems.not_payable([reason]).code in claims_problems.CATALOGUE


def _documented(document: dict) -> dict[str, set[int]]:
    """code -> the statuses under which some route of the document lists it."""
    found: dict[str, set[int]] = {}
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/problem+json", {})
                for code, example in content.get("examples", {}).items():
                    assert example["value"]["code"] == code
                    assert example["value"]["status"] == int(status)
                    assert f"`{code}`" in response["description"], (status, code)
                    found.setdefault(code, set()).add(int(status))
    return found


@pytest.mark.parametrize("service", sorted(CATALOGUES))
def test_every_catalogued_code_is_in_the_openapi_document_under_its_status(service):
    documented = _documented(APPS[service]().openapi())
    catalogue = CATALOGUES[service]
    assert set(documented) == set(catalogue)
    for code, entry in catalogue.items():
        assert documented[code] == {entry.status}, code


def test_a_route_lists_the_codes_it_can_answer():
    paths = create_claims_app().openapi()["paths"]
    answers = paths["/api/v1/payouts"]["post"]["responses"]["422"]
    examples = answers["content"]["application/problem+json"]["examples"]
    assert set(examples) == {"not_approved", "separation_of_duties", "no_payout_account"}
    assert answers["description"].endswith(
        "codes: `not_approved`, `separation_of_duties`, `no_payout_account`"
    )


def test_invalid_input_keeps_what_it_is_given():
    problem = errors.InvalidInput(
        ["file"], "too long", code="line_too_long", headers={"Retry-After": "1"}, line=3
    )
    assert problem.headers == {"Retry-After": "1"}
    assert problem.body() == {
        "type": "https://mutualaid.example/problems/line_too_long",
        "title": "Invalid input",
        "status": 422,
        "detail": "file: too long",
        "code": "line_too_long",
        "errors": [{"loc": ["file"], "msg": "too long"}],
        "line": 3,
    }
