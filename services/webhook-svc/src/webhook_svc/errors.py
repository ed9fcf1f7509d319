"""webhook-svc errors: why a request is refused or a delivery attempt cannot be made.

WebhookSvcError
├── PermanentError            the same input can never succeed
│   ├── MalformedRequest      400 malformed_request: a request/reply body is not a JSON object
│   ├── ValidationFailed      422 validation_error: a request field is missing or invalid
│   ├── NotFound              404 not_found: no such dead letter for that account
│   ├── InvalidTarget         a webhook URL is neither https://, http:// nor nats://host/subject
│   └── CannotSend            the webhook lacks a signing secret or its encryption key
└── TransientError            a dependency failed; trying again later may succeed
    └── StoreUnavailable      JetStream did not confirm a write (retry, dead letter, disabled state)

OSError
└── TargetRefused             the SSRF guard: the target resolves only to forbidden addresses
                              (an OSError so that aiohttp reports it as a connection error)

Problems answered over request/reply carry `type`, `title`, `status`, `detail` (RFC 9457
shape, as account-svc answers them over HTTP).
"""

from __future__ import annotations

from parley_shared.problems import ProblemError


class WebhookSvcError(ProblemError):
    """Base of every error webhook-svc raises on purpose."""


class PermanentError(WebhookSvcError):
    """The same request or target can never succeed; the caller must change it."""

    status = 400


class MalformedRequest(PermanentError):
    """A request/reply body is not a JSON object, so nothing in it can be read."""

    status = 400
    type = "malformed_request"
    title = "Malformed request"


class ValidationFailed(PermanentError):
    """A request field is missing or invalid; `errors` names it by its `loc`."""

    status = 422
    type = "validation_error"
    title = "Validation failed"

    @classmethod
    def at(cls, loc: list[str | int], msg: str) -> ValidationFailed:
        """One error at one field."""
        return cls(msg, [{"loc": loc, "msg": msg, "type": "value_error"}])


class NotFound(PermanentError):
    """No such dead letter for that account (another account's looks exactly the same)."""

    status = 404
    type = "not_found"
    title = "Not found"


class InvalidTarget(PermanentError):
    """A webhook URL webhook-svc cannot deliver to; every attempt fails until the config changes."""

    type = "invalid_target"
    title = "Invalid webhook target"


class CannotSend(PermanentError):
    """The webhook lacks what a request needs (a valid signing secret, its encryption key);
    sending anyway would deliver an unsigned or unencrypted body, so the attempt fails."""

    type = "cannot_send"
    title = "Cannot send"


class TransientError(WebhookSvcError):
    """A dependency failed; the same work may succeed later, so nothing is acknowledged."""

    status = 503
    type = "service_unavailable"
    title = "Service unavailable"


class StoreUnavailable(TransientError):
    """JetStream did not confirm a write that must be durable before an event is acknowledged."""


class TargetRefused(OSError):
    """The SSRF guard refused a target: every address it resolves to is loopback, private,
    link-local, reserved or multicast (and private targets are not allowed). It is an OSError
    so that aiohttp's connector wraps it like any other connection failure."""
