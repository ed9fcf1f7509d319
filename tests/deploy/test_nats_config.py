"""The NATS server configs under deploy/nats are accepted by `nats-server -t` (config test),
with authentication on for clients and routes, and TLS available for both."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import pytest
from parley_devtools.embedded import LOOPBACK, nats_server_binary

NATS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "nats"
CLUSTER_NODES = ("nats-1.conf", "nats-2.conf", "nats-3.conf")
LOCAL = NATS_DIR / "local-cluster.conf"
ROUTE_PASSWORD = "route-test-password"


def route_url(port: int) -> str:
    """A route URL carrying the route credential."""
    return f"nats-route://parley-route:{ROUTE_PASSWORD}@{LOOPBACK}:{port}"


def cluster_env() -> dict[str, str]:
    """The variables cluster-common.conf reads (route credential and route URLs)."""
    return {
        "NATS_ROUTE_PASSWORD": ROUTE_PASSWORD,
        **{f"NATS_ROUTE_{i}": route_url(6222 + i) for i in (1, 2, 3)},
    }


def local_node_env(store_dir: Path, name: str = "n1") -> dict[str, str]:
    """The variables local-cluster.conf reads, for one node of a loopback cluster."""
    return {
        "NATS_SERVER_NAME": name,
        "NATS_CLIENT_PORT": "14222",
        "NATS_MONITOR_PORT": "18222",
        "NATS_CLUSTER_PORT": "16222",
        "NATS_ROUTE_1": route_url(16222),
        "NATS_ROUTE_2": route_url(16223),
        "NATS_ROUTE_3": route_url(16224),
        "NATS_ROUTE_PASSWORD": ROUTE_PASSWORD,
        "NATS_STORE_DIR": str(store_dir),
        "NATS_RESOLVER_DIR": str(store_dir / "jwt"),
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


@pytest.fixture
def confs(nats_config_dir: Path) -> Path:
    """deploy/nats with a generated auth/ (as a deployment makes it)."""
    return nats_config_dir


@pytest.mark.parametrize("name", [*CLUSTER_NODES, "cluster-common.conf"])
def test_cluster_config_is_valid(confs: Path, name: str) -> None:
    """Each node's config of the 3-node cluster (and their shared part) passes `nats-server -t`."""
    result = config_test(confs / name, cluster_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_cluster_config_requires_authentication() -> None:
    """Clients go through the generated operator-mode auth, routes through a credential."""
    common = (NATS_DIR / "cluster-common.conf").read_text()
    lines = [line.strip() for line in common.splitlines() if not line.strip().startswith("#")]
    assert "include ./auth/auth.conf" in lines
    assert "password: $NATS_ROUTE_PASSWORD" in lines
    local = [line.strip() for line in LOCAL.read_text().splitlines()]
    assert "include ./auth/auth.conf" in local
    assert "password: $NATS_ROUTE_PASSWORD" in local


def test_cluster_config_without_its_auth_files_is_refused(tmp_path: Path) -> None:
    """Without the generated auth/ the configs do not start (no silent anonymous cluster)."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for conf in NATS_DIR.glob("*.conf"):
        (bare / conf.name).write_text(conf.read_text())
    result = config_test(bare / "nats-1.conf", cluster_env())
    assert result.returncode != 0
    assert "auth.conf" in result.stdout + result.stderr


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
        assert f"@{host}:6222" in common
    assert "jetstream" in common
    assert "store_dir" in common


def test_local_cluster_config_is_valid(confs: Path, tmp_path: Path) -> None:
    """local-cluster.conf passes `nats-server -t` once its variables are set."""
    result = config_test(confs / LOCAL.name, local_node_env(tmp_path / "n1"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_cluster_config_requires_its_variables(confs: Path) -> None:
    """Without NATS_SERVER_NAME and friends `nats-server -t` refuses local-cluster.conf."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(confs / LOCAL.name)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "NATS_" in result.stdout + result.stderr


def test_config_test_rejects_a_broken_config(confs: Path) -> None:
    """`nats-server -t` really checks: an unknown JetStream field fails it."""
    broken = confs / "broken.conf"
    broken.write_text((confs / "cluster-common.conf").read_text() + "\njetstream { bogus: 1 }\n")
    result = config_test(broken, cluster_env())
    assert result.returncode != 0
    assert 'unknown field "bogus"' in result.stdout + result.stderr


def _certificates(folder: Path) -> dict[str, str]:
    """A CA and a node certificate it signed (for nats-1 and localhost), PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("parley-test-ca"))
        .issuer_name(name("parley-test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("nats-1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("nats-1"), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = {
        "NATS_TLS_CA": (folder / "ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
        "NATS_TLS_CERT": (folder / "node.pem", cert.public_bytes(serialization.Encoding.PEM)),
        "NATS_TLS_KEY": (
            folder / "node-key.pem",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {var: str(path) for var, (path, _) in files.items()}


def test_tls_for_clients_and_routes_is_available(confs: Path, tmp_path: Path) -> None:
    """With the two TLS includes uncommented, the cluster config is valid with a CA and a cert."""
    common = confs / "cluster-common.conf"
    text = common.read_text()
    for include in ("include ./client-tls.conf", "include ./route-tls.conf"):
        assert f"# {include}" in text
        text = text.replace(f"# {include}", include)
    common.write_text(text)
    env = {**cluster_env(), **_certificates(tmp_path)}
    result = config_test(confs / "nats-1.conf", env)
    assert result.returncode == 0, result.stdout + result.stderr
