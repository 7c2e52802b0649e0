"""The layers: the kit (services.kit) is what both services import and imports neither of them
nor the programs that run them (services.stack); the services import the kit, never the
programs. Checked on every import statement, module level or inside a function."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if name.startswith(forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


APPS = ("members_api", "claims_api")
PROGRAMS = ("services.stack",)


def test_the_kit_imports_no_app_and_no_program() -> None:
    assert offending("services/kit", APPS + PROGRAMS) == []


@pytest.mark.parametrize("app", APPS)
def test_a_service_imports_the_kit_not_the_programs(app: str) -> None:
    assert offending(app, PROGRAMS) == []


def test_the_services_do_not_import_each_other() -> None:
    assert offending("members_api", ("claims_api",)) == []
    assert offending("claims_api", ("members_api",)) == []


def test_services_holds_only_the_two_packages() -> None:
    loose = sorted(p.name for p in (ROOT / "services").glob("*.py") if p.name != "__init__.py")
    assert loose == []
