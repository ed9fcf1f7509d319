"""Unit tests of the runner's pieces: spec validation, discovery, master key, ports, output."""

from __future__ import annotations

import base64
import json
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parley_devtools.embedded import LOOPBACK
from parley_devtools.processes import resolve_command
from parley_devtools.runner import RunnerError, load_master_key, parse_bootstrap, redact_url
from parley_devtools.services import (
    ServiceSpec,
    ServiceSpecError,
    discover_services,
    pick_port,
    service_port,
)

ACCOUNT = {
    "name": "account-svc",
    "order": 10,
    "port_env": "ACCOUNT_HTTP_PORT",
    "default_port": 8080,
    "prepare": ["account-svc", "bootstrap"],
    "command": ["account-svc", "serve"],
    "urls": {"management API": "/v1", "console": "/console", "OpenAPI": "/openapi.json"},
}


def spec_with(**changes: Any) -> dict[str, Any]:
    """The account-svc spec with some keys changed (a value of ... removes the key)."""
    spec = {**ACCOUNT, **changes}
    return {k: v for k, v in spec.items() if v is not ...}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something listens on for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_account_spec_is_accepted() -> None:
    """The spec account-svc declares parses into a ServiceSpec with tuples for commands."""
    spec = ServiceSpec.from_dict(ACCOUNT, "test")
    assert spec.command == ("account-svc", "serve")
    assert spec.prepare == ("account-svc", "bootstrap")
    assert spec.urls["console"] == "/console"


def test_prepare_and_urls_are_optional() -> None:
    """A spec with a null prepare, no urls and extra command items is valid."""
    spec = ServiceSpec.from_dict(
        spec_with(prepare=None, urls=..., command=["webhook-svc", "all"]), "test"
    )
    assert spec.prepare is None
    assert spec.urls == {}
    assert spec.command == ("webhook-svc", "all")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["account-svc"], "must be a dict, got list"),
        (spec_with(command=...), "missing keys ['command']"),
        (spec_with(comand=["x"]), "unknown keys ['comand']"),
        (spec_with(name="Account svc"), "'name' must be like 'account-svc'"),
        (spec_with(order="10"), "'order' must be an integer"),
        (spec_with(order=True), "'order' must be an integer"),
        (spec_with(port_env="account_port"), "'port_env' must be an env var name"),
        (spec_with(default_port=0), "'default_port' must be a TCP port number"),
        (spec_with(default_port=70000), "'default_port' must be a TCP port number"),
        (spec_with(default_port="8080"), "'default_port' must be a TCP port number"),
        (spec_with(command=[]), "'command' must be a non-empty list of strings"),
        (spec_with(command="account-svc serve"), "'command' must be a non-empty list"),
        (spec_with(prepare=["account-svc", ""]), "'prepare' must be null or a list"),
        (spec_with(urls={"console": "console"}), "'urls' must be a dict of label -> '/path'"),
        (spec_with(urls=["/v1"]), "'urls' must be a dict"),
    ],
)
def test_malformed_specs_are_rejected_clearly(raw: object, message: str) -> None:
    """Each malformed spec raises ServiceSpecError naming its source and the field at fault."""
    with pytest.raises(ServiceSpecError) as caught:
        ServiceSpec.from_dict(raw, "entry point x")
    assert "service spec from entry point x" in str(caught.value)
    assert message in str(caught.value)


def test_extra_specs_are_filtered_and_sorted(tmp_path: Path) -> None:
    """PARLEY_SERVICES_EXTRA adds specs, PARLEY_SERVICES_ONLY picks them, `order` sorts them."""
    extra = tmp_path / "extra.json"
    specs = [
        spec_with(name="b-svc", order=20, port_env="B_PORT"),
        spec_with(name="a-svc", order=5, port_env="A_PORT"),
        spec_with(name="c-svc", order=1, port_env="C_PORT"),
    ]
    extra.write_text(json.dumps(specs))
    env = {"PARLEY_SERVICES_EXTRA": str(extra), "PARLEY_SERVICES_ONLY": "b-svc, a-svc"}
    assert [s.name for s in discover_services(env)] == ["a-svc", "b-svc"]


