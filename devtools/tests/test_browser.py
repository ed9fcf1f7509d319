"""`python -m parley_devtools.browser` prints the Chromium's path and nothing else on stdout
(`make browser` writes that output to the file the console tests read), whichever way it found
or installed one. The installers are stand-ins on a PATH of their own: the real ones need the
network and change the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from parley_devtools.embedded import free_port

FAKE_APT = f"""#!{sys.executable}
import pathlib, sys
print("Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]")
print("Setting up chromium ...")
if sys.argv[1:2] == ["install"]:
    chromium = pathlib.Path(__file__).with_name("chromium")
    chromium.write_text("#!/bin/sh\\n")
    chromium.chmod(0o755)
"""


def _run(bin_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        # Playwright's own build cannot be had: an empty cache and a download host that refuses.
        "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "ms-playwright"),
        "PLAYWRIGHT_DOWNLOAD_HOST": f"http://127.0.0.1:{free_port()}",
    }
    return subprocess.run(
        [sys.executable, "-m", "parley_devtools.browser"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_a_chromium_on_path_is_printed_alone(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    chromium = bin_dir / "chromium-browser"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    done = _run(bin_dir, tmp_path)
    assert (done.returncode, done.stdout) == (0, f"{chromium}\n")


def test_the_distributions_install_prints_only_the_path(tmp_path: Path) -> None:
    """As root, apt's chatter goes to stderr and stdout is the installed executable; otherwise
    apt is not tried at all and nothing is printed on stdout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt = bin_dir / "apt-get"
    apt.write_text(FAKE_APT)
    apt.chmod(0o755)
    done = _run(bin_dir, tmp_path)
    if os.geteuid() == 0:
        assert (done.returncode, done.stdout) == (0, f"{bin_dir / 'chromium'}\n"), done.stderr
        assert "Setting up chromium" in done.stderr
    else:
        assert (done.returncode, done.stdout) == (1, "")
        assert not (bin_dir / "chromium").exists()
