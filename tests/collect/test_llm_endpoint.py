"""Keyword expansion through the shared chat client, on the command line, against a real loopback
endpoint: a busy server is asked again after its Retry-After, a URL that is not http(s) is refused."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

import pytest
import yaml
from click.testing import CliRunner

from humannet.cli import main
from tests.loopback_http import LoopbackServer


class BusyOnceChatServer(LoopbackServer):
    """Answers the first request 429 with `Retry-After`, every later one with a list of queries."""

    def __init__(self, retry_after_s: int) -> None:
        self.arrivals: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with outer._lock:
                    outer.arrivals.append(time.monotonic())
                    first = len(outer.arrivals) == 1
                if first:
                    self._send(429, b'{"error": "rate limited"}', {"Retry-After": str(retry_after_s)})
                    return
                text = '["chopping onions at home"]'
                self._send(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode())

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._serve(Handler)


def expand(tmp_path, endpoint: str):
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text(
        yaml.safe_dump({"groups": {"cooking": {"environment": "kitchen", "keywords": ["chop onions"]}}})
    )
    return CliRunner().invoke(
        main,
        [
            *("collect", "keywords", "expand", "--keywords", str(keywords)),
            *("--out", str(tmp_path / "queries.jsonl"), "--no-embeddings"),
            *("--set", f"collect.llm_endpoint={endpoint}", "--set", "collect.llm_model=tiny"),
        ],
    )


def test_expansion_waits_as_long_as_a_busy_endpoint_asks(tmp_path):
    # Retry-After 2 s: longer than the first backoff of the old client, so only honouring the header passes
    server = BusyOnceChatServer(retry_after_s=2)
    try:
        result = expand(tmp_path, f"{server.origin}/v1")
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    queries = [json.loads(line) for line in (tmp_path / "queries.jsonl").read_text().splitlines()]
    assert any(q["query"] == "chopping onions at home" for q in queries)
    assert server.arrivals[1] - server.arrivals[0] >= 1.95


@pytest.mark.parametrize("endpoint", ["file:///etc/passwd", "ftp://example.org/v1"])
def test_expansion_refuses_an_endpoint_that_is_not_http(tmp_path, endpoint):
    result = expand(tmp_path, endpoint)
    assert result.exit_code == 2 and "not an http" in result.output
