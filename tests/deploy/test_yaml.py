"""Every YAML file under deploy/ parses, each document of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_deploy_has_yaml_files() -> None:
    """deploy/ holds the compose file, the Kustomize tree and the NATS chart values."""
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {
        "compose/compose.yaml",
        "k8s/base/kustomization.yaml",
        "k8s/overlays/production/kustomization.yaml",
        "k8s/nats-values.yaml",
        "k8s/secret.template.yaml",
    } <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_file_parses(path: Path) -> None:
    """The file is valid YAML: every document loads, and each is a mapping."""
    with path.open(encoding="utf-8") as handle:
        documents = [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    assert documents, f"{path} holds no document"
    for doc in documents:
        assert isinstance(doc, dict), f"{path}: a document is a {type(doc).__name__}, not a mapping"
