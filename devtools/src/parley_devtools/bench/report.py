"""What `make bench` reports: the machine it ran on, each figure beside the ceiling that bounds
it, the targets of docs/performance.md with whether the run met them, and that same table
written into docs/performance.md (between two markers), so the document shows the latest run
and nobody types figures by hand.

Pure functions over a flat dict of figures, apart from `machine` (which reads this host).
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from parley_devtools.embedded import nats_server_binary

BEGIN = "<!-- bench:begin (written by `make bench`; do not edit by hand) -->"
END = "<!-- bench:end -->"

# figure -> the ceiling that bounds it (both measured in the same run)
BESIDE = {
    # the same load client against a bare aiohttp server (the target's ratio, as issue 16 names
    # it, is to `ceiling_aiohttp_post_per_s`, whose aiohttp client halves it)
    "http_submit_per_s": "ceiling_aiohttp_submit_per_s",
    "nats_submit_per_s": "ceiling_jetstream_publish_pipelined_per_s",
    "routing_delivered_per_s": "ceiling_jetstream_pull_ack_per_s",
    "e2e_msgs_per_s": "ceiling_jetstream_pull_ack_per_s",
    # one webhook-svc worker against one pull consumer: like with like
    "webhook_events_per_s_batched": "ceiling_jetstream_pull_ack_per_s",
    "webhook_events_per_s_unbatched": "ceiling_aiohttp_post_per_s",
}


@dataclass(frozen=True)
class Target:
    """A must of docs/performance.md: `figure` compared (`at_least` or at most) with `bound`;
    with `ceiling`, the bound is a ratio of the figure to that ceiling."""

    figure: str
    bound: float
    at_least: bool
    ceiling: str = ""
    strict: bool = False  # below (or above) the bound, not equal to it

    def value(self, figures: Mapping[str, float]) -> float | None:
        """The compared value (a ratio when there is a ceiling), None if not measured."""
        value = figures.get(self.figure)
        if value is None or math.isnan(value):
            return None
        if not self.ceiling:
            return value
        ceiling = figures.get(self.ceiling)
        return value / ceiling if ceiling else None

    def met(self, figures: Mapping[str, float]) -> bool | None:
        """Whether the run met it (None: not measured in this run)."""
        value = self.value(figures)
        if value is None:
            return None
        if self.strict:
            return value > self.bound if self.at_least else value < self.bound
        return value >= self.bound if self.at_least else value <= self.bound

    def label(self) -> str:
        """How the target reads in the table."""
        what = f"{self.figure} / {self.ceiling}" if self.ceiling else self.figure
        sign = (">" if self.at_least else "<") + ("" if self.strict else "=")
        return f"{what} {sign} {self.bound:,g}"


TARGETS = (
    Target("e2e_msgs_per_s", 5_000, at_least=True),
    Target("e2e_lost", 0, at_least=False),
    Target("e2e_duplicates", 0, at_least=False),
    Target("p99_ms_at_500", 30, at_least=False),
    Target("p99_ms_at_1000", 30, at_least=False),
    Target("p99_ms_at_2000", 60, at_least=False),
    Target("http_submit_per_s", 0.5, at_least=True, ceiling="ceiling_aiohttp_post_per_s"),
    Target("nats_submit_per_s", 10_000, at_least=True),
    Target("otp_p99_ms_under_promo_flood", 50, at_least=False),
    Target("max_rss_mb", 120, at_least=False, strict=True),
    Target("e2e_lost_2x2", 0, at_least=False),
    Target("e2e_duplicates_2x2", 0, at_least=False),
)


def machine() -> dict[str, str]:
    """The host the figures come from: cores, CPU model, memory, Python, nats-server, OS."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        answer = subprocess.run(
            [nats_server_binary(), "--version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
        nats_version = answer.stdout.strip() or answer.stderr.strip()
    except (OSError, subprocess.SubprocessError):
        nats_version = "unknown"
    return {
        "cores": str(os.cpu_count() or 0),
        "cpu_model": model or "unknown",
        "memory_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "python": platform.python_version(),
        "nats_server": nats_version,
        "os": platform.platform(),
    }


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def table(figures: Mapping[str, float]) -> str:
    """Every figure (beside the ceiling that bounds it, with the ratio), then the ceilings."""
    width = max((len(k) for k in figures), default=10)
    lines = [f"{'figure':<{width}}  {'value':>12}  {'ratio':>5}  bounded by"]
    for key, value in figures.items():
        if key.startswith("ceiling_"):
            continue
        ceiling_name = BESIDE.get(key, "")
        ceiling = figures.get(ceiling_name, 0.0)
        ratio = f"{value / ceiling:5.2f}  {ceiling_name}" if ceiling else ""
        lines.append(f"{key:<{width}}  {_number(value):>12}  {ratio}".rstrip())
    lines.append("")
    ceilings = [(k, v) for k, v in figures.items() if k.startswith("ceiling_")]
    lines += [f"{k:<{width}}  {_number(v):>12}" for k, v in ceilings]
    return "\n".join(lines)


def verdicts(figures: Mapping[str, float]) -> str:
    """The targets as text lines: target, measured, met."""
    lines = []
    for target in TARGETS:
        value, met = target.value(figures), target.met(figures)
        shown = "not run" if value is None else _number(value)
        lines.append(f"{target.label():<72} {shown:>10}  {_verdict(met)}")
    return "\n".join(lines)


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not run"}[met]


def markdown(figures: Mapping[str, float], host: Mapping[str, str], when: str) -> str:
    """The section of docs/performance.md: machine, targets with verdicts, every figure."""
    out = [
        f"Run of {when} on: {host.get('cores', '?')} cores ({host.get('cpu_model', '?')}), "
        f"{host.get('memory_gb', '?')} GB, Python {host.get('python', '?')}, "
        f"{host.get('nats_server', '?')}, {host.get('os', '?')}.",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    for target in TARGETS:
        value = target.value(figures)
        shown = "not run" if value is None else _number(value)
        out.append(f"| `{target.label()}` | {shown} | {_verdict(target.met(figures))} |")
    out += ["", "| figure | value | ratio to its ceiling | ceiling |", "| --- | --- | --- | --- |"]
    for key, value in figures.items():
        if key.startswith("ceiling_"):
            continue
        ceiling_name = BESIDE.get(key, "")
        ceiling = figures.get(ceiling_name, 0.0)
        ratio, named = (f"{value / ceiling:.2f}", f"`{ceiling_name}`") if ceiling else ("", "")
        out.append(f"| `{key}` | {_number(value)} | {ratio} | {named} |")
    for key, value in figures.items():
        if key.startswith("ceiling_"):
            out.append(f"| `{key}` | {_number(value)} | | |")
    return "\n".join(out)


def write_section(document: Path, section: str) -> None:
    """Replace what stands between the markers of `document` with `section` (a ValueError if
    the markers are missing, so a run never silently writes nowhere)."""
    text = document.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{document}: no {BEGIN!r} ... {END!r} section to write the results in")
    head, tail = text[: start + len(BEGIN)], text[end:]
    document.write_text(f"{head}\n{section}\n{tail}")
