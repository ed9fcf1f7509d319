"""Who may do what on Parley's NATS: each service, the operator, and an integrator.

Services live in the PARLEY account (where the streams are) with least-privilege permissions:
each publishes only its own subjects, uses the JetStream API only on the streams it works on,
and updates only the streams it owns (`streams.json` `owner`; any service may *create* a
missing Parley stream with its one definition, so start order does not matter). Each service
has its own inbox prefix (`_INBOX.<service>`), so none sees another's replies.

An integrator is alone in a NATS account of its own (`tenant_imports`): it sees only what that
account imports from PARLEY: its two event subjects, the send service mapped onto a
per-account subject (routing-svc learns the caller from the subject, not from a header), and
its two durable consumers through the JetStream API prefix `JS.PARLEY.API`. The user
permissions (`integrator`) repeat the same list, so anything else is refused outright.
"""

from __future__ import annotations

from typing import Any

from parley_shared import subjects

JS_PREFIX = "JS.PARLEY.API"
"""The JetStream API prefix an integrator uses (`nc.jetstream(prefix=JS_PREFIX)`)."""
OPERATOR_USER = "operator"
"""The user name of the operator credential (`PARLEY_DATA_DIR/nats/operator.json`)."""
SERVICES = ("account-svc", "routing-svc", "webhook-svc")
TENANT_STREAMS = (subjects.STREAM_STATUS, subjects.STREAM_INBOUND)
TENANT_PREFIXES = (subjects.STATUS_PREFIX, subjects.INBOUND_PREFIX)
KV_ROUTING = (
    "ROUTING_MESSAGES",
    "ROUTING_CONSENT",
    "ROUTING_LAST_SENDER",
    "ROUTING_SHORT_LINKS",
    "ROUTING_HANDOVERS",
    "ROUTING_CAPACITY",
    "ROUTING_CLIENT_REFS",
)
KV_SANDBOX = "SANDBOX_RECIPIENTS"
ROUTING_PURGES = (
    subjects.STREAM_STATUS,
    subjects.STREAM_INBOUND,
    subjects.STREAM_SUBMIT,
    subjects.STREAM_SUBMIT_OTP,
    subjects.STREAM_SUBMIT_PROMOTIONAL,
    "KV_ROUTING_MESSAGES",
    "KV_ROUTING_SHORT_LINKS",
)
"""Streams routing-svc purges by subject when an account is deleted."""
WEBHOOK_PURGES = (
    subjects.STREAM_WEBHOOK_RETRY,
    subjects.STREAM_WEBHOOK_DELIVERIES,
    subjects.STREAM_WEBHOOK_DISABLED,
    subjects.STREAM_WEBHOOK_POISON,
)
"""Streams webhook-svc purges by subject when an account is deleted (besides dead letters)."""
DURABLE_ACCOUNT_NATS = "account-svc-nats"
"""account-svc's durable consumer on ACCOUNTS that provisions integrators' NATS accounts."""

_RESPONSES = {"max": 1, "ttl": 0}


def inbox_prefix(service: str) -> str:
    """The inbox prefix of a service's connection."""
    return f"_INBOX.{service}"


def _stream_names() -> list[str]:
    from parley_shared.streams import load_definitions

    return [d["name"] for d in load_definitions()]


def owned_streams(service: str) -> list[str]:
    """The Parley streams a service keeps up to date (`owner` in streams.json)."""
    from parley_shared.streams import load_definitions

    return [d["name"] for d in load_definitions() if d.get("owner") == service]


