"""webhook-svc's streams are bounded (parley_shared/streams.json), and its alert rules in
deploy/ watch metrics it really exports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from parley_shared import subjects
from parley_shared.streams import load_definitions
from prometheus_client.metrics import MetricWrapperBase
from webhook_svc import metrics

RULES = Path(__file__).resolve().parents[4] / "deploy" / "prometheus" / "webhook-svc.rules.yaml"
WEBHOOK_STREAMS = {
    subjects.STREAM_WEBHOOK_RETRY: "old",  # message schedules cannot use discard new
    subjects.STREAM_WEBHOOK_DEAD_LETTERS: "new",
    subjects.STREAM_WEBHOOK_DELIVERIES: "old",  # a log: the oldest entries make room
    subjects.STREAM_WEBHOOK_POISON: "new",
}


def _definitions() -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in load_definitions(1)}


@pytest.mark.parametrize(("name", "discard"), sorted(WEBHOOK_STREAMS.items()))
def test_work_streams_are_bounded_in_count_bytes_and_age(name: str, discard: str) -> None:
    """Each of webhook-svc's work streams has explicit max_msgs, max_bytes and max_age, and
    the discard policy its use calls for."""
    definition = _definitions()[name]
    assert definition["max_msgs"] > 0
    assert definition["max_bytes"] > 0
    assert definition["max_age"] > 0
    assert definition["discard"] == discard


def test_the_poison_stream_takes_the_poison_subjects() -> None:
    """WEBHOOK_POISON holds exactly the subjects parley_shared.subjects builds for it."""
    poison = _definitions()[subjects.STREAM_WEBHOOK_POISON]
    assert poison["subjects"] == [subjects.WEBHOOK_POISON_ALL]
    assert poison["retention"] == "limits"
    subject = subjects.webhook_poison(subjects.DURABLE_WEBHOOK_STATUS, "acc_1")
    assert re.fullmatch(
        subjects.WEBHOOK_POISON_ALL.replace(".", r"\.").replace("*", r"[^.]+"), subject
    )


def test_bounded_streams_fit_the_test_cluster_storage() -> None:
    """max_bytes reserves file storage up front (nats-server refuses a stream that does not
    fit): every bounded stream together fits the `max_file_store` of
    deploy/nats/local-cluster.conf, where each node holds one replica of each stream."""
    conf = (RULES.parents[1] / "nats" / "local-cluster.conf").read_text(encoding="utf-8")
    found = re.search(r"max_file_store:\s*(\d+)\s*([KMG]?)B", conf)
    assert found is not None
    unit = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[found.group(2)]
    reserved = sum(max(0, d.get("max_bytes", 0)) for d in load_definitions(1))
    assert 0 < reserved < int(found.group(1)) * unit


def _rules() -> list[dict[str, Any]]:
    with RULES.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_watch_poison_and_invalid_message_counters() -> None:
    """The rules file alerts when the poison and invalid-message counters grow."""
    exprs = {rule["alert"]: rule["expr"] for rule in _rules()}
    assert "increase(parley_webhook_poison_messages_total" in exprs["WebhookPoisonMessages"]
    assert "increase(parley_webhook_invalid_messages_total" in exprs["WebhookInvalidMessages"]
    assert all(rule["annotations"]["summary"] for rule in _rules())


def test_alert_rules_name_only_metrics_webhook_svc_exports() -> None:
    """Every parley_webhook_* name in a rule is a metric of webhook_svc.metrics (a renamed
    metric would otherwise leave an alert that can never fire)."""
    exported: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                exported.add(family.name)
                if family.type == "counter":
                    exported.add(family.name + "_total")
    named = {name for rule in _rules() for name in re.findall(r"parley_webhook_\w+", rule["expr"])}
    assert named
    assert named <= exported, named - exported
