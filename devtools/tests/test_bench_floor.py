"""`bench.floor`: what a NATS message seen by a `>` subscriber is, and the derived floor."""

from __future__ import annotations

import math

from parley_devtools.bench import floor


def test_each_nats_message_is_told_apart_by_subject_and_reply() -> None:
    """A publish awaiting its ack is a JetStream write; a stream message with a consumer's ack
    subject is a delivery; acks, API requests and replies are named as such; the rest is core."""
    kinds = {
        ("$KV.ROUTING_MESSAGES.abc.msg_1", "_INBOX.x.1"): "jetstream_write",
        ("parley.msg.v1.submit.acc_1", "_INBOX.x.2"): "jetstream_write",
        ("parley.msg.v1.submit.acc_1", "$JS.ACK.SUBMIT.routing.1.5.5.1.0"): "delivery",
        ("$JS.ACK.SUBMIT.routing.1.5.5.1.0", ""): "consumer_ack",
        ("$JS.API.CONSUMER.MSG.NEXT.SUBMIT.routing", "_INBOX.y"): "api_request",
        ("_INBOX.x.1", ""): "reply",
        ("parley.config.ping", ""): "core",
    }
    assert {pair: floor.wire_kind(*pair) for pair in kinds} == kinds


def test_the_floor_is_bare_http_plus_the_writes_and_its_share_of_the_busy_cost() -> None:
    """80 µs of HTTP + 5 writes of 20 µs = 180 µs; against 600 µs measured at 2,000 msg/s, 0.3."""
    measured = {
        "aiohttp_server_us_per_request": 80.0,
        "routing_jetstream_writes_per_msg": 5.0,
        "publish_ack_client_us": 20.0,
        "routing_cpu_us_per_msg_at_2000": 600.0,
        "routing_cpu_us_per_msg_at_500": 1_200.0,
    }
    assert floor.floor_figures(measured) == {
        "routing_floor_us_per_msg": 180.0,
        "routing_floor_share": 0.3,
    }
    assert math.isnan(
        floor.floor_figures(measured | {"routing_cpu_us_per_msg_at_2000": 0.0})[
            "routing_floor_share"
        ]
    )
