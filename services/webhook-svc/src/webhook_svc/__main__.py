"""webhook-svc command line: `all` (default: worker + request/reply API), `worker`, `api`.

Every command also serves /healthz, /readyz and /metrics on WEBHOOK_HTTP_PORT.
"""

from __future__ import annotations

import argparse
import sys

from parley_runtime import tracing
from parley_runtime.cli import load_settings

COMMANDS = {"all": ("worker", "api"), "worker": ("worker",), "api": ("api",)}


def main(argv: list[str] | None = None) -> int:
    """Parse the command and run it until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="webhook-svc", description=__doc__)
    parser.add_argument("command", nargs="?", default="all", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)

    from webhook_svc.settings import Settings

    settings = load_settings(Settings, "webhook-svc")  # logging set up, renamed settings warned
    tracing.configure("webhook-svc")

    from parley_runtime.http import serve

    from webhook_svc.bootstrap import create_app

    serve(create_app(settings, COMMANDS[args.command]), settings.http_host, settings.http_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
