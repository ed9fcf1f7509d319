"""When a JetStream message that could not be handled comes back, and when it never does.

Parley's pull consumers (`parley_runtime.pull`) count deliveries themselves (JetStream's
`num_delivered`, read from the message's ack subject) instead of setting the consumer's own
`max_deliver`:

- a message that can never be handled (undecodable, failing validation) is terminated at once;
- any other failure gives the message back with a delay that doubles with each delivery, from
  a first delay up to a cap;
- a message that has had its last try is copied to its service's poison stream and only then
  terminated, so it is acknowledged only once it is durable elsewhere.

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


def ack_info(reply: str) -> tuple[int, int]:
    """(deliveries so far, stream sequence) from a JetStream ack subject, v1
    (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`, 9 tokens) or v2 (with domain and
    account hash, 11-12 tokens); (1, 0) for anything else."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        delivered, sequence = tokens[4], tokens[5]
    elif len(tokens) >= 11:
        delivered, sequence = tokens[6], tokens[7]
    else:
        return 1, 0
    try:
        return int(delivered), int(sequence)
    except ValueError:
        return 1, 0


def ack_pending(reply: str) -> int:
    """The consumer's pending count from a JetStream ack subject (v1: 9 tokens, the last; v2:
    11-12 tokens, the 11th); 0 for anything else."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        pending = tokens[8]
    elif len(tokens) >= 11:
        pending = tokens[10]
    else:
        return 0
    return int(pending) if pending.isdigit() else 0
