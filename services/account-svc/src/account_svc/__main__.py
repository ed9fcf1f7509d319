"""account-svc command line: `serve` (default), `bootstrap`, `openapi`, `asyncapi`."""

from __future__ import annotations

import asyncio
import json
import sys

from parley_runtime.cli import load_settings, print_json, run_command


def serve() -> int:
    """Serve the management API and the console until SIGINT/SIGTERM."""
    from parley_runtime import tracing
    from parley_runtime.http import serve as serve_app

    from account_svc.bootstrap import create_app
    from account_svc.settings import Settings

    settings = load_settings(Settings, "account-svc")
    tracing.configure("account-svc")
    serve_app(create_app(settings), settings.http_host, settings.http_port)
    return 0


def bootstrap() -> int:
    """Apply migrations, create the bootstrap super admin, print one JSON line, exit."""
    from account_svc.bootstrap import run_bootstrap
    from account_svc.settings import Settings

    settings = load_settings(Settings, "account-svc")
    report = asyncio.run(run_bootstrap(settings))
    public = {k: v for k, v in report.items() if k in ("created", "username", "password_generated")}
    if report.get("password"):
        # A generated password is printed once, here, and nowhere else.
        print(f"bootstrap admin password: {report['password']}", file=sys.stderr)
    print(json.dumps({"bootstrap_admin": public, "migrations": report["migrations_applied"]}))
    return 0


def openapi() -> int:
    """Print the OpenAPI document of the management API."""
    from account_svc.adapters.http_api import openapi

    return print_json(openapi())


def asyncapi() -> int:
    """Print the AsyncAPI document of what account-svc publishes."""
    from account_svc.asyncapi import asyncapi_document

    return print_json(asyncapi_document())


def main(argv: list[str] | None = None) -> int:
    """Parse the command and run it."""
    commands = {"serve": serve, "bootstrap": bootstrap, "openapi": openapi, "asyncapi": asyncapi}
    return run_command("account-svc", __doc__, commands, argv)


if __name__ == "__main__":
    sys.exit(main())
