"""deploy/compose/compose.yaml, checked for structure (no container engine here): a 3-node NATS
cluster with its configs, PostgreSQL, the one-shot jobs before the services, health checks,
volumes, and webhook workers that `--scale` can multiply."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
NATS_NODES = ("nats-1", "nats-2", "nats-3")
LONG_RUNNING = ("account-svc", "routing-svc", "webhook-api", "webhook-worker")
ONE_SHOT = ("streams", "account-bootstrap")
SCALABLE = ("webhook-worker",)


def _env(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return env


def test_every_parley_process_has_its_own_nats_credentials(compose: dict[str, Any]) -> None:
    """Each process that connects to NATS gets its own creds file (CONTRACT section 10), and
    account-svc the authority file of the auth callout."""
    expected = {
        "streams": "nats-admin",
        "account-svc": "nats-account-svc",
        "routing-svc": "nats-routing-svc",
        "webhook-api": "nats-webhook-svc",
        "webhook-worker": "nats-webhook-svc",
    }
    for name, secret in expected.items():
        service = compose["services"][name]
        assert secret in service["secrets"], name
        assert _env(service)["NATS_CREDS"] == f"/run/secrets/{secret}", name
        assert compose["secrets"][secret]["file"].startswith("./nats-auth/")
    account = _env(compose["services"]["account-svc"])
    assert account["ACCOUNT_NATS_AUTHORITY_FILE"] == "/run/secrets/nats-authority"


def test_compose_has_every_service(compose: dict[str, Any]) -> None:
    """NATS x3, PostgreSQL, the two one-shot jobs and the four Parley processes are defined."""
    assert set(compose["services"]) == {*NATS_NODES, "postgres", *ONE_SHOT, *LONG_RUNNING}


def test_nats_nodes_mount_their_own_config_and_volume(compose: dict[str, Any]) -> None:
    """Each NATS node mounts deploy/nats/<node>.conf plus the shared part, and its own volume."""
    volumes_seen = set()
    for node in NATS_NODES:
        service = compose["services"][node]
        assert re.fullmatch(r"nats:2\.(1[2-9]|[2-9]\d)(\.\d+)?-alpine", service["image"]), (
            "message schedules (allow_msg_schedules) need nats-server 2.12 or later"
        )
        mounts = service["volumes"]
        assert f"../nats/{node}.conf:/etc/nats/nats.conf:ro" in mounts
        assert "../nats/cluster-common.conf:/etc/nats/cluster-common.conf:ro" in mounts
        # The generated auth include (python -m parley_runtime.natsauth init, never committed).
        assert "./nats-auth/auth.conf:/etc/nats/auth/auth.conf:ro" in mounts
        env = service["environment"]
        assert env["NATS_ROUTE_PASSWORD"].startswith("${NATS_ROUTE_PASSWORD:?")
        for mount in mounts:
            source = mount.split(":")[0]
            if source.startswith(".") and not source.startswith("./nats-auth/"):
                assert (COMPOSE_DIR / source).resolve().is_file(), mount
        data = [m for m in mounts if m.endswith(":/data")]
        assert len(data) == 1
        volumes_seen.add(data[0].split(":")[0])
        assert service["command"] == ["nats-server", "--config", "/etc/nats/nats.conf"]
        assert "nats" in service["networks"]["default"]["aliases"]
        assert "healthz" in " ".join(service["healthcheck"]["test"])
    assert len(volumes_seen) == 3
    assert volumes_seen <= set(compose["volumes"])


def test_postgres_has_a_volume_and_a_health_check(compose: dict[str, Any]) -> None:
    """PostgreSQL keeps its data in a named volume and reports health with pg_isready."""
    postgres = compose["services"]["postgres"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres-data" in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_long_running_services_have_health_checks_on_readyz(compose: dict[str, Any]) -> None:
    """Every Parley process has a health check that asks its /readyz."""
    for name in LONG_RUNNING:
        check = compose["services"][name]["healthcheck"]
        test = " ".join(check["test"])
        assert check["test"][0] == "CMD"
        assert "/readyz" in test, name
        assert check.get("interval")
        assert not check.get("disable")


def test_one_shot_jobs_run_before_the_services(compose: dict[str, Any]) -> None:
    """streams waits for all NATS nodes, bootstrap for PostgreSQL; the services wait for both."""
    services = compose["services"]
    streams = services["streams"]
    assert streams["command"] == ["python", "-m", "parley_shared.streams"]
    assert _env(streams)["PARLEY_STREAM_REPLICAS"] == "3"
    assert streams["restart"] == "no"
    for node in NATS_NODES:
        assert streams["depends_on"][node]["condition"] == "service_healthy"
    bootstrap = services["account-bootstrap"]
    assert bootstrap["command"] == ["account-svc", "bootstrap"]
    assert bootstrap["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["account-svc"]["depends_on"]["account-bootstrap"] == {
        "condition": "service_completed_successfully"
    }
    for name in LONG_RUNNING:
        assert services[name]["depends_on"]["streams"] == {
            "condition": "service_completed_successfully"
        }


def test_every_parley_process_gets_the_cluster_settings(compose: dict[str, Any]) -> None:
    """NATS_URL, the master key (required) and R3 streams reach every Parley process alike."""
    for name in (*LONG_RUNNING, "account-bootstrap"):
        env = _env(compose["services"][name])
        assert env["NATS_URL"] == "${NATS_URL:-nats://nats:4222}"
        assert env["PARLEY_STREAM_REPLICAS"] == "3", f"{name} would reset the streams to R1"
        assert env["PARLEY_MASTER_KEY"].startswith("${PARLEY_MASTER_KEY:?")
        assert "PARLEY_MASTER_KEY_PREVIOUS" in env
        assert env["PARLEY_MASTER_KEY_PREVIOUS"] is None, "passed through only when set"
    for name in ("account-svc", "account-bootstrap"):
        assert _env(compose["services"][name])["DATABASE_URL"].startswith(
            "${DATABASE_URL:-postgresql://parley:"
        )
    for name in ("routing-svc", "webhook-api", "webhook-worker"):
        assert "DATABASE_URL" not in _env(compose["services"][name])


def test_parley_images_build_from_the_repository_root(compose: dict[str, Any]) -> None:
    """Parley services build with context = repo root and their deploy/docker Dockerfile."""
    expected = {
        "streams": "account-svc",
        "account-bootstrap": "account-svc",
        "account-svc": "account-svc",
        "routing-svc": "routing-svc",
        "webhook-api": "webhook-svc",
        "webhook-worker": "webhook-svc",
    }
    for name, image in expected.items():
        service = compose["services"][name]
        build = service["build"]
        assert (COMPOSE_DIR / build["context"]).resolve() == COMPOSE_DIR.parents[1]
        assert build["dockerfile"] == f"deploy/docker/{image}.Dockerfile"
        assert (COMPOSE_DIR.parents[1] / build["dockerfile"]).is_file()
        assert service["image"].endswith(f"/{image}:${{PARLEY_TAG:-0.1.0}}")


def test_webhook_workers_can_be_scaled(compose: dict[str, Any]) -> None:
    """A scalable service has no container_name, no host port and no hostname (they would clash)."""
    for name in SCALABLE:
        service = compose["services"][name]
        assert "container_name" not in service
        assert "ports" not in service
        assert "hostname" not in service
        assert service["command"] == ["webhook-svc", "worker"]
    for name, service in compose["services"].items():
        assert "container_name" not in service, f"{name}: container_name blocks --scale"


def test_env_example_lists_every_required_variable() -> None:
    """Each ${VAR:?...} the compose file requires appears in .env.example."""
    text = (COMPOSE_DIR / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (COMPOSE_DIR / ".env.example").read_text()
    defined = set(re.findall(r"^#?\s*(\w+)=", example, flags=re.MULTILINE))
    assert required
    assert required <= defined, required - defined
    assert "PARLEY_MASTER_KEY_PREVIOUS" in defined


def test_metrics_have_their_own_port_that_is_not_published(compose: dict[str, Any]) -> None:
    """Every Parley service sets `<PREFIX>_METRICS_PORT` apart from its HTTP port and publishes
    only the HTTP port: /metrics stays inside the compose network."""
    for name in ("account-svc", "routing-svc", "webhook-api", "webhook-worker"):
        service = compose["services"][name]
        env = service["environment"]
        (setting,) = [k for k in env if k.endswith("_METRICS_PORT")]
        metrics, http = env[setting], env[setting.replace("_METRICS_PORT", "_HTTP_PORT")]
        assert metrics != http
        published = [str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])]
        assert metrics not in published, name
