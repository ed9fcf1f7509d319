"""SMPP 3.4 connector: our session (`session`, `bind`) over smpp34's PDU codec (`pdu`).

Public face: `SmppBind`, `BindConfig`, `Timers`, `SubmitPart`, `submit_parts`, `Delivery`,
`SubmitOutcome`, `PartResult`, `SmppUnavailable`.
"""

from routing_svc.adapters.providers.smpp.bind import (
    BindConfig,
    BindObserver,
    BindStats,
    SmppBind,
    SmppUnavailable,
    backoff_delay,
)
from routing_svc.adapters.providers.smpp.outcomes import (
    BindRefused,
    ConnectionLost,
    NotSent,
    PartResult,
    SmppError,
    SubmitOutcome,
)
from routing_svc.adapters.providers.smpp.pdu import Delivery, SubmitPart, submit_parts
from routing_svc.adapters.providers.smpp.session import SmppConnection, Timers

__all__ = [
    "BindConfig",
    "BindObserver",
    "BindRefused",
    "BindStats",
    "ConnectionLost",
    "Delivery",
    "NotSent",
    "PartResult",
    "SmppBind",
    "SmppConnection",
    "SmppError",
    "SmppUnavailable",
    "SubmitOutcome",
    "SubmitPart",
    "Timers",
    "backoff_delay",
    "submit_parts",
]
