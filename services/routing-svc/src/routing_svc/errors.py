"""routing-svc errors. Each one the API answers maps to one RFC 9457 problem.

RoutingSvcError
├── PermanentError              the request cannot succeed as it is (4xx)
│   ├── MalformedRequest        400 malformed_request: the body is not JSON
│   ├── DecryptionFailed        400 decryption_failed: not an envelope the account can open
│   ├── Unauthorized            401 unauthorized: no API key, or one no account holds
│   ├── IpNotAllowed            403 ip_not_allowed: the client address fails the IP restriction
│   ├── NotFound                404 not_found: absent, or another account's
│   ├── MethodNotAllowed        405 method_not_allowed
│   ├── PayloadTooLarge         413 payload_too_large
│   ├── ValidationFailed        422 validation_error: fields at fault in `errors`
│   └── Refused                 422: the account's policy refuses the send
│       ├── ChannelNotEnabled   channel_not_enabled
│       ├── SenderNotAllowed    sender_not_allowed
│       ├── OptedOut            opted_out
│       ├── OptInRequired       opt_in_required
│       ├── TemplateNotMatched  template_not_matched (Template Lookup app)
│       └── OutsidePromotionalWindow  outside_promotional_window (a promotional send outside
│                               the account's promotional window)
│   └── RateLimited             429 rate_limited: the account sends faster than its limit
├── TransientError              503 service_unavailable: NATS or the view is not there yet
│   └── Overloaded              503 overloaded: SUBMIT is full, or too many requests in hand
├── StaleState                  internal: a compare-and-set on the message log lost a race
└── Undecodable                 internal: a stream message no delivery can make readable
"""

from __future__ import annotations

from typing import Any

from parley_shared.problems import ProblemError


class RoutingSvcError(ProblemError):
    """Base of every error routing-svc raises on purpose."""


class PermanentError(RoutingSvcError):
    """The request cannot succeed as it is; the client must change it."""

    status = 400
    type = "bad_request"
    title = "Bad request"


class MalformedRequest(PermanentError):
    """The body could not be parsed as JSON at all."""

    type = "malformed_request"
    title = "Malformed request"


class DecryptionFailed(PermanentError):
    """An encrypting account's body is not an envelope it can open (never silently accepted)."""

    type = "decryption_failed"
    title = "Decryption failed"


class Unauthorized(PermanentError):
    """No API key was presented, or no active account holds the one presented."""

    status = 401
    type = "unauthorized"
    title = "Unauthorized"


class IpNotAllowed(PermanentError):
    """The client address is outside the account's IP allowlist."""

    status = 403
    type = "ip_not_allowed"
    title = "IP address not allowed"


class NotFound(PermanentError):
    """No such resource for this account (another account's looks exactly the same)."""

    status = 404
    type = "not_found"
    title = "Not found"


class MethodNotAllowed(PermanentError):
    """The path exists but not with this method."""

    status = 405
    type = "method_not_allowed"
    title = "Method not allowed"


class PayloadTooLarge(PermanentError):
    """The body is larger than the API accepts."""

    status = 413
    type = "payload_too_large"
    title = "Payload too large"


class ValidationFailed(PermanentError):
    """Fields are missing or invalid; `errors` names each by its `loc`."""

    status = 422
    type = "validation_error"
    title = "Validation failed"

    @classmethod
    def at(cls, loc: list[str | int], msg: str) -> ValidationFailed:
        """One error at one field."""
        return cls(msg, [{"loc": loc, "msg": msg, "type": "value_error"}])


class Refused(PermanentError):
    """A valid request the account's own settings refuse (channel, sender, consent)."""

    status = 422


class ChannelNotEnabled(Refused):
    """The channel is not among the account's channels."""

    type = "channel_not_enabled"
    title = "Channel not enabled"


class SenderNotAllowed(Refused):
    """The sender is not in the channel's access list."""

    type = "sender_not_allowed"
    title = "Sender not allowed"


class OptedOut(Refused):
    """The recipient opted out (the account looks opt-outs up)."""

    type = "opted_out"
    title = "Recipient opted out"


class OptInRequired(Refused):
    """The recipient has not opted in (the account requires an opt-in)."""

    type = "opt_in_required"
    title = "Opt-in required"


class TemplateNotMatched(Refused):
    """Template Lookup is on and the text matches no approved template of the channel (or the
    template named is not an approved one of the enterprise and channel)."""

    type = "template_not_matched"
    title = "Template not matched"


class OutsidePromotionalWindow(Refused):
    """A promotional send outside the account's promotional window (beyond CONTRACT 3): the
    problem adds `promotional_window` and `next_window_at` (RFC 9457 extension members)."""

    type = "outside_promotional_window"
    title = "Outside the promotional window"

    def __init__(
        self,
        detail: str = "",
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, errors)
        self.extra = dict(extra or {})

    def problem(self) -> dict[str, Any]:
        """The problem document with the window and its next opening."""
        return {**super().problem(), **self.extra}


class RateLimited(PermanentError):
    """The account sends faster than its send rate limit; `Retry-After` says when to retry."""

    status = 429
    type = "rate_limited"
    title = "Rate limited"

    def __init__(self, detail: str = "", retry_after_s: float = 1.0) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = str(max(1, int(retry_after_s + 0.999)))


REFUSALS: dict[str, type[Refused]] = {
    cls.type: cls
    for cls in (
        ChannelNotEnabled,
        SenderNotAllowed,
        OptedOut,
        OptInRequired,
        TemplateNotMatched,
        OutsidePromotionalWindow,
    )
}


class TransientError(RoutingSvcError):
    """A dependency (NATS, the account view) is unavailable; the same request may succeed later."""

    status = 503
    type = "service_unavailable"
    title = "Service unavailable"


class Overloaded(TransientError):
    """Parley cannot take more now (SUBMIT is full, or too many requests are in hand); nothing
    was accepted, so the client retries after `Retry-After`."""

    type = "overloaded"
    title = "Overloaded"

    def __init__(self, detail: str = "", retry_after_s: float = 1.0) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = str(max(1, int(retry_after_s + 0.999)))


class Undecodable(RoutingSvcError):
    """A stream message that cannot be read or lacks its fields: no delivery will ever make it
    readable, so its consumer terminates it (logged once, counted) instead of looping on it."""


class StaleState(RoutingSvcError):
    """A message-log write lost a compare-and-set race; the caller reloads and applies again.

    It exists so that two handlers (two replicas, or a report and a timer) never both move one
    message on from the same state: exactly one `final: true` event depends on it.
    """


def problem_types() -> list[str]:
    """Every problem `type` the API answers with (for the OpenAPI document)."""
    found: list[str] = []
    pending: list[type[RoutingSvcError]] = [RoutingSvcError]
    while pending:
        cls = pending.pop(0)
        if cls not in (StaleState, Undecodable) and cls.type not in found:
            found.append(cls.type)
        pending.extend(cls.__subclasses__())
    return sorted(found)
