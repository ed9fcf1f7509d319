"""deploy/k8s: the Kustomize base and overlay rendered here (kubectl is not needed), every
manifest validated against the Kubernetes 1.31 schemas (kubernetes-validate, strict), and the
references between them checked: selectors, probes, HPAs, PDBs, ConfigMap and Secret keys,
commands that match the images and the compose file."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
KUBERNETES_VERSION = "1.31"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# Kustomization fields this renderer applies; any other one fails the test rather than being
# silently ignored.
SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
# Deployment -> (image, command), as compose runs them (compose service of the same name).
WORKLOADS = {
    "account-svc": ("account-svc", ["account-svc", "serve"]),
    "routing-svc": ("routing-svc", ["routing-svc", "serve"]),
    "webhook-api": ("webhook-svc", ["webhook-svc", "api"]),
    "webhook-worker": ("webhook-svc", ["webhook-svc", "worker"]),
}
AUTOSCALED = {"routing-svc", "webhook-worker"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a file."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")]


def json_patch(doc: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    """Apply RFC 6902 add / replace / remove operations in place."""
    for op in operations:
        *parents, last = _pointer(op["path"])
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op["op"] == "add":
                node.insert(index, op["value"])
            elif op["op"] == "replace":
                node[index] = op["value"]
            elif op["op"] == "remove":
                del node[index]
            else:
                raise AssertionError(f"unsupported patch op {op['op']}")
        elif op["op"] in ("add", "replace"):
            assert op["op"] == "add" or last in node, f"replace of a missing {op['path']}"
            node[last] = op["value"]
        elif op["op"] == "remove":
            del node[last]
        else:
            raise AssertionError(f"unsupported patch op {op['op']}")


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def render(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize directory` gives, for the features deploy/k8s uses."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    assert not unknown, f"{directory}: this renderer does not apply {sorted(unknown)}"
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = (directory / resource).resolve()
        docs += render(path) if path.is_dir() else copy.deepcopy(load_documents(path))
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        matches = [
            d
            for d in docs
            if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
        ]
        assert len(matches) == 1, f"patch target {target} matches {len(matches)} resources"
        json_patch(matches[0], yaml.safe_load(patch["patch"]))
    for entry in kustomization.get("replicas", []):
        matches = [
            d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == entry["name"]
        ]
        assert len(matches) == 1, f"replicas of unknown Deployment {entry['name']}"
        matches[0]["spec"]["replicas"] = entry["count"]
    for entry in kustomization.get("images", []):
        used = False
        for doc in docs:
            if doc["kind"] not in POD_KINDS:
                continue
            for container in _containers(doc):
                name, _, tag = container["image"].partition(":")
                if name == entry["name"]:
                    new_name = entry.get("newName", name)
                    container["image"] = f"{new_name}:{entry.get('newTag', tag)}"
                    used = True
        assert used, f"image entry {entry['name']} matches no container"
    if namespace := kustomization.get("namespace"):
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = namespace
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The documents of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector selects these labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def validate(doc: dict[str, Any]) -> None:
    """kubernetes-validate, strict (unknown fields fail), against the offline 1.31 schemas."""
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    """The rendered base."""
    return render(BASE)


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    """The rendered production overlay."""
    return render(PRODUCTION)


@pytest.fixture(scope="module")
def secret_template() -> dict[str, Any]:
    """deploy/k8s/secret.template.yaml."""
    (doc,) = load_documents(K8S / "secret.template.yaml")
    return doc


def _ids(docs: list[dict[str, Any]]) -> list[str]:
    return [f"{d['kind']}/{d['metadata']['name']}" for d in docs]


BASE_DOCS = render(BASE)
PRODUCTION_DOCS = render(PRODUCTION)


@pytest.mark.parametrize("doc", BASE_DOCS, ids=_ids(BASE_DOCS))
def test_base_manifest_validates(doc: dict[str, Any]) -> None:
    """Each resource of the base is valid against the Kubernetes schemas (strict)."""
    validate(doc)


@pytest.mark.parametrize("doc", PRODUCTION_DOCS, ids=_ids(PRODUCTION_DOCS))
def test_production_manifest_validates(doc: dict[str, Any]) -> None:
    """Each resource of the production overlay is valid against the Kubernetes schemas (strict)."""
    validate(doc)


def test_secret_template_validates(secret_template: dict[str, Any]) -> None:
    """The Secret template is a valid Secret whose values are all placeholders, never secrets."""
    validate(secret_template)
    assert secret_template["metadata"]["name"] == "parley-secrets"
    for key, value in secret_template["stringData"].items():
        assert re.search(r"<[^>]+>", value), f"{key} holds a value, not a <placeholder>"


def test_validator_is_strict() -> None:
    """The validator rejects an unknown field and a wrong type, so a pass means something."""
    deployment = copy.deepcopy(by_kind(BASE_DOCS, "Deployment")["account-svc"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    deployment = copy.deepcopy(by_kind(BASE_DOCS, "Deployment")["account-svc"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def test_base_has_the_expected_resources(base: list[dict[str, Any]]) -> None:
    """Deployments, Services, HPAs, PDBs, the ConfigMap and both Jobs, each name once."""
    ids = _ids(base)
    assert len(ids) == len(set(ids)), "duplicate kind/name"
    assert set(by_kind(base, "Deployment")) == set(WORKLOADS)
    assert set(by_kind(base, "Service")) == {"account-svc", "routing-svc", "webhook-api"}
    assert set(by_kind(base, "HorizontalPodAutoscaler")) == AUTOSCALED
    assert set(by_kind(base, "PodDisruptionBudget")) == set(WORKLOADS)
    assert set(by_kind(base, "ConfigMap")) == {"parley-config", "parley-routes"}
    assert set(by_kind(base, "Job")) == {"parley-streams", "account-svc-bootstrap"}
    assert "Secret" not in {d["kind"] for d in base}, "apply -k must not overwrite real secrets"


def test_selectors_select_their_pods(base: list[dict[str, Any]]) -> None:
    """Each Deployment selects its own pods; each Service and PDB selects exactly one Deployment."""
    deployments = by_kind(base, "Deployment")
    pod_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    for name, deployment in deployments.items():
        assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels[name])
    for kind, path in (
        ("Service", ("selector",)),
        ("PodDisruptionBudget", ("selector", "matchLabels")),
    ):
        for name, doc in by_kind(base, kind).items():
            selector = doc["spec"]
            for step in path:
                selector = selector[step]
            chosen = [n for n, labels in pod_labels.items() if matches(selector, labels)]
            assert chosen == [name], f"{kind}/{name} selects {chosen}"


def test_services_target_the_named_http_port(base: list[dict[str, Any]]) -> None:
    """Each Service forwards its contract port to the pods' `http` port."""
    ports = {"account-svc": 8080, "routing-svc": 8081, "webhook-api": 8082}
    for name, service in by_kind(base, "Service").items():
        (port,) = service["spec"]["ports"]
        assert port["port"] == ports[name]
        assert port["targetPort"] == "http"


