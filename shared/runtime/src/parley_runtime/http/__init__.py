"""The HTTP plumbing account-svc and routing-svc share, written once.

- `Operation`: one route, served and documented from the same declaration;
  `openapi_document` turns a table of them into OpenAPI 3.1.
- `ErrorKinds` and `problem_middleware`: every failure answered as RFC 9457 problem JSON in
  the service's own error types, and each request counted and timed.
- `in_flight_cap`: 503 `overloaded` past a number of requests in hand.
- `build_app`: the aiohttp application with the operations, the documents (`/openapi.json`,
  ...) and the probes (`/healthz`, `/readyz`, `/metrics`); `serve` runs it.

A service keeps only what is its own: its error classes, its metrics' names, its routes.
"""

from __future__ import annotations

from aiohttp.typedefs import Middleware

from parley_runtime.http.answers import body_response, json_response, problem_response
from parley_runtime.http.app import READY, Ready, build_app, serve
from parley_runtime.http.openapi import Operation, openapi_document
from parley_runtime.http.problems import (
    ErrorKinds,
    Handler,
    error_for,
    in_flight_cap,
    problem_middleware,
)

__all__ = [
    "READY",
    "ErrorKinds",
    "Handler",
    "Middleware",
    "Operation",
    "Ready",
    "body_response",
    "build_app",
    "error_for",
    "in_flight_cap",
    "json_response",
    "openapi_document",
    "problem_middleware",
    "problem_response",
    "serve",
]
