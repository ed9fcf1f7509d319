"""routing-svc command line: `serve` (default) or `openapi`."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command and run it."""
    parser = argparse.ArgumentParser(prog="routing-svc", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "openapi"])
    args = parser.parse_args(argv)
    if args.command == "openapi":
        from routing_svc.adapters.http_api import ROUTES
        from routing_svc.adapters.http_base import openapi_document
        from routing_svc.adapters.providers.sandbox_http import SANDBOX_ROUTES

        document = openapi_document(ROUTES + SANDBOX_ROUTES, "Parley messaging API (routing-svc)")
        print(json.dumps(document, indent=2))
        return 0

    from aiohttp import web
    from parley_runtime import tracing
    from parley_shared.logging import configure_logging

    from routing_svc.adapters.providers.routes_file import RoutesFileError
    from routing_svc.bootstrap import create_app
    from routing_svc.settings import Settings, warn_retired

    settings = Settings()
    configure_logging("routing-svc", settings.log_level, settings.log_json)
    tracing.configure("routing-svc")
    warn_retired()
    try:
        app = create_app(settings)
    except RoutesFileError as err:
        print(f"routing-svc: {err}", file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        web.run_app(
            app,
            host=settings.http_host,
            port=settings.http_port,
            access_log=None,
            reuse_port=settings.http_reuse_port or None,
            print=None,
            handle_signals=True,
        )
    finally:
        tracing.shutdown()  # the spans still queued go out
    return 0


if __name__ == "__main__":
    sys.exit(main())
