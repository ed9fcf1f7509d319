"""What the chaos scenarios may do on the authenticated bus: watch config events and read
STATUS through ordered consumers (as webhook-svc may), nothing else."""

from __future__ import annotations

from typing import Any

from parley_runtime.natsauth.permissions import consume
from parley_shared import subjects

OBSERVER: dict[str, Any] = {
    "pub": {
        "allow": [
            "$JS.API.STREAM.INFO.*",
            "$JS.API.STREAM.NAMES",  # nats-py looks the stream up by subject
            *consume(subjects.STREAM_STATUS),
        ]
    },
    "sub": {"allow": ["_INBOX.chaos.>", subjects.ACCOUNT_CONFIG_ALL]},
}
