"""routing-svc command line: `serve` (default) or `openapi`."""

from __future__ import annotations

import sys

from parley_runtime.cli import load_settings, print_json, run_command


def openapi() -> int:
    """Print the OpenAPI document (the sandbox's endpoints included)."""
    from routing_svc.adapters.http_api import ROUTES, openapi
    from routing_svc.adapters.providers.sandbox_http import SANDBOX_ROUTES

    return print_json(openapi(ROUTES + SANDBOX_ROUTES))


def serve() -> int:
    """Serve the messaging API and run the workers until SIGINT/SIGTERM."""
    from parley_runtime import tracing
    from parley_runtime.http import serve as serve_app

    from routing_svc.adapters.providers.routes_file import RoutesFileError
    from routing_svc.bootstrap import create_app
    from routing_svc.settings import RETIRED, Settings

    settings = load_settings(Settings, "routing-svc", RETIRED)
    tracing.configure("routing-svc")
    try:
        app = create_app(settings)
    except RoutesFileError as err:
        print(f"routing-svc: {err}", file=sys.stderr)
        return 2
    serve_app(app, settings.http_host, settings.http_port, reuse_port=settings.http_reuse_port)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command and run it."""
    return run_command("routing-svc", __doc__, {"serve": serve, "openapi": openapi}, argv)


if __name__ == "__main__":
    sys.exit(main())
