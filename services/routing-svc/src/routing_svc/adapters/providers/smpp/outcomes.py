"""What the SMPP session says about a submit, and its errors.

```
SmppError
 ├── BindRefused      the SMSC answered the bind with an error status (`.status`)
 ├── NotSent          a submit was never written (closing, or the caller's wait ran out)
 ├── ConnectionLost   the connection ended; `str()` says why
 ├── FramingError     a command_length no PDU has: the stream cannot be trusted
 ├── ResponseTimeout  no answer to a request in time (inside the session only)
 └── SmppUnavailable  (bind.py) no bound connection within the caller's `wait_s`
```
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from routing_svc.adapters.providers.smpp.pdu import ESME_ROK


class SmppError(Exception):
    """Base of the SMPP connector's errors."""


class BindRefused(SmppError):
    """The SMSC answered `bind_transceiver` with an error status (e.g. 0x0E wrong password)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused with status {status:#x}")
        self.status = status


class NotSent(SmppError):
    """A submit was never written: nothing reached the SMSC, so it can be offered again."""


class ConnectionLost(SmppError):
    """The connection ended; the message says why (`closed_by_smsc`, `link_timeout`, ...)."""


class ResponseTimeout(SmppError):
    """No response to a request within its timeout."""


class FramingError(SmppError):
    """A `command_length` no SMPP PDU has: the byte stream cannot be trusted any more."""


class PartResult(enum.Enum):
    """What became of one `submit_sm`."""

    ANSWERED = "answered"  # a submit_sm_resp (or generic_nack) came: see command_status
    CONNECTION_LOST = "connection_lost"  # written, then the connection ended before an answer
    NO_RESPONSE = "no_response"  # written, no answer within response_timeout_s
    NOT_SENT = "not_sent"  # never written (an earlier part was not accepted, or no bind)


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """One part's outcome: the `submit_sm_resp` status and message id when it was answered."""

    result: PartResult
    command_status: int | None = None
    message_id: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the SMSC accepted this part (status 0)."""
        return self.result is PartResult.ANSWERED and self.command_status == ESME_ROK
