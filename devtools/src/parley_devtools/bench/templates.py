"""Template Lookup: the cost of matching one message's text against 1,000 approved templates
of its enterprise and channel (routing-svc's `domain.templates.TemplateIndex`), in process.

The templates look like real ones (India DLT style): a few share openings such as
`Dear {#var#},`, many end alike (`.`, `-Parley`, a placeholder), each has one to five
placeholders. Each message is a rendering of a random
template (so it matches), plus one in ten that matches none; the figure is the mean time of
`TemplateIndex.match` per message. Target: under 50 µs.
"""

from __future__ import annotations

import random
import time

TEMPLATES = 1000
MESSAGES = 20_000
WORDS = (
    "your",
    "account",
    "order",
    "payment",
    "delivery",
    "appointment",
    "code",
    "balance",
    "policy",
    "ticket",
    "booking",
    "refund",
    "invoice",
    "update",
    "reminder",
    "offer",
    "loan",
    "card",
    "statement",
    "verified",
    "scheduled",
    "credited",
    "debited",
    "shipped",
    "confirmed",
    "renewal",
    "premium",
    "points",
    "wallet",
    "recharge",
    "plan",
    "due",
)
OPENINGS = ("Dear {#var#}, ", "Hi {#name#}, ", "", "", "Alert: ", "{#var#} is ")


def _templates(rng: random.Random) -> list[str]:
    texts = []
    for _ in range(TEMPLATES):
        words = rng.sample(WORDS, rng.randint(5, 12))
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randint(1, len(words)), "{#var#}")
        ending = rng.choice((".", " {#var#}", " -Parley", "."))
        texts.append(f"{rng.choice(OPENINGS)}{' '.join(words)}{ending}")
    return texts


def run_sync() -> dict[str, float]:
    """Build the index of 1,000 templates and time matching; µs per message."""
    from routing_svc.domain.templates import Template, TemplateIndex

    rng = random.Random(8)  # noqa: S311 - reproducible test data, not secrets
    compiled = [
        Template.compile(f"tpl_{n}", "ent_1", "sms", text) for n, text in enumerate(_templates(rng))
    ]
    index = TemplateIndex.of(compiled)
    messages = []
    for n in range(MESSAGES):
        template = rng.choice(compiled)
        values = [f"{rng.randint(1000, 999999)}" for _ in template.names]
        text = template.render(values)
        messages.append(text if n % 10 else "Unrelated text " + text)
    started = time.perf_counter()
    found = sum(1 for text in messages if index.match(text) is not None)
    elapsed = time.perf_counter() - started
    assert found >= MESSAGES * 0.85, f"only {found} of {MESSAGES} matched"
    return {"template_match_us_per_msg_1000": round(elapsed / MESSAGES * 1e6, 2)}


async def run() -> dict[str, float]:
    """`run_sync` as a `make bench` suite."""
    return run_sync()


if __name__ == "__main__":
    print(run_sync())
