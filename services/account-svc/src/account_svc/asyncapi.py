"""AsyncAPI 3.0 document of Parley on NATS (`/asyncapi.json`, CONTRACT sections 3, 4 and 10).

Every subject an integrator may use: its status and inbound events (subscribe, or read its
durable consumers through the JetStream API prefix `JS.PARLEY.API`) and the send request/reply;
with the connection rules of section 10 (user = account id, password = API key, inbox prefix
`_INBOX.<account_id>`, everything else refused). account-svc's own events (ACCOUNTS,
TEMPLATES, SENDERS) are listed too, marked internal: integrators cannot reach them. Payload
schemas come from the shared event models, so the document follows the code.
"""

from __future__ import annotations

from typing import Any

from parley_runtime.natsauth.permissions import JS_PREFIX
from parley_shared import subjects
from parley_shared.events import (
    AccountConfigData,
    CloudEvent,
    InboundData,
    SenderData,
    StatusData,
    TemplateData,
)

HEADERS = {"type": "object", "properties": {"Nats-Msg-Id": {"type": "string"}}}
ACCOUNT = {"description": "the access account's id (`acc_...`): an integrator only its own"}
RULES = (
    "Connect with user = the access account's id, password = its API key, inbox prefix "
    "`_INBOX.<account_id>` (nats-py: `nats.connect(url, user=acc, password=key, "
    'inbox_prefix=f"_INBOX.{acc}")`). Such a connection may only subscribe to '
    "`parley.msg.v1.status.<its id>` and `parley.msg.v1.inbound.<its id>`, request "
    "`parley.api.v1.messages.send`, and read its pull consumers named `<its id>` on STATUS and "
    "INBOUND through the JetStream API prefix `JS.PARLEY.API` (CONSUMER.INFO, CONSUMER.MSG.NEXT, "
    "and acks on `$JS.ACK.<stream>.<its id>.>`). Anything else is refused as a permission "
    "violation: another account's subjects, wildcards over accounts, internal subjects, "
    "creating, changing or deleting consumers or streams, KV. Each account is a NATS account of "
    "its own: nothing it publishes, through a reply subject or otherwise, reaches another "
    "account. A replaced API key or a deleted account is refused at once and its open "
    "connections are closed within 10 s. Operators: user `operator` (PARLEY_DATA_DIR/nats/"
    "operator.json) may subscribe to every `parley.msg.>` subject and nothing more."
)

SEND_REQUEST: dict[str, Any] = {
    "type": "object",
    "description": "The body of POST /v1/messages (CONTRACT section 3); for an account with "
    "payload encryption on, an envelope (section 6) instead.",
    "properties": {
        "to": {"type": "string", "description": "E.164 number"},
        "channel": {"type": "string", "enum": ["rcs", "sms", "whatsapp", "truecaller"]},
        "sender": {"type": "string"},
        "content": {"type": "object"},
        "validity_seconds": {"type": "integer", "minimum": 1},
        "client_ref": {"type": "string"},
        "metadata": {"type": "object"},
    },
}
SEND_REPLY: dict[str, Any] = {
    "description": "202: the accepted message (an envelope for an encrypting account); "
    "otherwise problem JSON (RFC 9457) with its `status`. Header Parley-Status repeats it.",
    "oneOf": [
        {
            "type": "object",
            "required": ["message_id", "status"],
            "properties": {
                "message_id": {"type": "string", "pattern": "^msg_"},
                "status": {"const": "accepted"},
            },
        },
        {
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array"},
            },
        },
        {
            "type": "object",
            "description": "an envelope (section 6) around the 202 answer",
            "required": ["kid", "iv", "ciphertext"],
        },
    ],
}
PULL_REQUEST: dict[str, Any] = {
    "type": "object",
    "description": "A JetStream pull request (what nats-py's fetch sends).",
    "properties": {
        "batch": {"type": "integer", "minimum": 1},
        "expires": {"type": "integer", "description": "nanoseconds"},
        "no_wait": {"type": "boolean"},
    },
}
CONSUMER_INFO: dict[str, Any] = {
    "type": "object",
    "description": "JetStream consumer info of the account's durable consumer.",
    "properties": {
        "stream_name": {"type": "string"},
        "name": {"type": "string"},
        "num_pending": {"type": "integer"},
        "num_ack_pending": {"type": "integer"},
    },
}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name, model in (
        ("StatusEvent", CloudEvent[StatusData]),
        ("InboundEvent", CloudEvent[InboundData]),
        ("AccountConfigEvent", CloudEvent[AccountConfigData]),
        ("TemplateEvent", CloudEvent[TemplateData]),
        ("SenderEvent", CloudEvent[SenderData]),
    ):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    schemas |= {
        "SendRequest": SEND_REQUEST,
        "SendReply": SEND_REPLY,
        "PullRequest": PULL_REQUEST,
        "ConsumerInfo": CONSUMER_INFO,
        "Ack": {"type": "string", "description": "empty (ack), -NAK, +WPI or +TERM"},
    }
    return schemas


