"""account-svc command line: `serve` (default), `bootstrap`, `openapi`, `asyncapi`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from parley_shared.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    """Parse the command and run it."""
    parser = argparse.ArgumentParser(prog="account-svc", description=__doc__)
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "bootstrap", "openapi", "asyncapi"]
    )
    args = parser.parse_args(argv)
    if args.command == "openapi":
        from account_svc.adapters.http_api import openapi_document

        print(json.dumps(openapi_document(), indent=2))
        return 0
    if args.command == "asyncapi":
        from account_svc.asyncapi import asyncapi_document

        print(json.dumps(asyncapi_document(), indent=2))
        return 0

    from account_svc.settings import Settings

    settings = Settings()
    configure_logging("account-svc", settings.log_level, settings.log_json)
    if args.command == "bootstrap":
        from account_svc.bootstrap import run_bootstrap

        report = asyncio.run(run_bootstrap(settings))
        public = {
            k: v for k, v in report.items() if k in ("created", "username", "password_generated")
        }
        if report.get("password"):
            # A generated password is printed once, here, and nowhere else.
            print(f"bootstrap admin password: {report['password']}", file=sys.stderr)
        print(json.dumps({"bootstrap_admin": public, "migrations": report["migrations_applied"]}))
        return 0

    from aiohttp import web
    from parley_runtime import tracing

    from account_svc.bootstrap import create_app

    tracing.configure("account-svc")

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        web.run_app(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            access_log=None,
            print=None,
            handle_signals=True,
        )
    finally:
        tracing.shutdown()  # the spans still queued go out
    return 0


if __name__ == "__main__":
    sys.exit(main())
