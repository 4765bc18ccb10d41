"""A real chat-completions server on loopback (stdlib) that misbehaves on request, per clip:
answer slowly (so answers come back out of order), fail with 500, send malformed JSON, or name
another clip, or ask the client to come back later (429/503 with Retry-After). It reads the clip
ID from the request the way any model would: from the text."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.loopback_http import LoopbackServer


@dataclass
class Behaviour:
    delay_s: float = 0.0
    busy_first: int = 0  # `busy_status` with `Retry-After: retry_after` for the first N requests
    busy_status: int = 429
    retry_after: str = "1"
    fail_first: int = 0  # then 500 for the next N
    malformed_first: int = 0  # then malformed JSON content for the next N
    wrong_clip_first: int = 0  # then a valid caption for another clip for the next N
    always: str | None = None  # "500" | "malformed" | "wrong_clip" | "garbage_body": every request


@dataclass
class ChatServer(LoopbackServer):
    behaviours: dict[str, Behaviour] = field(default_factory=dict)  # by clip ID, or by video ID for all its clips
    default: Behaviour = field(default_factory=Behaviour)  # for clips not in `behaviours`
    requests: Counter = field(default_factory=Counter)
    images: Counter = field(default_factory=Counter)
    finished: list[str] = field(default_factory=list)  # clip IDs in the order answers were sent
    bodies: list[dict] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of every request

    def start(self) -> ChatServer:
        self._serve(_handler(self))
        return self

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"


def caption_for(clip_id: str) -> dict:
    return {
        "clip_id": clip_id,
        "short": f"A person signs a word ({clip_id}).",
        "detailed": "An adult in a dark shirt faces the camera and signs with both hands at chest height.",
        "subjects": {
            "count": 1,
            "age_group": "adult",
            "clothing": ["dark shirt"],
            "body_parts_in_view": ["face", "upper_body", "hands"],
        },
        "actions": [
            {"start_s": 0.2, "end_s": 2.0, "actor": "person", "verb": "signs", "object": None, "hands": "both"}
        ],
        "environment": "an office with a plain wall",
        "camera_motion": "static",
    }


def _handler(server: ChatServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            content = body["messages"][1]["content"]
            brief = json.loads(content[0]["text"])
            clip_id = brief["clip_id"]
            with server._lock:
                server.requests[clip_id] += 1
                server.images[clip_id] = sum(1 for part in content if part["type"] == "image_url")
                server.bodies.append(body)
                server.arrivals.append(time.monotonic())
                attempt = server.requests[clip_id]
            video_id = clip_id.split("_")[0]
            behaviour = server.behaviours.get(clip_id) or server.behaviours.get(video_id, server.default)
            time.sleep(behaviour.delay_s)
            kind = behaviour.always
            if kind is None and attempt <= behaviour.busy_first:
                self._send(behaviour.busy_status, b'{"error": "busy"}', {"Retry-After": behaviour.retry_after})
                return
            attempt -= behaviour.busy_first
            if kind is None:
                if attempt <= behaviour.fail_first:
                    kind = "500"
                elif attempt <= behaviour.fail_first + behaviour.malformed_first:
                    kind = "malformed"
                elif attempt <= behaviour.fail_first + behaviour.malformed_first + behaviour.wrong_clip_first:
                    kind = "wrong_clip"
            if kind == "500":
                self._send(500, b'{"error": "model overloaded"}')
                return
            if kind == "garbage_body":
                self._send(200, b"<html>not json</html>")
                return
            answer = caption_for(clip_id)
            text = json.dumps(answer)
            if kind == "malformed":
                text = text[: len(text) // 2]
            elif kind == "wrong_clip":
                text = json.dumps(caption_for(clip_id + "_other"))
            reply = {
                "id": "x",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            }
            with server._lock:
                server.finished.append(clip_id)
            self._send(200, json.dumps(reply).encode())

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

    return Handler