def _message(name: str, summary: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "summary": summary,
        "payload": {"$ref": f"#/components/schemas/{name}"},
    }
    if headers:
        out["headers"] = headers
    return out


def _channel(address: str | None, messages: list[str], description: str, **kw: Any) -> Any:
    out: dict[str, Any] = {
        "address": address,
        "description": description,
        "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages},
    }
    params = [p for p in ("account_id", "stream", "ack") if address and f"{{{p}}}" in address]
    if params:
        out["parameters"] = {
            "account_id": ACCOUNT,
            "stream": {"enum": ["STATUS", "INBOUND"], "description": "the stream"},
            "ack": {"description": "the tokens of the delivered message's reply subject"},
        }
        out["parameters"] = {k: v for k, v in out["parameters"].items() if k in params}
    return out | kw


def _channels() -> dict[str, Any]:
    status, inbound = subjects.STATUS_PREFIX, subjects.INBOUND_PREFIX
    return {
        "status": _channel(
            f"{status}.{{account_id}}",
            ["StatusEvent"],
            "One native status event (CloudEvents 1.0) per status change; stream STATUS.",
            bindings={"nats": {"stream": subjects.STREAM_STATUS}},
        ),
        "inbound": _channel(
            f"{inbound}.{{account_id}}",
            ["InboundEvent"],
            "One native inbound (user-initiated) event; stream INBOUND.",
            bindings={"nats": {"stream": subjects.STREAM_INBOUND}},
        ),
        "messagesSend": _channel(
            subjects.API_MESSAGES_SEND,
            ["SendRequest"],
            "Send a message (request/reply); header `Authorization: Bearer <api_key>` (or "
            "X-API-Key), which must be the connected account's key.",
        ),
        "messagesSendReply": _channel(
            None, ["SendReply"], "The reply, on the caller's inbox `_INBOX.<account_id>.`."
        ),
        "consumerNext": _channel(
            f"{JS_PREFIX}.CONSUMER.MSG.NEXT.{{stream}}.{{account_id}}",
            ["PullRequest"],
            "Read the account's durable pull consumer `<account_id>` (nats-py: "
            '`js = nc.jetstream(prefix="JS.PARLEY.API")`, `js.pull_subscribe_bind('
            'durable=acc, stream="STATUS")`, `fetch`).',
        ),
        "consumerMessages": _channel(
            None,
            ["StatusEvent", "InboundEvent"],
            "Messages of a pull request, on the caller's inbox; ack each one on its reply subject.",
        ),
        "consumerInfo": _channel(
            f"{JS_PREFIX}.CONSUMER.INFO.{{stream}}.{{account_id}}",
            ["PullRequest"],
            "The account's durable consumer info (empty request body).",
        ),
        "consumerInfoReply": _channel(None, ["ConsumerInfo"], "Consumer info, on the inbox."),
        "ack": _channel(
            "$JS.ACK.{stream}.{account_id}.{ack}",
            ["Ack"],
            "Acknowledge a message read from the account's consumer (its reply subject).",
        ),
        "accountConfig": _channel(
            f"{subjects.ACCOUNT_CONFIG_PREFIX}.{{account_id}}",
            ["AccountConfigEvent"],
            "Internal (account-svc to the services; integrators cannot reach it): account "
            "config snapshots, secrets hashed or sealed; a deletion is a tombstone.",
            bindings={"nats": {"stream": subjects.STREAM_ACCOUNTS}},
        ),
        "templateConfig": _channel(
            f"{subjects.TEMPLATE_CONFIG_PREFIX}.{{template_id}}",
            ["TemplateEvent"],
            "Internal: message template snapshots; a deletion is a tombstone.",
            parameters={"template_id": {"description": "tpl_... id"}},
            bindings={"nats": {"stream": subjects.STREAM_TEMPLATES}},
        ),
        "senderConfig": _channel(
            f"{subjects.SENDER_CONFIG_PREFIX}.{{sender_id}}",
            ["SenderEvent"],
            "Internal: an enterprise's registered senders; a deregistration is a tombstone.",
            parameters={"sender_id": {"description": "snd_... id"}},
            bindings={"nats": {"stream": subjects.STREAM_SENDERS}},
        ),
    }


