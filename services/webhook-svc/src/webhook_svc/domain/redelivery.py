"""When a JetStream message that could not be handled comes back, and when it never does.

Every webhook-svc consumer counts deliveries itself (JetStream's `num_delivered`, read from the
message's ack subject) instead of setting the consumer's own `max_deliver`:

- A message that can never be handled (not JSON, or failing validation) is terminated at once.
- Any other failure (a JetStream write not confirmed, a full stream, a crash in a handler)
  gives the message back with a delay that doubles with each delivery, from
  `WEBHOOK_REDELIVERY_DELAY_SECONDS` up to `WEBHOOK_REDELIVERY_DELAY_MAX_SECONDS`.
- A message delivered more than `WEBHOOK_MAX_DELIVER` times is not handled again: it is
  copied to WEBHOOK_POISON and only then terminated, so it is acknowledged only once it is
  durable elsewhere.

Why not the consumer's `max_deliver` and its MAX_DELIVERIES advisory: the server stops
delivering the message and announces it with a core NATS publish that nobody may be listening
to at that moment (every worker restarting), and that every worker would receive; a copy made
from it would come after the fact, with nothing left to acknowledge. Counting here keeps the
message in its stream until its copy is stored, and a copy that cannot be stored (the poison
stream full, NATS away) leaves the message to come back later rather than lost.
"""

from __future__ import annotations


def redelivery_delay(delivered: int, first_s: float, max_s: float) -> float:
    """Seconds before a message delivered `delivered` times (1 = first) comes back."""
    exponent = min(max(delivered, 1) - 1, 32)
    return float(min(first_s * 2**exponent, max_s))


def exhausted(delivered: int, max_deliver: int) -> bool:
    """Whether a message arriving for the `delivered`-th time was tried `max_deliver` times
    already (and goes to the poison stream instead of a further try)."""
    return delivered > max_deliver
