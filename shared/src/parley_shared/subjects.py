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
STREAM_SUBMIT_OTP = "SUBMIT_OTP"
STREAM_SUBMIT_PROMOTIONAL = "SUBMIT_PROMOTIONAL"
STREAM_STATUS = "STATUS"
STREAM_INBOUND = "INBOUND"
STREAM_ROUTING_REPORTS = "ROUTING_REPORTS"
STREAM_ROUTING_TIMERS = "ROUTING_TIMERS"
STREAM_TEMPLATES = "TEMPLATES"
STREAM_SENDERS = "SENDERS"

# Subject roots. Each ends in a token (an account id or a message id).
ACCOUNT_CONFIG_PREFIX = "parley.account.v1.config"
TEMPLATE_CONFIG_PREFIX = "parley.template.v1.config"
SENDER_CONFIG_PREFIX = "parley.sender.v1.config"
SUBMIT_PREFIX = "parley.msg.v1.submit"
STATUS_PREFIX = "parley.msg.v1.status"
INBOUND_PREFIX = "parley.msg.v1.inbound"
TIMER_PREFIX = "parley.route.v1.timer"
TIMER_FIRED_PREFIX = "parley.route.v1.timer_fired"
REPORT_PREFIX = "parley.route.v1.report"
REPORT_SCHEDULE_PREFIX = "parley.route.v1.report_at"
RECEIPT_PREFIX = "parley.route.v1.receipt"
USER_MESSAGE_PREFIX = "parley.route.v1.user"
ROUTING_POISON_PREFIX = "parley.route.v1.poison"
STREAM_ROUTING_POISON = "ROUTING_POISON"

# Traffic classes (an account's `traffic_type`; conversational accounts are transactional):
# each has its own SUBMIT lane and webhook retry lane, so OTP never waits behind promotional.
OTP = "otp"
TRANSACTIONAL = "transactional"
PROMOTIONAL = "promotional"
TRAFFIC_CLASSES = (OTP, TRANSACTIONAL, PROMOTIONAL)

# Wildcards (filter subjects of consumers and stream subject lists).
ACCOUNT_CONFIG_ALL = f"{ACCOUNT_CONFIG_PREFIX}.*"
TEMPLATE_CONFIG_ALL = f"{TEMPLATE_CONFIG_PREFIX}.*"
SENDER_CONFIG_ALL = f"{SENDER_CONFIG_PREFIX}.*"
SUBMIT_ALL = f"{SUBMIT_PREFIX}.*"
SUBMIT_OTP_ALL = f"{SUBMIT_PREFIX}.{OTP}.*"
SUBMIT_PROMOTIONAL_ALL = f"{SUBMIT_PREFIX}.{PROMOTIONAL}.*"
STATUS_ALL = f"{STATUS_PREFIX}.*"
INBOUND_ALL = f"{INBOUND_PREFIX}.*"
TIMER_ALL = f"{TIMER_PREFIX}.*"
TIMER_FIRED_ALL = f"{TIMER_FIRED_PREFIX}.*"
REPORT_ALL = f"{REPORT_PREFIX}.*"
REPORT_SCHEDULE_ALL = f"{REPORT_SCHEDULE_PREFIX}.*"
RECEIPT_ALL = f"{RECEIPT_PREFIX}.*"
USER_MESSAGE_ALL = f"{USER_MESSAGE_PREFIX}.*"

# Request/reply.
API_MESSAGES_SEND = "parley.api.v1.messages.send"
API_MESSAGES_SEND_ALL = f"{API_MESSAGES_SEND}.*"
WEBHOOK_DELIVERIES_QUERY = "parley.webhook.v1.deliveries.query"
WEBHOOK_DEAD_LETTERS_QUERY = "parley.webhook.v1.dead_letters.query"
WEBHOOK_DEAD_LETTERS_REPLAY = "parley.webhook.v1.dead_letters.replay"
# routing-svc's operator API (account-svc's console asks). The routes query is answered by
# every replica (no queue group: each reports its own connections); the others by one.
ROUTING_ROUTES_QUERY = "parley.routing.v1.routes.query"
ROUTING_MESSAGES_TRACE = "parley.routing.v1.messages.trace"
ROUTING_MESSAGES_FIND = "parley.routing.v1.messages.find"

# Durable consumer names.
DURABLE_ROUTING_ACCOUNTS = "routing-svc-accounts"
DURABLE_ROUTING_SUBMIT = "routing-svc-submit"
DURABLE_ROUTING_SUBMIT_OTP = "routing-svc-submit-otp"
DURABLE_ROUTING_SUBMIT_PROMOTIONAL = "routing-svc-submit-promotional"
DURABLE_ROUTING_REPORTS = "routing-svc-reports"
DURABLE_ROUTING_TIMERS = "routing-svc-timers"
DURABLE_ROUTING_RECEIPTS = "routing-svc-receipts"
DURABLE_ROUTING_USER_MESSAGES = "routing-svc-user-messages"
DURABLE_ROUTING_PURGE = "routing-svc-purge"
"""routing-svc's durable consumer of ACCOUNTS that purges a deleted account's data."""
QUEUE_ROUTING_API = "routing-svc"
QUEUE_ROUTING_OPS = "routing-svc-ops"
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


