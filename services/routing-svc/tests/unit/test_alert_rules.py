"""routing-svc's alert rules (deploy/prometheus/routing-svc.rules.yaml) watch metrics it has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase
from routing_svc import metrics

RULES = Path(__file__).resolve().parents[4] / "deploy" / "prometheus" / "routing-svc.rules.yaml"


def rules() -> list[dict[str, Any]]:
    """Every rule of the file."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_poison_overload_and_route_down_are_alerted() -> None:
    """Parked and unstorable poison, invalid messages, overload and a down route each alert."""
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    assert 'reason="exhausted"' in exprs["RoutingPoisonMessages"]
    assert 'reason="not_stored"' in exprs["RoutingPoisonNotStored"]
    assert 'reason="invalid"' in exprs["RoutingInvalidMessages"]
    assert "parley_routing_overloaded_total" in exprs["RoutingOverloaded"]
    assert "parley_route_up" in exprs["RouteDown"]


def test_rules_name_only_metrics_routing_svc_exports() -> None:
    """Every parley_* name in a rule is a metric of routing_svc.metrics (a renamed metric would
    leave an alert that never fires)."""
    exported: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                exported.add(family.name)
                if family.type == "counter":
                    exported.add(family.name + "_total")
    named = {name for rule in rules() for name in re.findall(r"parley_\w+", rule["expr"])}
    assert named
    assert named <= exported, named - exported
