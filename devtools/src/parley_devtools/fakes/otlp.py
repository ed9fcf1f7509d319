"""A local OTLP/HTTP trace receiver (what a collector serves on `/v1/traces`), for tests.

`POST /v1/traces` with `application/x-protobuf` (what the OpenTelemetry SDK's OTLP/HTTP
exporter sends) or `application/json` (OTLP/JSON: ids in hex), optionally gzip-encoded, is
decoded with the opentelemetry-proto package into `ReceivedSpan`s and answered 200 with an
empty `ExportTraceServiceResponse`; anything else is 400/404/415. A stdlib threading HTTP
server on a free loopback port: usable from sync fixtures (a platform of processes exporting
to it for a whole module) and from async tests alike, its spans read under a lock.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from parley_devtools.embedded import LOOPBACK

PATH = "/v1/traces"
MAX_BODY = 16 * 1024 * 1024
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_KINDS = {value: name.removeprefix("SPAN_KIND_").lower() for name, value in Span.SpanKind.items()}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver got it (ids in lower-case hex, as in a `traceparent`)."""

    service: str
    name: str
    kind: str  # internal | server | client | producer | consumer | unspecified
    trace_id: str
    span_id: str
    parent_span_id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (trace id, span id) of each linked span


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes ids in hex where protobuf's JSON mapping expects base64: convert."""
    if isinstance(node, dict):
        for key, item in node.items():
            if key in _ID_FIELDS and isinstance(item, str):
                node[key] = base64.b64encode(bytes.fromhex(item)).decode()
            else:
                _hex_ids_to_base64(item)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def decode(body: bytes, content_type: str) -> list[ReceivedSpan]:
    """The spans of one export request (ValueError when it is not one)."""
    request = ExportTraceServiceRequest()
    try:
        if content_type.startswith("application/json"):
            document = json.loads(body)
            _hex_ids_to_base64(document)
            json_format.ParseDict(document, request)
        else:
            request.ParseFromString(body)
    except Exception as exc:
        raise ValueError(f"not an OTLP trace export: {type(exc).__name__}") from exc
    out = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        kind=_KINDS.get(span.kind, "unspecified"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                        links=tuple((ln.trace_id.hex(), ln.span_id.hex()) for ln in span.links),
                    )
                )
    return out


class OtlpReceiver:
    """Receives trace exports on `http://127.0.0.1:<port>` until `stop()`."""

    def __init__(self, port: int = 0) -> None:
        """Listen on `port` (0: a free one) once started."""
        self._port = port
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The base URL to give `OTEL_EXPORTER_OTLP_ENDPOINT` (the SDK adds `/v1/traces`)."""
        assert self._server is not None, "start the receiver first"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> OtlpReceiver:
        """Serve in a daemon thread; returns the receiver."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((LOOPBACK, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        if http.path != PATH:
            self._answer(http, 404, b"")
            return
        length = int(http.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._answer(http, 400, b"")
            return
        body = http.rfile.read(length)
        if http.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        content_type = http.headers.get("Content-Type", "")
        if not content_type.startswith(("application/x-protobuf", "application/json")):
            self._answer(http, 415, b"")
            return
        try:
            spans = decode(body, content_type)
        except ValueError:
            self._answer(http, 400, b"")
            return
        with self._lock:
            self._spans.extend(spans)
            self.requests += 1
        if content_type.startswith("application/json"):
            self._answer(http, 200, b"{}", "application/json")
        else:
            answer = ExportTraceServiceResponse().SerializeToString()
            self._answer(http, 200, answer, "application/x-protobuf")

    @staticmethod
    def _answer(
        http: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "text/plain"
    ) -> None:
        http.send_response(status)
        http.send_header("Content-Type", content_type)
        http.send_header("Content-Length", str(len(body)))
        http.end_headers()
        http.wfile.write(body)

    @property
    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans of one trace received so far."""
        return [span for span in self.spans if span.trace_id == trace_id]

    def named(self, name: str, service: str | None = None) -> list[ReceivedSpan]:
        """The spans called `name` (of `service`, when given) received so far."""
        return [s for s in self.spans if s.name == name and service in (None, s.service)]

    def wait_for(self, found: Any, wait_s: float = 20.0, step_s: float = 0.05) -> Any:
        """Poll `found(self)` until it answers something truthy (AssertionError after
        `wait_s`); blocking: from async code run it in a thread."""
        deadline = time.monotonic() + wait_s
        while True:
            answer = found(self)
            if answer:
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"no such spans within {wait_s}s; got {self.spans!r}")
            time.sleep(step_s)
