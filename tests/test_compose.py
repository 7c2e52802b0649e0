"""docker-compose.yml, validated by Compose itself (Debian's docker-compose renders and checks
the file without a container engine), and the gateway config its image renders at start."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {
    "MUTUALAID_JWT_SECRET": "a-test-secret-that-is-long-enough-0123456789",
    "POSTGRES_PASSWORD": "a-test-password",
    "MINIO_ROOT_PASSWORD": "a-test-bucket-password",
}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is required to validate docker-compose.yml (scripts/test.sh)")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


class TestComposeFile:
    def test_it_refuses_to_start_without_the_secrets(self) -> None:
        for missing in SECRETS:
            result = compose_config({k: v for k, v in SECRETS.items() if k != missing})
            assert result.returncode != 0
            assert missing in result.stderr

    def test_one_database_per_service_made_on_first_start(self, compose: dict[str, Any]) -> None:
        postgres = compose["services"]["postgres"]
        init = [v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in str(v)]
        assert len(init) == 1
        script = (ROOT / "services/docker/postgres-init.sql").read_text()
        assert "CREATE DATABASE members;" in script and "CREATE DATABASE claims;" in script
        urls = {
            compose["services"]["members"]["environment"]["MEMBERS_DATABASE_URL"],
            compose["services"]["claims"]["environment"]["CLAIMS_DATABASE_URL"],
        }
        assert urls == {
            "postgresql://postgres@postgres:5432/members",
            "postgresql://postgres@postgres:5432/claims",
        }

    def test_migrations_run_once_before_their_service(self, compose: dict[str, Any]) -> None:
        services = compose["services"]
        for service in ("members", "claims"):
            migrate = services[f"migrate-{service}"]
            assert migrate["command"] == ["mutualaid", "migrate", service]
            assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
            depends = services[service]["depends_on"]
            assert depends[f"migrate-{service}"]["condition"] == "service_completed_successfully"
            assert depends["postgres"]["condition"] == "service_healthy"
            environment = services[service]["environment"]
            assert environment[f"{service.upper()}_MIGRATE_ON_START"] == "false"
        assert services["claims"]["depends_on"]["members"]["condition"] == "service_healthy"

    def test_every_long_running_service_has_a_health_check(self, compose: dict[str, Any]) -> None:
        services = compose["services"]
        assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
        for name in ("members", "claims", "gateway"):
            assert "/healthz" in " ".join(services[name]["healthcheck"]["test"])
        gateway = services["gateway"]["depends_on"]
        assert {k: v["condition"] for k, v in gateway.items()} == {
            "members": "service_healthy",
            "claims": "service_healthy",
        }

    def test_only_the_gateway_is_published_and_claims_can_scale(
        self, compose: dict[str, Any]
    ) -> None:
        services = compose["services"]
        published = {name for name, service in services.items() if service.get("ports")}
        assert published == {"gateway"}
        [port] = services["gateway"]["ports"]
        assert (str(port.get("published")), port.get("target")) == ("8000", 8000)
        assert "container_name" not in services["claims"]

    def test_production_settings_come_from_the_environment(self, compose: dict[str, Any]) -> None:
        for name in ("members", "claims", "migrate-members", "migrate-claims"):
            environment = compose["services"][name]["environment"]
            assert environment["MUTUALAID_ENVIRONMENT"] == "production"
            assert environment["MUTUALAID_JWT_SECRET"] == SECRETS["MUTUALAID_JWT_SECRET"]
            assert environment["PGPASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
        assert compose["services"]["claims"]["environment"]["CLAIMS_MEMBERS_URL"] == (
            "http://members:8000"
        )

    def test_claim_documents_go_to_the_bucket_every_replica_shares(
        self, compose: dict[str, Any]
    ) -> None:
        services = compose["services"]
        environment = services["claims"]["environment"]
        assert environment["CLAIMS_DOCUMENT_STORE"] == "s3"
        assert environment["CLAIMS_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert environment["CLAIMS_S3_SECRET_ACCESS_KEY"] == SECRETS["MINIO_ROOT_PASSWORD"]
        minio = services["minio"]["environment"]
        assert environment["CLAIMS_S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
        assert minio["MINIO_ROOT_PASSWORD"] == SECRETS["MINIO_ROOT_PASSWORD"]
        bucket = environment["CLAIMS_S3_BUCKET"]
        assert f"store/{bucket}" in " ".join(services["make-bucket"]["command"])
        depends = services["claims"]["depends_on"]
        assert depends["make-bucket"]["condition"] == "service_completed_successfully"
        assert services["make-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
        assert not services["minio"].get("ports")

    def test_images_are_built_from_the_repository(self, compose: dict[str, Any]) -> None:
        dockerfile = (ROOT / "services/docker/Dockerfile").read_text()
        for name, service in compose["services"].items():
            if name in ("postgres", "minio", "make-bucket"):
                continue
            build = service["build"]
            assert build["dockerfile"] == "services/docker/Dockerfile"
            assert Path(build["context"]).resolve() == ROOT
            assert f" AS {build['target']}" in dockerfile


class TestComposeGateway:
    def render(self, **env: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "services.stack.gateway.nginx", "--compose", "--stdout"],
            env={**os.environ, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout

    def test_upstreams_are_the_compose_services(self) -> None:
        config = self.render()
        assert "server members:8000 " in config and "server claims:8000 " in config
        assert "listen 8000;" in config
        assert "access_log /dev/stdout " in config

    def test_cors_and_limits_come_from_the_environment(self) -> None:
        config = self.render(
            MUTUALAID_CORS_ORIGINS="https://a.example, https://b.example:8443",
            MUTUALAID_GATEWAY_RATE_PER_SECOND="7",
            MUTUALAID_GATEWAY_MAX_BODY="1m",
        )
        assert '"https://a.example" $http_origin;' in config
        assert '"https://b.example:8443" $http_origin;' in config
        assert "rate=7r/s" in config and "client_max_body_size 1m;" in config

    def test_the_client_limits_are_the_embedded_gateways_settings(self) -> None:
        config = self.render(
            MUTUALAID_GATEWAY_MAX_HEADER_BYTES="16384",
            MUTUALAID_GATEWAY_CLIENT_HEADER_TIMEOUT_SECONDS="7",
            MUTUALAID_GATEWAY_CLIENT_BODY_TIMEOUT_SECONDS="9",
            MUTUALAID_GATEWAY_KEEPALIVE_TIMEOUT_SECONDS="11",
            MUTUALAID_GATEWAY_SEND_TIMEOUT_SECONDS="13",
        )
        assert "large_client_header_buffers 4 4096;" in config
        assert "client_header_timeout 7s;" in config and "client_body_timeout 9s;" in config
        assert "keepalive_timeout 11s;" in config and "send_timeout 13s;" in config

    def test_nginx_accepts_it(self, tmp_path: Path) -> None:
        """The host names resolve only inside the compose network: loopback stands in."""
        if shutil.which("nginx") is None:
            pytest.fail("nginx is required (scripts/test.sh installs it)")
        config = (
            self.render()
            .replace("members:8000", "127.0.0.1:1")
            .replace("claims:8000", "127.0.0.1:2")
        )
        config = config.replace("/tmp/gateway", str(tmp_path))
        (tmp_path / "nginx.conf").write_text(config)
        for sub in ("logs", "tmp"):
            (tmp_path / sub).mkdir()
        result = subprocess.run(
            [
                "nginx",
                "-t",
                "-p",
                str(tmp_path),
                "-c",
                str(tmp_path / "nginx.conf"),
                "-e",
                "stderr",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
