"""The NATS server configs under deploy/nats are accepted by `nats-server -t` (config test)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from parley_devtools.embedded import nats_server_binary

NATS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "nats"
CLUSTER_NODES = ("nats-1.conf", "nats-2.conf", "nats-3.conf")
LOCAL = NATS_DIR / "local-cluster.conf"


def local_node_env(store_dir: Path, name: str = "n1") -> dict[str, str]:
    """The variables local-cluster.conf reads, for one node of a loopback cluster."""
    return {
        "NATS_SERVER_NAME": name,
        "NATS_CLIENT_PORT": "14222",
        "NATS_MONITOR_PORT": "18222",
        "NATS_CLUSTER_PORT": "16222",
        "NATS_ROUTE_1": "nats-route://127.0.0.1:16222",
        "NATS_ROUTE_2": "nats-route://127.0.0.1:16223",
        "NATS_ROUTE_3": "nats-route://127.0.0.1:16224",
        "NATS_STORE_DIR": str(store_dir),
    }


def config_test(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`nats-server -t -c path`: parse and check the config, start nothing."""
    return subprocess.run(
        [nats_server_binary(), "-t", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize("name", [*CLUSTER_NODES, "cluster-common.conf"])
def test_cluster_config_is_valid(name: str) -> None:
    """Each node's config of the 3-node cluster (and their shared part) passes `nats-server -t`."""
    result = config_test(NATS_DIR / name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_cluster_nodes_differ_only_by_server_name() -> None:
    """The three node configs name three distinct servers and include the same cluster settings."""
    names = []
    for node in CLUSTER_NODES:
        lines = [
            line.strip()
            for line in (NATS_DIR / node).read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        assert "include ./cluster-common.conf" in lines
        names += [line.split(":", 1)[1].strip() for line in lines if line.startswith("server_name")]
    assert names == ["nats-1", "nats-2", "nats-3"]
    common = (NATS_DIR / "cluster-common.conf").read_text()
    for host in ("nats-1", "nats-2", "nats-3"):
        assert f"nats-route://{host}:6222" in common
    assert "jetstream" in common
    assert "store_dir" in common


def test_local_cluster_config_is_valid(tmp_path: Path) -> None:
    """local-cluster.conf passes `nats-server -t` once its variables are set."""
    result = config_test(LOCAL, local_node_env(tmp_path / "n1"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_cluster_config_requires_its_variables(tmp_path: Path) -> None:
    """Without NATS_SERVER_NAME and friends `nats-server -t` refuses local-cluster.conf."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(LOCAL)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "NATS_" in result.stdout + result.stderr


def test_config_test_rejects_a_broken_config(tmp_path: Path) -> None:
    """`nats-server -t` really checks: an unknown JetStream field fails it."""
    broken = tmp_path / "broken.conf"
    broken.write_text((NATS_DIR / "cluster-common.conf").read_text() + "\njetstream { bogus: 1 }\n")
    result = config_test(broken)
    assert result.returncode != 0
    assert 'unknown field "bogus"' in result.stdout + result.stderr
