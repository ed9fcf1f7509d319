"""RFC 9457 problem details, the error shape of every Parley API (CONTRACT conventions).

Each service derives its own error tree from `ProblemError`; the shape of the document they
answer (`type`, `title`, `status`, `detail`, `errors`) is decided here, once.
"""

from __future__ import annotations

from typing import Any


class ProblemError(Exception):
    """An error answered as a problem document; subclasses set `status`, `type` and `title`."""

    status = 500
    type = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str = "", errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers: dict[str, str] = {}

    def problem(self) -> dict[str, Any]:
        """The problem document; `errors` (each with `loc` and `msg`) only when there are some."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body
