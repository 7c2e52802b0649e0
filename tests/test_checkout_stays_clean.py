"""Hypothesis and schemathesis write nothing into the checkout: Hypothesis' home (its example
database) is outside it, in the user's cache, one directory per checkout (tests/conftest.py),
and generating schemathesis cases with Hypothesis' example database on leaves no new file in
the checkout's .hypothesis or .schemathesis. (That the whole suite leaves nothing there is
scripts/test.sh's check, which compares `git status` before and after.)"""

import time
from pathlib import Path

import schemathesis
from hypothesis import given, settings
from hypothesis.configuration import storage_directory

CHECKOUT = Path(__file__).resolve().parents[1]
LEFT_BEHIND = (".hypothesis", ".schemathesis")

SCHEMA = {
    "openapi": "3.1.0",
    "info": {"title": "one operation", "version": "1"},
    "paths": {
        "/units": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"name": {"type": "string", "minLength": 1}},
                                "required": ["name"],
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "created"}},
            }
        }
    },
}


def written_since(started: float) -> list[Path]:
    found = []
    for name in LEFT_BEHIND:
        root = CHECKOUT / name
        if root.exists():
            paths = [root, *root.rglob("*")]
            found += [path for path in paths if path.stat().st_mtime >= started]
    return found


def test_hypothesis_keeps_its_files_outside_the_checkout() -> None:
    home = storage_directory(intent_to_write=False).home_directory.resolve()
    assert not home.is_relative_to(CHECKOUT), home


def test_generating_cases_writes_nothing_into_the_checkout() -> None:
    started = time.time() - 1  # file systems keep mtimes coarser than time.time()
    operation = schemathesis.openapi.from_dict(SCHEMA)["/units"]["POST"]

    @settings(max_examples=5)  # otherwise the default settings: with Hypothesis' example database
    @given(case=operation.as_strategy())
    def generate(case: object) -> None:
        assert case is not None

    generate()
    assert written_since(started) == []
