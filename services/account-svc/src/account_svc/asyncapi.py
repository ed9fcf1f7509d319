"""AsyncAPI 3.0 document of what account-svc publishes: account config events on ACCOUNTS and
message template events on TEMPLATES, registered sender events on SENDERS."""

from __future__ import annotations

from typing import Any

from parley_shared import subjects
from parley_shared.events import AccountConfigData, CloudEvent, SenderData, TemplateData

HEADERS = {"type": "object", "properties": {"Nats-Msg-Id": {"type": "string"}}}


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document, with payload schemas generated from the shared event models."""
    schemas: dict[str, Any] = {}
    for name, model in (
        ("AccountConfigEvent", CloudEvent[AccountConfigData]),
        ("TemplateEvent", CloudEvent[TemplateData]),
        ("SenderEvent", CloudEvent[SenderData]),
    ):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    channels = {
        "accountConfig": (
            "AccountConfigEvent",
            subjects.ACCOUNT_CONFIG_PREFIX,
            "account_id",
            "acc_... id",
            subjects.STREAM_ACCOUNTS,
        ),
        "templateConfig": (
            "TemplateEvent",
            subjects.TEMPLATE_CONFIG_PREFIX,
            "template_id",
            "tpl_... id",
            subjects.STREAM_TEMPLATES,
        ),
        "senderConfig": (
            "SenderEvent",
            subjects.SENDER_CONFIG_PREFIX,
            "sender_id",
            "snd_... id",
            subjects.STREAM_SENDERS,
        ),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parley account-svc events",
            "version": "1.0.0",
            "description": (
                "Config snapshots of access accounts and message templates, published through "
                "a transactional outbox with Nats-Msg-Id = event id. ACCOUNTS keeps the last "
                "one per account; a deletion is a tombstone (type parley.account.config.deleted, "
                "data.account null). Secrets are hashed or sealed with the master key. TEMPLATES "
                "keeps the last one per template; a deletion is a tombstone (type "
                "parley.template.config.deleted, data.status deleted). SENDERS keeps the last "
                "one per registered sender; a deregistration is a tombstone (type "
                "parley.sender.config.deleted, data.status deleted)."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {"nats": {"host": "127.0.0.1:4222", "protocol": "nats"}},
        "channels": {
            key: {
                "address": f"{prefix}.{{{param}}}",
                "parameters": {param: {"description": what}},
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
                "bindings": {"nats": {"stream": stream}},
            }
            for key, (name, prefix, param, what, stream) in channels.items()
        },
        "operations": {
            "publish" + key[0].upper() + key[1:]: {
                "action": "send",
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [{"$ref": f"#/channels/{key}/messages/{name}"}],
            }
            for key, (name, *_) in channels.items()
        },
        "components": {
            "messages": {
                name: {
                    "name": name,
                    "headers": HEADERS,
                    "payload": {"$ref": f"#/components/schemas/{name}"},
                }
                for name, *_ in channels.values()
            },
            "schemas": schemas,
        },
    }
