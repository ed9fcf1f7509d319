"""`bench.profile`'s machine-wide figures and its count of the load client's CPU."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from parley_devtools.bench import profile

STAT = (
    "cpu  1000 50 300 5000 100 20 30 400 0 0\ncpu0 500 25 150 2500 50 10 15 200 0 0\nintr 12345\n"
)
BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"


def test_proc_stat_splits_into_busy_and_idle_and_leaves_steal_out() -> None:
    """user + nice + system + irq + softirq is busy, idle + iowait idle, steal neither
    (100 ticks a second)."""
    times = profile.MachineTimes.parse(STAT, 100.0)
    assert times == profile.MachineTimes(busy=14.0, idle=51.0)


def test_text_that_is_not_proc_stat_is_refused() -> None:
    """A first line other than the `cpu` total names what is wrong."""
    with pytest.raises(ValueError, match="cpu"):
        profile.MachineTimes.parse("intr 12345\n", 100.0)


def test_machine_figures_are_the_busy_share_and_busy_time_per_message() -> None:
    """3 s busy and 1 s idle over 1,000 messages: 0.75 busy, 3,000 µs per message; no
    messages or no time give NaN, not a division by zero."""
    before = profile.MachineTimes(busy=10.0, idle=20.0)
    after = profile.MachineTimes(busy=13.0, idle=21.0)
    assert profile.machine_figures(before, after, 1000) == {
        "machine_busy_share": 0.75,
        "machine_cpu_us_per_message": 3000,
    }
    empty = profile.machine_figures(before, before, 0)
    assert math.isnan(empty["machine_busy_share"])
    assert math.isnan(empty["machine_cpu_us_per_message"])


def test_the_machine_reading_counts_cpu_burnt_by_any_process() -> None:
    """A child burning 0.4 s of CPU moves this machine's busy time by at least most of that."""
    before = profile.MachineTimes.now()
    subprocess.run([sys.executable, "-c", BURN], check=True, timeout=60)
    after = profile.MachineTimes.now()
    assert after.busy - before.busy >= 0.3


def test_own_cpu_counts_a_load_client_once_it_has_ended() -> None:
    """The load client runs as a child process: its CPU counts in `own_cpu` once it is waited
    for, although this process did not spend it."""
    me = profile.psutil.Process()
    mine_before, counted_before = sum(me.cpu_times()[:2]), profile.own_cpu()
    subprocess.run([sys.executable, "-c", BURN], check=True, timeout=60)
    mine_after, counted_after = sum(me.cpu_times()[:2]), profile.own_cpu()
    assert counted_after - counted_before >= 0.35
    assert mine_after - mine_before < 0.2