def consume(stream: str) -> list[str]:
    """JetStream API subjects to create, read through and delete consumers of a stream."""
    api = "$JS.API"
    return [
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DURABLE.CREATE.{stream}.*",
        f"{api}.CONSUMER.INFO.{stream}.*",
        f"{api}.CONSUMER.DELETE.{stream}.*",
        f"{api}.CONSUMER.MSG.NEXT.{stream}.*",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def follow(stream: str) -> list[str]:
    """JetStream API subjects to follow a stream with an ordered push consumer (created,
    flow-controlled, deleted): it reads the stream without fetching from or acknowledging any
    durable consumer of it."""
    api = "$JS.API"
    return [
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DELETE.{stream}.*",
        f"{api}.CONSUMER.INFO.{stream}.*",
        f"$JS.FC.{stream}.>",
    ]


def _kv(bucket: str, owner: bool) -> list[str]:
    stream = f"KV_{bucket}"
    out = [f"$KV.{bucket}.>", *consume(stream)]
    if owner:
        out += [f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.UPDATE.{stream}"]
    return out


def _streams_common(service: str) -> list[str]:
    return [
        "$JS.API.INFO",
        "$JS.API.STREAM.INFO.*",
        *(f"$JS.API.STREAM.CREATE.{name}" for name in _stream_names()),
        *(f"$JS.API.STREAM.UPDATE.{name}" for name in owned_streams(service)),
    ]


def service_permissions(service: str) -> dict[str, Any]:
    """The user permissions of one service (JWT `pub`/`sub`/`resp`)."""
    inbox = inbox_prefix(service) + ".>"
    pub: list[str] = _streams_common(service)
    sub: list[str] = [inbox]
    if service == "account-svc":
        pub += [
            subjects.ACCOUNT_CONFIG_ALL,
            subjects.TEMPLATE_CONFIG_ALL,
            subjects.SENDER_CONFIG_ALL,
            subjects.WEBHOOK_DELIVERIES_QUERY,
            subjects.WEBHOOK_DEAD_LETTERS_QUERY,
            subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
            subjects.ROUTING_ROUTES_QUERY,
            subjects.ROUTING_MESSAGES_TRACE,
            subjects.ROUTING_MESSAGES_FIND,
            *consume(subjects.STREAM_ACCOUNTS),
            # the console's Traffic view: ordered (push, unacknowledged) consumers on STATUS and
            # the delivery log, and the service consumers' lag; never a fetch or an ack there
            *follow(subjects.STREAM_STATUS),
            *follow(subjects.STREAM_WEBHOOK_DELIVERIES),
            "$JS.API.CONSUMER.INFO.*.*",
        ]
        for stream, prefix in zip(TENANT_STREAMS, TENANT_PREFIXES, strict=True):
            # integrators' durable consumers (created, read, deleted; never consumed here)
            pub += [
                f"$JS.API.CONSUMER.CREATE.{stream}.*.{prefix}.*",
                f"$JS.API.CONSUMER.INFO.{stream}.*",
                f"$JS.API.CONSUMER.DELETE.{stream}.*",
            ]
    elif service == "routing-svc":
        pub += [
            f"{subjects.SUBMIT_PREFIX}.>",  # every traffic-class lane
            subjects.STATUS_ALL,
            subjects.INBOUND_ALL,
            "parley.route.v1.>",
            f"$JS.API.STREAM.PURGE.{subjects.STREAM_ROUTING_TIMERS}",
            *_kv(KV_SANDBOX, owner=True),
            # a deleted account's data (routing-svc README, "Data protection beyond the record")
            *(f"$JS.API.STREAM.PURGE.{name}" for name in ROUTING_PURGES),
        ]
        for stream in (
            subjects.STREAM_SUBMIT,
            subjects.STREAM_SUBMIT_OTP,
            subjects.STREAM_SUBMIT_PROMOTIONAL,
            subjects.STREAM_SENDERS,
            subjects.STREAM_ROUTING_REPORTS,
            subjects.STREAM_ROUTING_TIMERS,
            subjects.STREAM_ACCOUNTS,
            subjects.STREAM_TEMPLATES,
        ):
            pub += consume(stream)
        for bucket in KV_ROUTING:
            pub += _kv(bucket, owner=True)
        sub += [
            subjects.API_MESSAGES_SEND,
            subjects.API_MESSAGES_SEND_ALL,
            subjects.ROUTING_ROUTES_QUERY,
            subjects.ROUTING_MESSAGES_TRACE,
            subjects.ROUTING_MESSAGES_FIND,
        ]
    elif service == "webhook-svc":
        pub += [
            "parley.webhook.v1.retry_at.>",  # retry_at.<batch>, retry_at.<account>.<batch>
            "parley.webhook.v1.retry_due.>",  # every traffic-class lane
            "parley.webhook.v1.dead_letter.*.*",
            "parley.webhook.v1.attempt_log.*",
            "parley.webhook.v1.disabled.*.*",
            f"{subjects.WEBHOOK_POISON_PREFIX}.*.*",
            f"$JS.API.STREAM.PURGE.{subjects.STREAM_WEBHOOK_DEAD_LETTERS}",
            # a deleted account's data, and a do_not_store text erased once handled
            *(f"$JS.API.STREAM.PURGE.{name}" for name in WEBHOOK_PURGES),
            f"$JS.API.STREAM.MSG.DELETE.{subjects.STREAM_STATUS}",
            f"$JS.API.STREAM.MSG.DELETE.{subjects.STREAM_INBOUND}",
        ]
        for stream in (
            subjects.STREAM_STATUS,
            subjects.STREAM_INBOUND,
            subjects.STREAM_ACCOUNTS,
            subjects.STREAM_WEBHOOK_RETRY,
            subjects.STREAM_WEBHOOK_DEAD_LETTERS,
            subjects.STREAM_WEBHOOK_DELIVERIES,
            subjects.STREAM_WEBHOOK_DISABLED,
        ):
            pub += consume(stream)
        sub += [
            subjects.WEBHOOK_DELIVERIES_QUERY,
            subjects.WEBHOOK_DEAD_LETTERS_QUERY,
            subjects.WEBHOOK_DEAD_LETTERS_REPLAY,
        ]
    else:
        raise ValueError(f"unknown service {service!r}")
    return {"pub": {"allow": pub}, "sub": {"allow": sub}, "resp": dict(_RESPONSES)}


def admin_permissions() -> dict[str, Any]:
    """The streams Job (`python -m parley_shared.streams`): create and update any stream, and
    look at (not consume) consumers."""
    return {
        "pub": {
            "allow": [
                "$JS.API.INFO",
                "$JS.API.STREAM.>",
                "$JS.API.CONSUMER.NAMES.>",
                "$JS.API.CONSUMER.LIST.>",
                "$JS.API.CONSUMER.INFO.>",
            ]
        },
        "sub": {"allow": ["_INBOX.>"]},
    }


def operator_permissions() -> dict[str, Any]:
    """The operator credential: subscribe to every `parley.msg.>` subject, nothing more."""
    return {"pub": {"deny": [">"]}, "sub": {"allow": ["parley.msg.>"]}}


def integrator_permissions(account_id: str) -> dict[str, Any]:
    """What an integrator's connection may do (CONTRACT section 10)."""
    status, inbound = subjects.status(account_id), subjects.inbound(account_id)
    pub = [subjects.API_MESSAGES_SEND]
    for stream in TENANT_STREAMS:
        pub += [
            f"{JS_PREFIX}.CONSUMER.INFO.{stream}.{account_id}",
            f"{JS_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{account_id}",
            f"$JS.ACK.{stream}.{account_id}.>",
        ]
    return {
        "pub": {"allow": pub},
        "sub": {"allow": [status, inbound, f"_INBOX.{account_id}.>"]},
    }


def parley_exports() -> list[dict[str, Any]]:
    """What PARLEY offers integrators' accounts (each imports only its own part)."""
    exports: list[dict[str, Any]] = [
        {"name": "status", "subject": subjects.STATUS_ALL, "type": "stream"},
        {"name": "inbound", "subject": subjects.INBOUND_ALL, "type": "stream"},
        {"name": "send", "subject": subjects.API_MESSAGES_SEND_ALL, "type": "service"},
    ]
    for stream in TENANT_STREAMS:
        low = stream.lower()
        exports += [
            {
                "name": f"{low}-info",
                "subject": f"$JS.API.CONSUMER.INFO.{stream}.*",
                "type": "service",
            },
            {
                "name": f"{low}-next",
                "subject": f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
                "type": "service",
                "response_type": "Stream",
            },
            {"name": f"{low}-ack", "subject": f"$JS.ACK.{stream}.*.>", "type": "service"},
        ]
    return exports


def tenant_imports(account_id: str, parley: str) -> list[dict[str, Any]]:
    """The imports of one integrator's account from the PARLEY account `parley`."""
    imports: list[dict[str, Any]] = [
        {
            "name": "status",
            "account": parley,
            "subject": subjects.status(account_id),
            "type": "stream",
        },
        {
            "name": "inbound",
            "account": parley,
            "subject": subjects.inbound(account_id),
            "type": "stream",
        },
        {
            "name": "send",
            "account": parley,
            "subject": subjects.api_messages_send(account_id),
            "local_subject": subjects.API_MESSAGES_SEND,
            "type": "service",
        },
    ]
    for stream in TENANT_STREAMS:
        for verb in ("INFO", "MSG.NEXT"):
            remote = f"$JS.API.CONSUMER.{verb}.{stream}.{account_id}"
            imports.append(
                {
                    "name": f"{stream.lower()}-{verb.lower()}",
                    "account": parley,
                    "subject": remote,
                    "local_subject": JS_PREFIX + remote.removeprefix("$JS.API"),
                    "type": "service",
                }
            )
        imports.append(
            {
                "name": f"{stream.lower()}-ack",
                "account": parley,
                "subject": f"$JS.ACK.{stream}.{account_id}.>",
                "type": "service",
            }
        )
    return imports
