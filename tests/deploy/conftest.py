"""Fixtures for the deploy/ tests: the repository paths, the compose file and the Dockerfiles.

Nothing here needs a container engine: files are parsed, and what runs (the smoke test) runs
as local processes on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from parley_devtools.embedded import LOOPBACK, free_port, nats_server_binary, wait_port
from parley_devtools.processes import Child
from parley_devtools.waiting import eventually_sync

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SERVICES = ("account-svc", "routing-svc", "webhook-svc")
NATS_DIR = DEPLOY / "nats"
LOCAL_CLUSTER_CONF = NATS_DIR / "local-cluster.conf"
ROUTE_PASSWORD = "route-test-password"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Dockerfile:
    """A Dockerfile read as (instruction, arguments) pairs, stage by stage."""

    path: Path
    stages: list[list[tuple[str, str]]] = field(default_factory=list)
    stage_names: list[str | None] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        """Parse comments, line continuations and FROM-separated stages."""
        parsed = cls(path)
        logical: list[str] = []
        pending = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.startswith("#"):  # a comment inside a continued instruction
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            logical.append(pending + line)
            pending = ""
        for line in logical:
            instruction, _, args = line.partition(" ")
            instruction = instruction.upper()
            if instruction == "FROM":
                match = re.search(r"\s+AS\s+(\S+)\s*$", args, flags=re.IGNORECASE)
                parsed.stage_names.append(match.group(1) if match else None)
                parsed.stages.append([])
            if parsed.stages:
                parsed.stages[-1].append((instruction, args.strip()))
        return parsed

    @property
    def final(self) -> list[tuple[str, str]]:
        """The instructions of the last stage (what the image is)."""
        return self.stages[-1]

    def last(self, instruction: str) -> str | None:
        """Arguments of the last `instruction` of the final stage (the one that counts)."""
        found = [args for name, args in self.final if name == instruction]
        return found[-1] if found else None

    @property
    def cmd(self) -> list[str]:
        """The image's CMD in exec form (a JSON array; shell form is refused)."""
        args = self.last("CMD")
        assert args is not None, f"{self.path.name}: no CMD"
        value = json.loads(args)
        assert isinstance(value, list), f"{self.path.name}: CMD must be in exec (JSON) form"
        return [str(v) for v in value]


