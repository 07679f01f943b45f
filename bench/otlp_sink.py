"""An OTLP/HTTP endpoint in the bench's own process that accepts and drops everything: the gateway's exporters do
their full work (encode, batch, POST) without a collector on the relay's core."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


_endpoint: str | None = None


def otlp_sink() -> str:
    """The sink's base URL (one per bench process, started on first use)."""
    global _endpoint
    if _endpoint is None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        threading.Thread(target=server.serve_forever, daemon=True, name="otlp-sink").start()
        _endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    return _endpoint


def exporting_env(endpoint: str) -> dict[str, str]:
    """Environment that makes the gateway export traces and metrics over OTLP/HTTP to ``endpoint``."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
