"""Find (or install) the Chromium the console's browser tests drive, without needing root.

`python -m parley_devtools.browser` prints the executable to use and exits 0, trying in order:
1. `PARLEY_CHROMIUM` when it names an executable;
2. a Chromium already on the machine (`chromium`, `chromium-browser`, `google-chrome` on PATH);
3. Playwright's own build (`playwright install chromium`, into the user's cache: no root);
4. only when running as root, the distribution's package (`apt-get install chromium`).
It exits 1 with what was tried when none works. `make test` runs it (the `browser` target).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _executable(path: str | None) -> str | None:
    if path and Path(path).is_file() and os.access(path, os.X_OK):
        return path
    return None


def on_the_machine() -> str | None:
    """A Chromium already installed (PARLEY_CHROMIUM first)."""
    given = _executable(os.environ.get("PARLEY_CHROMIUM"))
    if given:
        return given
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def playwrights_own() -> str | None:
    """Playwright's Chromium, installed into the user's cache when missing (no root)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    done = subprocess.run(
        [sys.executable, "-m", "playwright", "install", "chromium"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        print(f"playwright install chromium failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    with sync_playwright() as pw:
        return _executable(pw.chromium.executable_path)


def distributions() -> str | None:
    """Debian's chromium through apt, only as root."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        # apt's progress goes to stderr: stdout carries only the executable's path (`main`),
        # which `make browser` writes to a file the console tests read.
        done = subprocess.run(argv, env=env, check=False, timeout=900, stdout=sys.stderr.fileno())
        if done.returncode != 0:
            return None
    return on_the_machine()


def main() -> int:
    """Print the Chromium to use, or explain why there is none."""
    for source in (on_the_machine, playwrights_own, distributions):
        found = source()
        if found:
            print(found)
            return 0
    print(
        "no Chromium for the console tests: none on PATH or in PARLEY_CHROMIUM, Playwright's "
        "own could not be installed, and the distribution's needs root",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
