"""What one verified provider callback carried: reports, users' messages, and what was left
out (by kind only, never content), for the callback's answer and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from routing_svc.domain.channels import InboundMessage, ProviderReport


@dataclass
class Heard:
    """The reports and users' messages of one callback, and the kinds of items left out."""

    reports: list[ProviderReport] = field(default_factory=list)
    messages: list[InboundMessage] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
