"""Tokens that must not work, and settings that must not start (production ones, a malformed
clock pin)."""

import base64
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import jwt
import pytest
from pydantic import ValidationError

from claims_api.settings import ClaimsSettings
from members_api.settings import MembersSettings
from services.kit import clock
from services.kit.auth import issue_token
from services.kit.settings import DEVELOPMENT_JWT_SECRET
from tests.dates import clock_at
from tests.support import ADMIN, new_member, new_unit

STRONG_SECRET = "x" * 48
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/mutualaid"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _claims(**overrides) -> dict:
    exp = int(time.time()) + 3600
    return {"sub": "someone", "role": "admin", "exp": exp, **overrides}


class TestTokenAttacks:
    @pytest.mark.parametrize(
        "token",
        [
            pytest.param(
                issue_token(DEVELOPMENT_JWT_SECRET, role="admin", ttl=timedelta(seconds=-5)),
                id="expired",
            ),
            pytest.param(
                issue_token("another-secret-entirely-of-forty-characters", role="admin"),
                id="wrong-key",
            ),
            pytest.param(_unsigned(_claims()), id="alg-none"),
            pytest.param(
                jwt.encode({"role": "admin", "exp": _claims()["exp"]}, DEVELOPMENT_JWT_SECRET),
                id="no-sub",
            ),
            pytest.param(
                jwt.encode({"sub": "x", "role": "admin"}, DEVELOPMENT_JWT_SECRET), id="no-exp"
            ),
            pytest.param(jwt.encode(_claims(role="root"), DEVELOPMENT_JWT_SECRET), id="bad-role"),
            pytest.param(jwt.encode(_claims(role="hr"), DEVELOPMENT_JWT_SECRET), id="hr-no-unit"),
            pytest.param(
                jwt.encode(_claims(role="member"), DEVELOPMENT_JWT_SECRET), id="member-no-id"
            ),
            pytest.param("not-a-token", id="garbage"),
        ],
    )
    async def test_a_bad_token_is_401_problem(self, api, token):
        response = await api.get("/api/v1/plans", headers=_bearer(token))
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize("sub", ["system", "SYSTEM", " System ", "ｓｙｓｔｅｍ"])
    async def test_no_token_may_pass_for_the_system(self, api, sub):
        """The system's own approvals are recorded as `system`: a person with that name could
        not be told from it, nor pay what it approved."""
        token = issue_token(DEVELOPMENT_JWT_SECRET, role="finance", sub=sub)
        response = await api.get("/api/v1/plans", headers=_bearer(token))
        assert response.status_code == 401, response.text
        assert "reserved" in response.json()["detail"]

    async def test_a_sub_too_long_to_record_is_refused(self, api):
        """Who did what is recorded by `sub` (200 characters): a longer one is a 401 at the
        door, never a 500 when an approval or a webhook change is written."""
        fits = issue_token(DEVELOPMENT_JWT_SECRET, role="admin", sub="a" * 200)
        assert (await api.get("/api/v1/plans", headers=_bearer(fits))).status_code == 200
        token = issue_token(DEVELOPMENT_JWT_SECRET, role="admin", sub="a" * 201)
        response = await api.get("/api/v1/plans", headers=_bearer(token))
        assert response.status_code == 401, response.text
        assert "longer than 200" in response.json()["detail"]

    async def test_a_token_that_worked_is_refused_once_it_expires(self, api, monkeypatch):
        token = issue_token(DEVELOPMENT_JWT_SECRET, role="admin", ttl=timedelta(minutes=5))
        assert (await api.get("/api/v1/plans", headers=_bearer(token))).status_code == 200
        later = time.time() + 301
        monkeypatch.setattr("services.kit.auth.time.time", lambda: later)
        expired = await api.get("/api/v1/plans", headers=_bearer(token))
        assert expired.status_code == 401, expired.text
        assert "expired" in expired.json()["detail"]

    async def test_a_member_token_naming_another_member_finds_nothing(self, api):
        unit = await new_unit(api)
        me, other = await new_member(api, unit), await new_member(api, unit)
        token = issue_token(DEVELOPMENT_JWT_SECRET, role="member", member_id=me)
        assert (await api.get(f"/api/v1/members/{me}", headers=_bearer(token))).status_code == 200
        stranger = await api.get(f"/api/v1/members/{other}", headers=_bearer(token))
        assert stranger.status_code == 404

    async def test_an_hr_token_of_another_unit_finds_nothing(self, api):
        unit, other_unit = await new_unit(api), await new_unit(api, name="Other")
        member = await new_member(api, unit)
        token = issue_token(DEVELOPMENT_JWT_SECRET, role="hr", unit_id=other_unit)
        response = await api.get(f"/api/v1/members/{member}", headers=_bearer(token))
        assert response.status_code == 404
        assert (await api.get(f"/api/v1/members/{member}", headers=ADMIN)).status_code == 200