def load_yaml_documents(path: Path) -> list[Any]:
    """Every document of a (possibly multi-document) YAML file, empty ones left out."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, Dockerfile]:
    """deploy/docker/<service>.Dockerfile of each service, parsed."""
    return {name: Dockerfile.read(DEPLOY / "docker" / f"{name}.Dockerfile") for name in SERVICES}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """deploy/compose/compose.yaml, parsed (anchors and merge keys resolved)."""
    docs = load_yaml_documents(DEPLOY / "compose" / "compose.yaml")
    assert len(docs) == 1
    assert isinstance(docs[0], dict)
    return docs[0]


@dataclass
class Node:
    """One nats-server of the local cluster, its ports and its process."""

    name: str
    client_port: int
    cluster_port: int
    monitor_port: int
    store: Path
    log: Path
    child: Child | None = None

    @property
    def url(self) -> str:
        """Client URL of this node."""
        return f"nats://{LOOPBACK}:{self.client_port}"


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def make_nats_config_dir(root: Path, resolver_dir: str) -> Path:
    """deploy/nats/*.conf copied into `root`, with auth/ generated as a deployment does
    (`python -m parley_runtime.natsauth init root/auth --resolver-dir ...`)."""
    from parley_runtime.natsauth.__main__ import main as natsauth

    root.mkdir(parents=True, exist_ok=True)
    for conf in NATS_DIR.glob("*.conf"):
        (root / conf.name).write_text(conf.read_text())
    assert natsauth(["init", str(root / "auth"), "--resolver-dir", resolver_dir]) == 0
    return root


def route_url(port: int) -> str:
    """A route URL carrying the route credential."""
    return f"nats-route://parley-route:{ROUTE_PASSWORD}@{LOOPBACK}:{port}"


@contextlib.contextmanager
def local_cluster(root: Path) -> Iterator[list[Node]]:
    """Three nats-server processes from local-cluster.conf, routed to each other; stopped after."""
    ports = _distinct_ports(9)
    nodes = [
        Node(
            f"n{i + 1}",
            ports[i],
            ports[3 + i],
            ports[6 + i],
            root / f"n{i + 1}",
            root / f"n{i + 1}.log",
        )
        for i in range(3)
    ]
    routes = {f"NATS_ROUTE_{i + 1}": route_url(n.cluster_port) for i, n in enumerate(nodes)}
    config = make_nats_config_dir(root / "config", "$NATS_RESOLVER_DIR") / LOCAL_CLUSTER_CONF.name
    try:
        for node in nodes:
            node.store.mkdir(parents=True)
            env = {
                **os.environ,
                **routes,
                "NATS_SERVER_NAME": node.name,
                "NATS_CLIENT_PORT": str(node.client_port),
                "NATS_CLUSTER_PORT": str(node.cluster_port),
                "NATS_MONITOR_PORT": str(node.monitor_port),
                "NATS_STORE_DIR": str(node.store),
                "NATS_RESOLVER_DIR": str(node.store / "jwt"),
                "NATS_ROUTE_PASSWORD": ROUTE_PASSWORD,
            }
            argv = [nats_server_binary(), "-c", str(config)]
            node.child = Child(node.name, argv, env, log=node.log).start()
        for node in nodes:
            wait_port(node.client_port)
        yield nodes
    finally:
        for node in nodes:
            if node.child is not None:
                node.child.stop()


def _get_json(url: str) -> Any:
    with _NO_PROXY.open(url, timeout=2) as resp:
        return json.loads(resp.read())


def wait_meta_leader(nodes: list[Node]) -> str:
    """Block until every node sees a JetStream meta leader in a 3-node cluster; return its name."""

    def leader() -> str:
        try:
            views = [
                _get_json(f"http://{LOOPBACK}:{n.monitor_port}/jsz")["meta_cluster"] for n in nodes
            ]
        except (OSError, KeyError, ValueError):
            return ""
        leaders = {v.get("leader") for v in views}
        agreed = len(leaders) == 1 and not leaders & {None, ""}
        # The leader must also see both other peers current (only its own view tracks them):
        # until then, placing an R3 stream fails with "no suitable peers for placement, peer
        # offline".
        current = any(
            len(v.get("replicas") or []) == 2
            and all(r.get("current") and not r.get("offline") for r in v["replicas"])
            for v in views
        )
        if agreed and current and all(v.get("cluster_size") == 3 for v in views):
            return str(leaders.pop())
        return ""

    return eventually_sync(leader, what="a JetStream meta leader", step_s=0.1)


@dataclass
class LocalCluster:
    """A running 3-node cluster: its nodes and the JetStream meta leader they agreed on."""

    nodes: list[Node]
    leader: str
    auth: Path  # the generated auth dir: <name>.creds, authority.json, operator.password

    @property
    def urls(self) -> list[str]:
        """Client URLs of every node."""
        return [n.url for n in self.nodes]


@pytest.fixture
def nats_config_dir(tmp_path: Path) -> Path:
    """deploy/nats/*.conf in a temporary directory, with auth/ generated as a deployment does."""
    return make_nats_config_dir(tmp_path / "nats-config", str(tmp_path / "jwt"))


@pytest.fixture
def local_nats_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """Three nats-server processes started from deploy/nats/local-cluster.conf on loopback free
    ports, with a JetStream meta leader; stopped (by pid) after the test."""
    with local_cluster(tmp_path / "nats") as nodes:
        yield LocalCluster(nodes, wait_meta_leader(nodes), tmp_path / "nats" / "config" / "auth")
