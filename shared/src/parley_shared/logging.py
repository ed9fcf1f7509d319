"""structlog setup shared by every service: JSON off a terminal, and redaction of secrets.

Services log events in snake_case with `account_id`, `message_id`, `correlation_id` bound.
Whatever a caller passes by mistake, the redaction processor replaces values of keys that
name a secret, a message body or a phone number, so none of them reaches a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Keys whose values never reach a log line (compared lower-case, "-" read as "_").
SECRET_KEYS = frozenset(
    {
        "password",
        "passphrase",
        "api_key",
        "token",
        "authorization",
        "secret",
        "webhook_signing_secret",
        "signing_secret",
        "master_key",
        "text",
        "content",
        "body",
        "to",
        "from",
        "msisdn",
        "recipient",
        "phone",
        "url_credentials",
    }
)

_SECRETISH = re.compile(
    r"pk_[A-Za-z0-9_-]{8,}"  # an API key
    r"|whsec_[A-Za-z0-9+/=]{8,}"  # a webhook signing secret
    r"|(?<![A-Za-z0-9_])\+?\d{8,15}(?![A-Za-z0-9_])"  # a phone number: a run of digits on its own
)
"""Secret- and number-shaped strings. A run of digits inside a word (`evt_e5fdc90c2565b5a8`,
`msg_01J...`, a trace id) is part of an id, not a phone number, and stays whole so operators
can grep one message or event across the logs of the three services."""


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRETISH.sub(REDACTED, value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace secret-bearing values; scrub key- and number-shaped strings from the rest."""
    for key in list(event_dict.keys()):
        norm = key.lower().replace("-", "_")
        if norm in SECRET_KEYS or norm.endswith(("_password", "_secret", "_passphrase", "_token")):
            event_dict[key] = REDACTED
        elif key != "event":
            event_dict[key] = _redact_value(event_dict[key])
    if isinstance(event_dict.get("event"), str):
        event_dict["event"] = _redact_value(event_dict["event"])
    return event_dict


class RedactingFormatter(logging.Formatter):
    """Libraries' own log lines (aiohttp, asyncpg, nats) and their tracebacks, with key- and
    number-shaped strings scrubbed as in structlog's lines."""

    def format(self, record: logging.LogRecord) -> str:
        return str(_redact_value(super().format(record)))


def configure_logging(
    service: str, level: str = "INFO", json_output: bool | None = None, stream: Any = None
) -> None:
    """Configure structlog (and the stdlib root logger) for one service process."""
    out = stream if stream is not None else sys.stderr
    as_json = json_output if json_output is not None else not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(out)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)