def test_autoscalers_scale_routing_and_webhook_workers(base: list[dict[str, Any]]) -> None:
    """autoscaling/v2 HPAs target the routing and webhook-worker Deployments, which leave
    `replicas` to them."""
    deployments = by_kind(base, "Deployment")
    for name, hpa in by_kind(base, "HorizontalPodAutoscaler").items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert target["name"] == name
        assert "replicas" not in deployments[name]["spec"], f"{name}: apply would reset the HPA"
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["metrics"]
    for name in set(WORKLOADS) - AUTOSCALED:
        assert deployments[name]["spec"]["replicas"] >= 2


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_deployment_probes_resources_and_security(name: str, base: list[dict[str, Any]]) -> None:
    """Liveness on /healthz, readiness on /readyz, bounded resources, non-root read-only pods."""
    deployment = by_kind(base, "Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert [p["name"] for p in container["ports"]] == ["http", "metrics"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind}"
    assert resources["limits"]["memory"] in ("256Mi",), "target < 150 MB RSS, limit with headroom"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001, "the images' USER"
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts, "a writable /tmp on a read-only root"


def test_commands_match_the_images_and_compose(
    base: list[dict[str, Any]], compose: dict[str, Any], dockerfiles: dict[str, Any]
) -> None:
    """Each Deployment and Job runs the image and command compose runs; serve commands are the
    images' own CMD."""
    services = compose["services"]
    for name, (image, command) in WORKLOADS.items():
        (container,) = by_kind(base, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        assert container["image"].split(":")[0] == f"parley/{image}"
        assert container["args"] == command
        assert services[name]["command"] == command
        assert "command" not in container, "args replaces CMD only"
    for service in ("account-svc", "routing-svc"):
        assert WORKLOADS[service][1] == dockerfiles[service].cmd
    jobs = by_kind(base, "Job")
    (streams,) = jobs["parley-streams"]["spec"]["template"]["spec"]["containers"]
    assert streams["args"] == services["streams"]["command"]
    (bootstrap,) = jobs["account-svc-bootstrap"]["spec"]["template"]["spec"]["containers"]
    assert bootstrap["args"] == services["account-bootstrap"]["command"]
    for job in jobs.values():
        assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
        assert job["spec"]["backoffLimit"] >= 1


def test_config_and_secret_references_resolve(
    base: list[dict[str, Any]], secret_template: dict[str, Any]
) -> None:
    """Every configMapRef/KeyRef names parley-config (and an existing key); every required
    secretKeyRef names a key of the Secret template."""
    config = by_kind(base, "ConfigMap")["parley-config"]["data"]
    secret_keys = set(secret_template["stringData"])
    for doc in base:
        if doc["kind"] not in POD_KINDS:
            continue
        for container in _containers(doc):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] == "parley-config"
            for var in container.get("env", []):
                ref = var.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    assert ref["configMapKeyRef"]["name"] == "parley-config"
                    assert ref["configMapKeyRef"]["key"] in config
                if "secretKeyRef" in ref:
                    key = ref["secretKeyRef"]
                    assert key["name"] == "parley-secrets"
                    if not key.get("optional"):
                        assert key["key"] in secret_keys, f"{var['name']} needs {key['key']}"


def test_every_pod_gets_r3_streams_and_the_master_key(base: list[dict[str, Any]]) -> None:
    """PARLEY_STREAM_REPLICAS=3 reaches every pod (a service starting with 1 would shrink the
    streams), the master key reaches every service, DATABASE_URL only account-svc's pods."""
    config = by_kind(base, "ConfigMap")["parley-config"]["data"]
    assert config["PARLEY_STREAM_REPLICAS"] == "3"
    assert config["NATS_URL"].startswith("nats://")
    for doc in base:
        if doc["kind"] not in POD_KINDS:
            continue
        for container in _containers(doc):
            env = {v["name"] for v in container.get("env", [])}
            from_config = bool(container.get("envFrom"))
            assert from_config or "PARLEY_STREAM_REPLICAS" in env, doc["metadata"]["name"]
            name = doc["metadata"]["name"]
            if doc["kind"] == "Deployment":
                assert {"PARLEY_MASTER_KEY", "PARLEY_MASTER_KEY_PREVIOUS"} <= env
                assert ("DATABASE_URL" in env) == (name == "account-svc")


def test_production_overlay_namespaces_and_pins(production: list[dict[str, Any]]) -> None:
    """The overlay puts everything in its namespace, pulls pinned images from the registry and
    widens the autoscaling range."""
    namespace = by_kind(production, "Namespace")["parley"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in production:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "parley"
        if doc["kind"] in POD_KINDS:
            for container in _containers(doc):
                assert container["image"].startswith("registry.example.com/parley/")
                assert re.search(r":\d+\.\d+\.\d+$", container["image"])
    hpas = by_kind(production, "HorizontalPodAutoscaler")
    assert (
        hpas["webhook-worker"]["spec"]["maxReplicas"]
        > by_kind(BASE_DOCS, "HorizontalPodAutoscaler")["webhook-worker"]["spec"]["maxReplicas"]
    )


def test_json_patch_helper_applies_operations() -> None:
    """The renderer's RFC 6902 helper adds, replaces and removes (lists and maps)."""
    doc: dict[str, Any] = {"a": {"b": [1, 2]}, "c": 1}
    json_patch(
        doc,
        [
            {"op": "replace", "path": "/a/b/0", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/d~1e", "value": True},
            {"op": "remove", "path": "/c"},
        ],
    )
    assert json.dumps(doc, sort_keys=True) == json.dumps(
        {"a": {"b": [9, 2, 3]}, "d/e": True}, sort_keys=True
    )


def test_nats_helm_values_make_a_three_node_jetstream_cluster() -> None:
    """nats-values.yaml: 3 replicas, JetStream on file storage with a PVC size, NATS >= 2.12."""
    (values,) = load_documents(K8S / "nats-values.yaml")
    config = values["config"]
    assert {k: config["cluster"][k] for k in ("enabled", "replicas")} == {
        "enabled": True,
        "replicas": 3,
    }
    # Authentication on: routes with a credential, clients through the generated auth.conf.
    assert config["cluster"]["routeURLs"]["user"] == "parley-route"
    assert config["merge"]["00$include"] == "./parley-auth/auth.conf"
    env = values["container"]["env"]["NATS_ROUTE_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert env == {"name": "parley-nats-auth", "key": "route.password"}
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert re.fullmatch(r"\d+(Gi|Ti)", jetstream["fileStore"]["pvc"]["size"])
    tag = values["container"]["image"]["tag"]
    version = re.match(r"(\d+)\.(\d+)", tag)
    assert version, tag
    assert (int(version[1]), int(version[2])) >= (2, 12), "message schedules need nats-server 2.12"
    assert values["podDisruptionBudget"]["enabled"] is True


@pytest.mark.parametrize("docs", [BASE_DOCS, PRODUCTION_DOCS], ids=["base", "production"])
def test_routing_ships_an_smpp_route_and_no_sandbox(
    docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """routing-svc reads the routes file of the parley-routes ConfigMap (mounted where
    ROUTING_ROUTES_FILE points); it holds an SMPP route whose password comes from the Secret,
    and no sandbox route, so the sandbox's unauthenticated endpoints never run in deploy/."""
    from routing_svc.adapters.providers.routes_file import parse_route_configs

    config = by_kind(docs, "ConfigMap")
    path = config["parley-config"]["data"]["ROUTING_ROUTES_FILE"]
    raw = json.loads(config["parley-routes"]["data"]["routes.json"])
    secrets = {"SMSC1_PASSWORD": "from-the-secret"}
    routes = parse_route_configs(raw, secrets)
    assert {c.route.provider for c in routes} == {"smpp"}
    deployment = by_kind(docs, "Deployment")["routing-svc"]["spec"]["template"]["spec"]
    [container] = deployment["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["volumes"]}
    assert path == mounts["routes"] + "/routes.json"
    assert volumes["routes"]["configMap"]["name"] == "parley-routes"
    env = {e["name"]: e for e in container["env"]}
    assert env["SMSC1_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "parley-secrets"
    data = config["parley-config"]["data"]
    assert "ROUTING_PROVIDER" not in data
    assert "ROUTING_REPLICAS_HINT" not in data


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_metrics_are_scraped_on_their_own_port_no_service_exposes(
    name: str, base: list[dict[str, Any]]
) -> None:
    """Each pod serves /metrics only on its `metrics` port (`<PREFIX>_METRICS_PORT`), which
    the scrape annotation names and no Service forwards: the http port is the public one."""
    deployment = by_kind(base, "Deployment")[name]
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    http = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    env = {e["name"]: e.get("value") for e in container["env"]}
    (setting,) = [k for k in env if k.endswith("_METRICS_PORT")]
    assert env[setting] == str(port)
    assert env[setting.replace("_METRICS_PORT", "_HTTP_PORT")] == str(http)
    assert port != http
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    for service in by_kind(base, "Service").values():
        for forwarded in service["spec"]["ports"]:
            assert forwarded["targetPort"] not in ("metrics", port), service["metadata"]["name"]
