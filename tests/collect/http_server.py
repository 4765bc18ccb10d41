"""A real HTTP server on loopback for the collection tests: files with Range support, plus faults
(drop the connection mid-file, answer 500 a few times, serve slowly) and a log of every request."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.loopback_http import LoopbackServer


@dataclass
class Resource:
    body: bytes
    content_type: str = "video/mp4"
    fail_first: int = 0  # answer 500 to the first N requests
    drop_first: int = 0  # cut the first N responses that start at byte 0 after half the body
    bytes_per_s: float | None = None  # serve slowly (to kill a download mid-way)


@dataclass
class LoggedRequest:
    method: str
    path: str
    range: str | None


@dataclass
class FaultyServer(LoopbackServer):
    resources: dict[str, Resource] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=dict)  # body bytes written per path
    in_flight: dict[str, int] = field(default_factory=dict)  # response bodies being written right now, per path
    most_in_flight: int = 0  # the most paths served at one time

    def start(self) -> FaultyServer:
        self._serve(_handler(self))
        return self

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def requests_for(self, path: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if r.path == path]

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self.served[path] = self.served.get(path, 0) + n


def _handler(server: FaultyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            with server._lock:
                server.log.append(LoggedRequest(self.command, path, self.headers.get("Range")))
                resource = server.resources.get(path)
                failing = resource is not None and resource.fail_first > 0
                if failing:
                    resource.fail_first -= 1
            if resource is None:
                self._plain(404, b"not found")
                return
            if failing:
                self._plain(500, b"internal error")
                return
            body = resource.body
            start, end = 0, len(body) - 1
            requested = self.headers.get("Range")
            if requested and requested.startswith("bytes="):
                first, _, last = requested[6:].partition("-")
                start = int(first or 0)
                end = min(int(last), end) if last else end
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            part = body[start : end + 1]
            self.send_response(206 if requested else 200)
            self.send_header("Content-Type", resource.content_type)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(part)))
            if requested:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
            self.end_headers()
            if head:
                return
            with server._lock:
                drop = start == 0 and resource.drop_first > 0 and not head
                if drop:
                    resource.drop_first -= 1
            limit = len(part) // 2 if drop else len(part)
            self._write(path, part[:limit], resource.bytes_per_s)
            if drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)

        def _write(self, path: str, data: bytes, bytes_per_s: float | None) -> None:
            with server._lock:
                server.in_flight[path] = server.in_flight.get(path, 0) + 1
                server.most_in_flight = max(server.most_in_flight, sum(1 for n in server.in_flight.values() if n))
            try:
                self._write_chunks(path, data, bytes_per_s)
            finally:
                with server._lock:
                    server.in_flight[path] -= 1

        def _write_chunks(self, path: str, data: bytes, bytes_per_s: float | None) -> None:
            chunk = 16384
            for offset in range(0, len(data), chunk):
                piece = data[offset : offset + chunk]
                try:
                    self.wfile.write(piece)
                except (BrokenPipeError, ConnectionResetError):
                    return
                server._count(path, len(piece))
                if bytes_per_s:
                    time.sleep(len(piece) / bytes_per_s)

        def _plain(self, status: int, text: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    return Handler
