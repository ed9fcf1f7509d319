"""AsyncAPI 3.0 document of what account-svc publishes: account config events on ACCOUNTS."""

from __future__ import annotations

from typing import Any

from parley_shared import subjects
from parley_shared.events import AccountConfigData, CloudEvent


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document, with payload schemas generated from the shared event models."""
    schema = CloudEvent[AccountConfigData].model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    defs = schema.pop("$defs", {})
    name = "AccountConfigEvent"
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parley account-svc events",
            "version": "1.0.0",
            "description": (
                "Config snapshots of access accounts, published through a transactional outbox "
                "with Nats-Msg-Id = event id. The ACCOUNTS stream keeps the last one per "
                "account; a deletion is a tombstone (type parley.account.config.deleted, "
                "data.account null). Secrets are hashed or sealed with the master key."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {"nats": {"host": "127.0.0.1:4222", "protocol": "nats"}},
        "channels": {
            "accountConfig": {
                "address": subjects.ACCOUNT_CONFIG_PREFIX + ".{account_id}",
                "parameters": {"account_id": {"description": "acc_... id"}},
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
                "bindings": {"nats": {"stream": subjects.STREAM_ACCOUNTS}},
            }
        },
        "operations": {
            "publishAccountConfig": {
                "action": "send",
                "channel": {"$ref": "#/channels/accountConfig"},
                "messages": [{"$ref": f"#/channels/accountConfig/messages/{name}"}],
            }
        },
        "components": {
            "messages": {
                name: {
                    "name": name,
                    "headers": {
                        "type": "object",
                        "properties": {"Nats-Msg-Id": {"type": "string"}},
                    },
                    "payload": {"$ref": f"#/components/schemas/{name}"},
                }
            },
            "schemas": {name: schema, **defs},
        },
    }