class TestProductionSettings:
    """Production with local (HS256) tokens explicitly allowed: the shared secret's rules.
    Production with an identity provider: tests/test_identity_provider.py."""

    @pytest.fixture(autouse=True)
    def _local_tokens_allowed(self, monkeypatch):
        monkeypatch.setenv("MUTUALAID_ALLOW_LOCAL_TOKENS", "true")

    @pytest.mark.parametrize("settings_class", [MembersSettings, ClaimsSettings])
    def test_default_secret_is_refused(self, settings_class, monkeypatch):
        monkeypatch.delenv("MUTUALAID_JWT_SECRET", raising=False)
        with pytest.raises(ValidationError, match="MUTUALAID_JWT_SECRET"):
            settings_class(environment="production", database_url=POSTGRES_URL)

    @pytest.mark.parametrize("settings_class", [MembersSettings, ClaimsSettings])
    def test_short_secret_is_refused(self, settings_class, monkeypatch):
        monkeypatch.setenv("MUTUALAID_JWT_SECRET", "short-secret")
        with pytest.raises(ValidationError, match="at least 32"):
            settings_class(environment="production", database_url=POSTGRES_URL)

    @pytest.mark.parametrize("settings_class", [MembersSettings, ClaimsSettings])
    def test_sqlite_is_refused(self, settings_class, monkeypatch):
        monkeypatch.setenv("MUTUALAID_JWT_SECRET", STRONG_SECRET)
        with pytest.raises(ValidationError, match="PostgreSQL"):
            settings_class(environment="production", database_url="sqlite:///x.db")

    @pytest.mark.parametrize("settings_class", [MembersSettings, ClaimsSettings])
    def test_a_pinned_clock_is_refused(self, settings_class, monkeypatch):
        """The suite runs on a pinned clock: production must never start on one."""
        monkeypatch.setenv("MUTUALAID_JWT_SECRET", STRONG_SECRET)
        assert clock.pinned() is not None
        with pytest.raises(ValidationError, match=clock.PIN_VARIABLE):
            settings_class(environment="production", database_url=POSTGRES_URL)

    @pytest.mark.parametrize(
        "value", ["2027-13-01T00:00:00+08:00", "2027-01-01T00:01:00", "tomorrow"]
    )
    def test_a_malformed_pin_is_one_line_naming_the_variable(self, value):
        env = {**os.environ, clock.PIN_VARIABLE: value}
        command = [sys.executable, "-m", "services.stack.cli", "token", "--role", "admin"]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"{clock.PIN_VARIABLE}={value!r} is not an instant")
        assert "2027-01-01T00:01:00+08:00" in lines[0]  # what a good one looks like

    def test_a_strong_secret_and_postgres_start(self, monkeypatch):
        monkeypatch.setenv("MUTUALAID_JWT_SECRET", STRONG_SECRET)
        monkeypatch.setenv("MUTUALAID_ENVIRONMENT", "production")
        monkeypatch.setenv("MEMBERS_DATABASE_URL", POSTGRES_URL)
        with clock_at(None):  # production runs on the real clock
            settings = MembersSettings()
        assert settings.environment == "production"
        assert settings.jwt_secret.get_secret_value() == STRONG_SECRET