def template_config(template_id: str) -> str:
    """Subject of one message template's snapshots (TEMPLATES stream, last one wins)."""
    return f"{TEMPLATE_CONFIG_PREFIX}.{_token(template_id)}"


def sender_config(sender_id: str) -> str:
    """Subject of one registered sender's snapshots (SENDERS stream, last one wins)."""
    return f"{SENDER_CONFIG_PREFIX}.{_token(sender_id)}"


def submit(account_id: str, traffic_class: str = TRANSACTIONAL) -> str:
    """Subject on which an accepted message waits for routing, in its traffic class's lane:
    `submit.<account>` (SUBMIT) for transactional traffic, `submit.otp.<account>` (SUBMIT_OTP),
    `submit.promotional.<account>` (SUBMIT_PROMOTIONAL)."""
    if traffic_class in (OTP, PROMOTIONAL):
        return f"{SUBMIT_PREFIX}.{traffic_class}.{_token(account_id)}"
    return f"{SUBMIT_PREFIX}.{_token(account_id)}"


SUBMIT_LANES = {
    OTP: (STREAM_SUBMIT_OTP, SUBMIT_OTP_ALL, DURABLE_ROUTING_SUBMIT_OTP),
    TRANSACTIONAL: (STREAM_SUBMIT, SUBMIT_ALL, DURABLE_ROUTING_SUBMIT),
    PROMOTIONAL: (
        STREAM_SUBMIT_PROMOTIONAL,
        SUBMIT_PROMOTIONAL_ALL,
        DURABLE_ROUTING_SUBMIT_PROMOTIONAL,
    ),
}
"""traffic class -> (stream, filter subject, durable consumer) of its SUBMIT lane."""


def submit_subjects_of(account_id: str) -> list[tuple[str, str]]:
    """(stream, subject) of every place an account's attempts wait for routing."""
    return [(SUBMIT_LANES[c][0], submit(account_id, c)) for c in TRAFFIC_CLASSES]


def status(account_id: str) -> str:
    """Subject of an account's status events (STATUS stream)."""
    return f"{STATUS_PREFIX}.{_token(account_id)}"


def inbound(account_id: str) -> str:
    """Subject of an account's user-initiated messages (INBOUND stream)."""
    return f"{INBOUND_PREFIX}.{_token(account_id)}"


def api_messages_send(account_id: str) -> str:
    """Subject an integrator's `parley.api.v1.messages.send` reaches routing-svc on.

    Each integrator's NATS account imports only its own (CONTRACT section 10), so the server,
    not a header, names the calling account.
    """
    return f"{API_MESSAGES_SEND}.{_token(account_id)}"


def timer(message_id: str) -> str:
    """Subject of a message's durable DR TTL timer."""
    return f"{TIMER_PREFIX}.{_token(message_id)}"


def timer_fired(message_id: str) -> str:
    """Subject a message's DR TTL timer fires on (the schedule's target, ROUTING_TIMERS)."""
    return f"{TIMER_FIRED_PREFIX}.{_token(message_id)}"


def report(message_id: str) -> str:
    """Subject of a delivery report of one message (ROUTING_REPORTS)."""
    return f"{REPORT_PREFIX}.{_token(message_id)}"


def report_schedule(token: str) -> str:
    """Schedule subject of one delayed delivery report (ROUTING_REPORTS; fires on `report`)."""
    return f"{REPORT_SCHEDULE_PREFIX}.{_token(token)}"


def receipt(route: str) -> str:
    """Subject of a report keyed by a provider's id, heard on `route` (ROUTING_REPORTS)."""
    return f"{RECEIPT_PREFIX}.{_token(route)}"


def routing_poison(consumer: str) -> str:
    """Where a message routing-svc's `consumer` gave up on is kept (ROUTING_POISON)."""
    return f"{ROUTING_POISON_PREFIX}.{_token(consumer)}"


def user_message(route: str) -> str:
    """Subject of a user's message or typing heard through `route` (ROUTING_REPORTS)."""
    return f"{USER_MESSAGE_PREFIX}.{_token(route)}"