def _operations() -> dict[str, Any]:
    def ref(channel: str, message: str) -> dict[str, Any]:
        return {"$ref": f"#/channels/{channel}/messages/{message}"}

    def op(action: str, channel: str, messages: list[str], **kw: Any) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [ref(channel, m) for m in messages],
        } | kw

    def reply(channel: str, messages: list[str]) -> dict[str, Any]:
        return {
            "address": {"location": "$message.header#/reply", "description": "the inbox"},
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [ref(channel, m) for m in messages],
        }

    return {
        "receiveStatus": op("receive", "status", ["StatusEvent"]),
        "receiveInbound": op("receive", "inbound", ["InboundEvent"]),
        "sendMessage": op(
            "send",
            "messagesSend",
            ["SendRequest"],
            reply=reply("messagesSendReply", ["SendReply"]),
        ),
        "readConsumer": op(
            "send",
            "consumerNext",
            ["PullRequest"],
            reply=reply("consumerMessages", ["StatusEvent", "InboundEvent"]),
        ),
        "consumerInfo": op(
            "send",
            "consumerInfo",
            ["PullRequest"],
            reply=reply("consumerInfoReply", ["ConsumerInfo"]),
        ),
        "ackMessage": op("send", "ack", ["Ack"]),
        "publishAccountConfig": op("receive", "accountConfig", ["AccountConfigEvent"]),
        "publishTemplateConfig": op("receive", "templateConfig", ["TemplateEvent"]),
        "publishSenderConfig": op("receive", "senderConfig", ["SenderEvent"]),
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document, with payload schemas generated from the shared event models."""
    messages = {
        "StatusEvent": _message("StatusEvent", "A status change", HEADERS),
        "InboundEvent": _message("InboundEvent", "A user-initiated message", HEADERS),
        "SendRequest": _message("SendRequest", "A message to send"),
        "SendReply": _message("SendReply", "The answer to a send"),
        "PullRequest": _message("PullRequest", "A JetStream API request"),
        "ConsumerInfo": _message("ConsumerInfo", "Consumer info"),
        "Ack": _message("Ack", "An acknowledgement"),
        "AccountConfigEvent": _message("AccountConfigEvent", "Internal config event", HEADERS),
        "TemplateEvent": _message("TemplateEvent", "Internal template event", HEADERS),
        "SenderEvent": _message("SenderEvent", "Internal registered sender event", HEADERS),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parley on NATS",
            "version": "1.0.0",
            "description": (
                "What integrators use on NATS (CONTRACT sections 3, 4 and 10). " + RULES
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "make run's embedded server; your deployment's NATS_URL",
                "security": [{"$ref": "#/components/securitySchemes/integrator"}],
            }
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "securitySchemes": {
                "integrator": {"type": "userPassword", "description": RULES},
            },
            "messages": messages,
            "schemas": _schemas(),
        },
    }