def test_extra_spec_clashes_and_unknown_names_are_rejected(tmp_path: Path) -> None:
    """Two specs with one name, or an ONLY name that matches nothing, stop the runner."""
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps([spec_with(name="a-svc"), spec_with(name="a-svc")]))
    with pytest.raises(ServiceSpecError, match="registered twice: a-svc"):
        discover_services({"PARLEY_SERVICES_EXTRA": str(extra), "PARLEY_SERVICES_ONLY": "a-svc"})
    with pytest.raises(ServiceSpecError, match="unknown services: nope"):
        discover_services({"PARLEY_SERVICES_EXTRA": str(extra), "PARLEY_SERVICES_ONLY": "nope"})


def test_master_key_is_generated_once_then_reused(tmp_path: Path) -> None:
    """Without PARLEY_MASTER_KEY a 32-byte key is written with mode 0600 and read back later."""
    key = load_master_key({}, tmp_path)
    path = tmp_path / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(key, validate=True)) == 32
    assert path.read_text().strip() == key
    assert load_master_key({}, tmp_path) == key


def test_master_key_from_env_wins_and_writes_nothing(tmp_path: Path) -> None:
    """PARLEY_MASTER_KEY is used as given and no key file is created."""
    key = base64.b64encode(bytes(range(32))).decode()
    assert load_master_key({"PARLEY_MASTER_KEY": key}, tmp_path) == key
    assert not (tmp_path / "master.key").exists()


def test_malformed_master_key_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    """A key that is not 32 bytes of base64 fails, and the message does not contain it."""
    secret = base64.b64encode(b"too short").decode()
    with pytest.raises(RunnerError, match="not 32 bytes") as caught:
        load_master_key({"PARLEY_MASTER_KEY": secret}, tmp_path)
    assert secret not in str(caught.value)


def test_taken_default_port_falls_back_to_a_free_one(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the default port is taken the service gets another port and the runner says so."""
    spec = ServiceSpec.from_dict(spec_with(default_port=busy_port), "test")
    port = service_port(spec, {})
    assert port != busy_port
    assert pick_port(port, "check") == port
    out = capsys.readouterr().out
    assert f"port {busy_port} for account-svc (ACCOUNT_HTTP_PORT) is taken" in out
    assert f"using {port} instead" in out


def test_port_from_env_is_used_as_given(busy_port: int) -> None:
    """A port the user sets is honoured, even if the default would have been free."""
    spec = ServiceSpec.from_dict(ACCOUNT, "test")
    assert service_port(spec, {"ACCOUNT_HTTP_PORT": str(busy_port)}) == busy_port
    with pytest.raises(RunnerError, match="ACCOUNT_HTTP_PORT must be a TCP port"):
        service_port(spec, {"ACCOUNT_HTTP_PORT": "eighty"})


def test_database_url_is_shown_without_password() -> None:
    """The banner's database URL keeps user, host and database but drops the password."""
    assert redact_url("postgresql://app:s3cret@db:5432/parley") == "postgresql://app@db:5432/parley"
    assert (
        redact_url("postgresql://postgres:@/postgres?host=/tmp/pg&password=x")
        == "postgresql://postgres@/postgres?host=/tmp/pg"
    )


def test_bootstrap_report_is_the_last_json_line_carrying_it() -> None:
    """Only a JSON line with a bootstrap_admin object counts, and the last one wins."""
    lines = [
        '{"bootstrap_admin": {"created": false, "username": "old"}}',
        '{"event": "bootstrap_admin_created"}',
        '{"bootstrap_admin": {"created": true, "username": "admin"}}',
        "bootstrap_admin is not json",
    ]
    assert parse_bootstrap(lines) == {"created": True, "username": "admin"}
    assert parse_bootstrap(["migrations applied"]) is None


def test_commands_resolve_in_the_venv_first() -> None:
    """A bare program name is looked up next to the running Python before PATH."""
    assert resolve_command(["python", "-V"]) == [str(Path(sys.executable).parent / "python"), "-V"]
    with pytest.raises(RunnerError, match="command not found: no-such-svc"):
        resolve_command(["no-such-svc", "serve"])