# webhook-svc internals: retries (message schedules), dead letters, delivery log, disabled hooks.
STREAM_WEBHOOK_RETRY = "WEBHOOK_RETRY"
STREAM_WEBHOOK_DEAD_LETTERS = "WEBHOOK_DEAD_LETTERS"
STREAM_WEBHOOK_DELIVERIES = "WEBHOOK_DELIVERIES"
STREAM_WEBHOOK_DISABLED = "WEBHOOK_DISABLED"
STREAM_WEBHOOK_POISON = "WEBHOOK_POISON"
WEBHOOK_RETRY_AT_PREFIX = "parley.webhook.v1.retry_at"
WEBHOOK_RETRY_DUE_PREFIX = "parley.webhook.v1.retry_due"
WEBHOOK_DEAD_LETTER_PREFIX = "parley.webhook.v1.dead_letter"
WEBHOOK_ATTEMPT_LOG_PREFIX = "parley.webhook.v1.attempt_log"
WEBHOOK_DISABLED_PREFIX = "parley.webhook.v1.disabled"
WEBHOOK_POISON_PREFIX = "parley.webhook.v1.poison"
WEBHOOK_RETRY_DUE_ALL = f"{WEBHOOK_RETRY_DUE_PREFIX}.*"
WEBHOOK_RETRY_DUE_OTP_ALL = f"{WEBHOOK_RETRY_DUE_PREFIX}.{OTP}.*"
WEBHOOK_RETRY_DUE_PROMOTIONAL_ALL = f"{WEBHOOK_RETRY_DUE_PREFIX}.{PROMOTIONAL}.*"
WEBHOOK_DISABLED_ALL = f"{WEBHOOK_DISABLED_PREFIX}.*.*"
WEBHOOK_POISON_ALL = f"{WEBHOOK_POISON_PREFIX}.*.*"
DURABLE_WEBHOOK_RETRY = "webhook-svc-retry"
DURABLE_WEBHOOK_RETRY_OTP = "webhook-svc-retry-otp"
DURABLE_WEBHOOK_RETRY_PROMOTIONAL = "webhook-svc-retry-promotional"
DURABLE_WEBHOOK_PURGE = "webhook-svc-purge"
"""webhook-svc's durable consumer of ACCOUNTS that purges a deleted account's data."""
QUEUE_WEBHOOK_API = "webhook-svc"


def webhook_retry_at(account_id: str, batch_id: str) -> str:
    """Schedule subject of a batch's next attempt (WEBHOOK_RETRY; fires on `webhook_retry_due`),
    under its account so that a deleted account's waiting retries can be purged."""
    return f"{WEBHOOK_RETRY_AT_PREFIX}.{_token(account_id)}.{_token(batch_id)}"


def webhook_retries_of(account_id: str) -> str:
    """Filter subject of every waiting retry (schedule) of an account."""
    return f"{WEBHOOK_RETRY_AT_PREFIX}.{_token(account_id)}.*"


def webhook_retry_due(account_id: str, traffic_class: str = TRANSACTIONAL) -> str:
    """Subject on which a batch of an account is due for its next attempt (WEBHOOK_RETRY), in
    its traffic class's lane (`retry_due.<account>` for transactional, `retry_due.otp.<account>`,
    `retry_due.promotional.<account>`)."""
    if traffic_class in (OTP, PROMOTIONAL):
        return f"{WEBHOOK_RETRY_DUE_PREFIX}.{traffic_class}.{_token(account_id)}"
    return f"{WEBHOOK_RETRY_DUE_PREFIX}.{_token(account_id)}"


WEBHOOK_RETRY_LANES = {
    OTP: (WEBHOOK_RETRY_DUE_OTP_ALL, DURABLE_WEBHOOK_RETRY_OTP),
    TRANSACTIONAL: (WEBHOOK_RETRY_DUE_ALL, DURABLE_WEBHOOK_RETRY),
    PROMOTIONAL: (WEBHOOK_RETRY_DUE_PROMOTIONAL_ALL, DURABLE_WEBHOOK_RETRY_PROMOTIONAL),
}
"""traffic class -> (filter subject, durable consumer) of its lane on WEBHOOK_RETRY."""


def webhook_dead_letter(account_id: str, dead_letter_id: str) -> str:
    """Subject holding one dead letter of an account (WEBHOOK_DEAD_LETTERS, one per subject)."""
    return f"{WEBHOOK_DEAD_LETTER_PREFIX}.{_token(account_id)}.{_token(dead_letter_id)}"


def webhook_dead_letters_of(account_id: str) -> str:
    """Filter subject of every dead letter of an account."""
    return f"{WEBHOOK_DEAD_LETTER_PREFIX}.{_token(account_id)}.*"


def webhook_attempt_log(account_id: str) -> str:
    """Subject of an account's webhook delivery attempts (WEBHOOK_DELIVERIES)."""
    return f"{WEBHOOK_ATTEMPT_LOG_PREFIX}.{_token(account_id)}"


def webhook_disabled(account_id: str, kind: str) -> str:
    """Subject of the disabled state of one webhook of an account (WEBHOOK_DISABLED)."""
    return f"{WEBHOOK_DISABLED_PREFIX}.{_token(account_id)}.{_token(kind)}"


def webhook_disabled_of(account_id: str) -> str:
    """Filter subject of both disabled states of an account."""
    return f"{WEBHOOK_DISABLED_PREFIX}.{_token(account_id)}.*"


def webhook_poison_of(account_id: str) -> str:
    """Filter subject of every poison copy of an account's messages."""
    return f"{WEBHOOK_POISON_PREFIX}.*.{_token(account_id)}"


def webhook_poison(consumer: str, account_id: str) -> str:
    """Subject of a message one of webhook-svc's consumers gave up on (WEBHOOK_POISON): the
    durable consumer's name, then the account id of the message's own subject."""
    return f"{WEBHOOK_POISON_PREFIX}.{_token(consumer)}.{_token(account_id)}"


def account_id_of(subject: str) -> str:
    """The account id (last token) of a per-account subject."""
    return subject.rsplit(".", 1)[-1]
