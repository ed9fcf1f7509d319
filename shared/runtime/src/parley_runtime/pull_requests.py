"""The pull requests one inbox has open on the server, and how many messages they still owe.

`parley_runtime.pull` asks for messages with pull requests whose replies come to
`<inbox>.<token>`. Messages arrive under their own subject, so each is charged to the oldest
open request (the server fills requests in the order they came); a request's end status
(404/408/409) names its token and closes exactly that request; one the server never answers
is dropped at its deadline (its expiry plus a grace), so a lost request cannot keep the loop
from asking again.
"""

from __future__ import annotations

GRACE_S = 1.0


class PullRequests:
    """The open requests by token, each with the messages it still owes and its deadline."""

    def __init__(self) -> None:
        """No request open."""
        self._open: dict[str, list[float]] = {}  # token -> [remaining, deadline]
        self._seq = 0
        self.outstanding = 0
        """Messages asked for and not yet arrived, over every open request."""

    def __bool__(self) -> bool:
        """Whether any request is open."""
        return bool(self._open)

    def open(self, count: int, now: float, expires_seconds: float) -> str:
        """Count a request for `count` messages sent now; its reply token."""
        self._seq += 1
        token = str(self._seq)
        self._open[token] = [float(count), now + expires_seconds + GRACE_S]
        self.outstanding += count
        return token

    def charge(self) -> None:
        """A message arrived: the oldest open request owes one less (closed when it owes none)."""
        if not self._open:
            return
        token = next(iter(self._open))
        request = self._open[token]
        request[0] -= 1
        self.outstanding -= 1
        if request[0] <= 0:
            del self._open[token]

    def close(self, token: str) -> None:
        """The request of `token` ended (a status, or it could not be sent)."""
        request = self._open.pop(token, None)
        if request is not None:
            self.outstanding -= int(request[0])

    def expire(self, now: float) -> None:
        """Drop the requests past their deadline (never answered)."""
        for token, (_, deadline) in list(self._open.items()):
            if deadline < now:
                self.close(token)

    def clear(self) -> None:
        """Forget every request (the server may have lost them)."""
        self._open.clear()
        self.outstanding = 0
