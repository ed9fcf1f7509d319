"""Every NATS subject, stream and durable name Parley uses, in one place.

No service builds a subject with an f-string of its own: it calls a function here, so a
change of naming is one edit and every service agrees on it.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

# Streams (JetStream).
STREAM_ACCOUNTS = "ACCOUNTS"
STREAM_SUBMIT = "SUBMIT"
STREAM_STATUS = "STATUS"
STREAM_INBOUND = "INBOUND"

# Subject roots. Each ends in a token (an account id or a message id).
ACCOUNT_CONFIG_PREFIX = "parley.account.v1.config"
SUBMIT_PREFIX = "parley.msg.v1.submit"
STATUS_PREFIX = "parley.msg.v1.status"
INBOUND_PREFIX = "parley.msg.v1.inbound"
TIMER_PREFIX = "parley.route.v1.timer"

# Wildcards (filter subjects of consumers and stream subject lists).
ACCOUNT_CONFIG_ALL = f"{ACCOUNT_CONFIG_PREFIX}.*"
SUBMIT_ALL = f"{SUBMIT_PREFIX}.*"
STATUS_ALL = f"{STATUS_PREFIX}.*"
INBOUND_ALL = f"{INBOUND_PREFIX}.*"
TIMER_ALL = f"{TIMER_PREFIX}.*"

# Request/reply.
API_MESSAGES_SEND = "parley.api.v1.messages.send"
WEBHOOK_DELIVERIES_QUERY = "parley.webhook.v1.deliveries.query"
WEBHOOK_DEAD_LETTERS_QUERY = "parley.webhook.v1.dead_letters.query"
WEBHOOK_DEAD_LETTERS_REPLAY = "parley.webhook.v1.dead_letters.replay"

# Durable consumer names.
DURABLE_ROUTING_ACCOUNTS = "routing-svc-accounts"
DURABLE_ROUTING_SUBMIT = "routing-svc-submit"
DURABLE_WEBHOOK_STATUS = "webhook-svc-status"
DURABLE_WEBHOOK_INBOUND = "webhook-svc-inbound"

# Message headers.
HEADER_MSG_ID = "Nats-Msg-Id"


class InvalidSubjectToken(ValueError):
    """Raised when an id would not be a single, safe NATS subject token.

    Ids end up as the last token of a subject; a dot, space or wildcard in one would publish
    to (or subscribe to) the wrong subjects, so it is refused here rather than at the broker.
    """


def _token(value: str) -> str:
    if not _TOKEN.match(value):
        raise InvalidSubjectToken(f"not a subject token: {value!r}")
    return value


def account_config(account_id: str) -> str:
    """Subject of one account's config snapshots (ACCOUNTS stream, last one wins)."""
    return f"{ACCOUNT_CONFIG_PREFIX}.{_token(account_id)}"


def submit(account_id: str) -> str:
    """Subject on which an accepted message waits for routing (SUBMIT stream)."""
    return f"{SUBMIT_PREFIX}.{_token(account_id)}"


def status(account_id: str) -> str:
    """Subject of an account's status events (STATUS stream)."""
    return f"{STATUS_PREFIX}.{_token(account_id)}"


def inbound(account_id: str) -> str:
    """Subject of an account's user-initiated messages (INBOUND stream)."""
    return f"{INBOUND_PREFIX}.{_token(account_id)}"


def timer(message_id: str) -> str:
    """Subject of a message's durable DR TTL timer."""
    return f"{TIMER_PREFIX}.{_token(message_id)}"


def account_id_of(subject: str) -> str:
    """The account id (last token) of a per-account subject."""
    return subject.rsplit(".", 1)[-1]
