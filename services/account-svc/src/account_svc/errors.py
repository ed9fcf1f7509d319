"""account-svc errors. Each maps to one RFC 9457 problem answer.

AccountSvcError
├── PermanentError            the request cannot succeed as it is (4xx)
│   ├── MalformedRequest      400 malformed_request: the body is not JSON, or nests too deep
│   ├── ValidationFailed      422 validation_error: fields at fault in `errors`
│   ├── Unauthorized          401 unauthorized
│   ├── Forbidden             403 forbidden: authenticated, but the role does not allow it
│   ├── NotFound              404 not_found: absent, or another tenant's
│   ├── Conflict              409 conflict: a unique name is taken
│   ├── TooManyAttempts       429 too_many_attempts: the username is locked (`Retry-After`)
│   └── RateLimited           429 rate_limited: too many logins from one address (`Retry-After`)
└── TransientError            503 service_unavailable: a dependency is down; retrying may succeed
    └── Overloaded            503 overloaded: no room to check a password now (`Retry-After`)
"""

from __future__ import annotations

import math
from typing import TypeVar

from parley_shared.problems import ProblemError

E = TypeVar("E", bound=ProblemError)


def retry_after(error: E, seconds: float) -> E:
    """`error` with a `Retry-After` header of whole seconds (at least 1)."""
    error.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return error


class AccountSvcError(ProblemError):
    """Base of every error account-svc answers on purpose."""


class PermanentError(AccountSvcError):
    """The request cannot succeed as it is; the client must change it."""

    status = 400


class MalformedRequest(PermanentError):
    """The body could not be parsed as JSON at all."""

    status = 400
    type = "malformed_request"
    title = "Malformed request"


class ValidationFailed(PermanentError):
    """Fields are missing or invalid; `errors` names each by its `loc`."""

    status = 422
    type = "validation_error"
    title = "Validation failed"

    @classmethod
    def at(cls, loc: list[str | int], msg: str) -> ValidationFailed:
        """One error at one field."""
        return cls(msg, [{"loc": loc, "msg": msg, "type": "value_error"}])


class Unauthorized(PermanentError):
    """No valid credentials (bad password, missing or expired token)."""

    status = 401
    type = "unauthorized"
    title = "Unauthorized"


class Forbidden(PermanentError):
    """Authenticated, but the caller's role may not do this."""

    status = 403
    type = "forbidden"
    title = "Forbidden"


class NotFound(PermanentError):
    """No such resource in the caller's scope (another tenant's looks exactly the same)."""

    status = 404
    type = "not_found"
    title = "Not found"


class MethodNotAllowed(PermanentError):
    """The path exists but not with this method."""

    status = 405
    type = "method_not_allowed"
    title = "Method not allowed"


class Conflict(PermanentError):
    """A unique name is already taken."""

    status = 409
    type = "conflict"
    title = "Conflict"


class UnsupportedMediaType(PermanentError):
    """The content type is not JSON."""

    status = 415
    type = "unsupported_media_type"
    title = "Unsupported media type"


class TooManyAttempts(PermanentError):
    """Five failed logins in a row lock the username for 15 minutes."""

    status = 429
    type = "too_many_attempts"
    title = "Too many attempts"


class RateLimited(PermanentError):
    """One client address logs in more often than the per-address limit allows."""

    status = 429
    type = "rate_limited"
    title = "Rate limited"


class TransientError(AccountSvcError):
    """A dependency (PostgreSQL, NATS) is unavailable; the same request may succeed later."""

    status = 503
    type = "service_unavailable"
    title = "Service unavailable"


class Overloaded(TransientError):
    """Password hashing is at its memory budget; the client should retry after `Retry-After`.

    Answered instead of queueing without bound: each hash holds tens of MiB while it runs.
    """

    status = 503
    type = "overloaded"
    title = "Overloaded"
