"""The Dockerfiles, checked statically (no container engine here): multi-stage, only the
service's own dependencies from uv.lock, a slim base, a non-root user, a HEALTHCHECK on /healthz,
and the service's own command as CMD."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("account-svc", "routing-svc", "webhook-svc")
PORTS = {"account-svc": 8080, "routing-svc": 8081, "webhook-svc": 8082}
PORT_ENV = {
    "account-svc": "ACCOUNT_HTTP_PORT",
    "routing-svc": "ROUTING_HTTP_PORT",
    "webhook-svc": "WEBHOOK_HTTP_PORT",
}
# The command each image runs by default (webhook-svc: api and worker in one process; compose
# and Kubernetes run `webhook-svc api` and `webhook-svc worker` from the same image).
DEFAULT_CMD = {
    "account-svc": ["account-svc", "serve"],
    "routing-svc": ["routing-svc", "serve"],
    "webhook-svc": ["webhook-svc", "all"],
}


def registered_specs() -> dict[str, dict[str, Any]]:
    """The `parley.services` entry points installed right now (what `make run` starts)."""
    return {ep.name: ep.load() for ep in entry_points(group="parley.services")}


def _uv_syncs(dockerfile: Any) -> list[str]:
    return [args for name, args in dockerfile.stages[0] if name == "RUN" and "uv sync" in args]


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_multi_stage_on_slim_python(
    service: str, dockerfiles: dict[str, Any]
) -> None:
    """A build and a runtime stage, both python:3.11-slim; only the venv crosses over."""
    dockerfile = dockerfiles[service]
    assert len(dockerfile.stages) >= 2
    assert dockerfile.stage_names[0] == "build"
    text = dockerfile.path.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert base, "the base image is an ARG so it can be pinned by digest"
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base.group(1))
    froms = [args for stage in dockerfile.stages for name, args in stage if name == "FROM"]
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    copies = [args for name, args in dockerfile.final if name == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"], copies


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_installs_only_its_service_from_the_lock(
    service: str, dockerfiles: dict[str, Any]
) -> None:
    """uv installs this service's locked dependencies only: --frozen, --no-dev, --package <it>."""
    dockerfile = dockerfiles[service]
    syncs = _uv_syncs(dockerfile)
    assert len(syncs) == 2, "one layer for third-party dependencies, one for the code"
    for args in syncs:
        assert "--frozen" in args
        assert "--no-dev" in args
        assert re.search(rf"--package {re.escape(service)}(\s|$)", args), args
        assert "--all-packages" not in args
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1]
    copied = " ".join(args for name, args in dockerfile.stages[0] if name == "COPY")
    others = [s for s in SERVICES if s != service]
    for other in others:
        assert f"services/{other}/src" not in copied, f"{service} image copies {other}'s code"
    assert f"services/{service}/src" in copied
    assert "shared/src" in copied
    assert "shared/runtime/src" in copied
    assert "devtools/src" not in copied


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_copies_files_that_exist(service: str, dockerfiles: dict[str, Any]) -> None:
    """Every COPY source of the build stage exists; every workspace manifest is copied."""
    dockerfile = dockerfiles[service]
    sources: list[str] = []
    for name, args in dockerfile.stages[0]:
        if name == "COPY" and not args.startswith("--from"):
            *srcs, _dest = args.split()
            sources += srcs
    for src in sources:
        assert (REPO / src).exists(), f"{dockerfile.path.name}: COPY {src} does not exist"
    members = [
        "shared",
        "shared/runtime",
        "devtools",
        *(
            p.parent.relative_to(REPO).as_posix()
            for p in sorted((REPO / "services").glob("*/pyproject.toml"))
        ),
    ]
    for member in members:
        assert f"{member}/pyproject.toml" in sources, (
            f"uv needs {member}/pyproject.toml to read the workspace"
        )
    assert "uv.lock" in sources


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_runs_as_a_numeric_non_root_user(
    service: str, dockerfiles: dict[str, Any]
) -> None:
    """The final USER is numeric and not 0, so Kubernetes' runAsNonRoot can verify it."""
    user = dockerfiles[service].last("USER")
    assert user is not None
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_healthcheck_gets_healthz(service: str, dockerfiles: dict[str, Any]) -> None:
    """HEALTHCHECK runs Python's urllib against /healthz on the service's port (no curl needed)."""
    dockerfile = dockerfiles[service]
    health = dockerfile.last("HEALTHCHECK")
    assert health is not None
    assert "--interval=" in health
    _options, _, command = health.partition(" CMD ")
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2]
    assert PORT_ENV[service] in argv[2]
    assert str(PORTS[service]) in argv[2]
    compile(argv[2], "healthcheck", "exec")
    assert dockerfile.last("EXPOSE") == str(PORTS[service])
    env = " ".join(args for name, args in dockerfile.final if name == "ENV")
    assert f"{PORT_ENV[service]}={PORTS[service]}" in env
    assert "PATH=/app/.venv/bin:$PATH" in env


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_cmd_is_the_service_command(service: str, dockerfiles: dict[str, Any]) -> None:
    """CMD is the service's console script (declared in its pyproject) with its command, and the
    same command the service registers for `make run` when it registers one."""
    cmd = dockerfiles[service].cmd
    assert cmd == DEFAULT_CMD[service]
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    assert cmd[0] in project["project"]["scripts"]
    assert dockerfiles[service].last("ENTRYPOINT") is None, "CMD only, so a command can replace it"
    spec = registered_specs().get(service)
    if spec is not None:
        assert list(spec["command"]) == cmd, (
            f"{service} registers {spec['command']} for make run but its image runs {cmd}"
        )


def test_dockerignore_next_to_each_dockerfile_keeps_the_venv_out() -> None:
    """Each Dockerfile has a <name>.Dockerfile.dockerignore leaving .venv, .git and .tools out."""
    for service in SERVICES:
        ignore = REPO / "deploy" / "docker" / f"{service}.Dockerfile.dockerignore"
        patterns = {line.strip() for line in ignore.read_text().splitlines()}
        assert {"**/.venv", "**/.git", "**/.tools"} <= patterns
