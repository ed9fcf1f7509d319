"""A stand-in service for the runner tests: `prepare`, `serve` or `crash`.

`prepare` prints a bootstrap line like account-svc's. `serve` spawns a grandchild (a sleeping
Python) to prove the runner kills whole process groups, writes a JSON report to `FAKE_REPORT`
(its pid, the grandchild's pid, the environment the runner gave it) and answers `/healthz` and
`/readyz` on `FAKE_HTTP_PORT`. With `FAKE_IGNORE_SIGTERM=1` it and its grandchild ignore
SIGTERM, so only SIGKILL stops them. `crash` exits 3 at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PASSED_ENV = (
    "NATS_URL",
    "DATABASE_URL",
    "PARLEY_MASTER_KEY",
    "PARLEY_DATA_DIR",
    "WEBHOOK_ALLOW_PRIVATE_TARGETS",
    "ACCOUNT_BOOTSTRAP_ADMIN_PASSWORD",
    "FAKE_HTTP_PORT",
)


class Handler(BaseHTTPRequestHandler):
    """Answers 200 on the health paths and 404 elsewhere."""

    def do_GET(self) -> None:
        """Serve /healthz and /readyz."""
        code = 200 if self.path in ("/healthz", "/readyz") else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"no")

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""


def serve() -> None:
    """Start the grandchild, write the report, serve until killed."""
    if os.environ.get("FAKE_IGNORE_SIGTERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the grandchild
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["FAKE_HTTP_PORT"])), Handler)
    report = {
        "pid": os.getpid(),
        "grandchild_pid": grandchild.pid,
        "env": {name: os.environ.get(name) for name in PASSED_ENV},
    }
    target = Path(os.environ["FAKE_REPORT"])
    target.with_suffix(".tmp").write_text(json.dumps(report))
    target.with_suffix(".tmp").replace(target)
    print("fake service listening", flush=True)
    print("fake service says hello on stderr", file=sys.stderr, flush=True)
    server.serve_forever()


def main() -> None:
    """Dispatch on the first argument."""
    mode = sys.argv[1]
    if mode == "prepare":
        print("migrations applied", flush=True)
        line = {
            "bootstrap_admin": {"created": True, "username": "admin", "password_generated": False}
        }
        print(json.dumps(line), flush=True)
    elif mode == "serve":
        serve()
    else:
        sys.exit(3)


if __name__ == "__main__":
    main()
