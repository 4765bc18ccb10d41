"""Captions from any OpenAI-compatible chat-completions server with image input (vLLM, SGLang,
Ollama, llama.cpp server, hosted APIs).

One request per clip: a few frames sampled from the written clip (JPEG data URLs), the measured
signals and the aligned source narrations, asking for JSON that matches `VLMCaption`. The clip ID
is in the request and must come back in the answer: an answer naming another clip is rejected
and retried, so a caption can never be attached to the wrong clip, whatever order a server
answers in. Requests go through the shared chat client (`captions/chat.py`): errors, timeouts,
malformed JSON and schema mismatches are retried with exponential backoff, `Retry-After` is
honoured; requests run on a bounded thread pool; valid answers are cached on disk under
`<cache_dir>/<model>/<prompt version>/<clip_id>.json`, so a rerun asks nothing it already knows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, Field, ValidationError

from humannet.captions.chat import ChatClient, ChatError
from humannet.captions.schema import VLMCaption, vlm_json_schema
from humannet.storage import atomic_write_bytes

PROMPT_VERSION = "1"
SYSTEM_PROMPT = (
    "You caption short video clips of people for a robot-learning dataset. Describe only what is visible in the "
    "frames. Answer with one JSON object and nothing else, matching the given JSON schema. Copy the clip_id from the "
    "request exactly. Times are seconds from the start of the clip. Use null or empty lists for what you cannot see."
)


class OpenAIConfig(BaseModel, extra="forbid"):
    base_url: str = Field(
        "http://localhost:8000/v1",
        description="OpenAI-compatible API root (vLLM: http://HOST:8000/v1, Ollama: http://localhost:11434/v1).",
    )
    model: str = Field("Qwen/Qwen2.5-VL-7B-Instruct", description="Model name the server expects.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the API key (unset = no Authorization header)."
    )
    timeout_s: float = Field(120.0, gt=0, description="Time limit for one request (s).")
    max_retries: int = Field(
        4,
        ge=0,
        le=20,
        description="Retries after a failed or invalid answer, after exponential backoff or the server's Retry-After.",
    )
    backoff_s: float = Field(1.0, ge=0, description="First retry delay (s); doubles each retry, capped at 60 s.")
    concurrency: int = Field(4, ge=1, le=256, description="Requests in flight at once per worker.")
    frames_per_clip: int = Field(4, ge=1, le=32, description="Frames sampled evenly from each clip and sent as images.")
    frame_size: int = Field(448, ge=64, le=2048, description="Long side of the sent frames (px).")
    response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema",
        description=(
            "How JSON is requested: a strict schema, any JSON object, or only by the prompt (servers without "
            "response_format)."
        ),
    )
    max_tokens: int = Field(1024, ge=64, description="Most tokens in an answer.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    cache_dir: str | None = Field(
        None, description="Answer cache folder; unset = the user cache folder (~/.cache/humannet/captions)."
    )


class CaptionBackendError(RuntimeError):
    """The server gave no valid caption for the clip after every retry; the message says why."""


@dataclass
class CaptionRequest:
    clip_id: str
    frames: list[bytes]  # JPEG
    frame_times: list[float]
    signals: dict[str, Any] = field(default_factory=dict)
    narrations: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def sample_frames(mp4: Path, count: int, long_side: int) -> tuple[list[bytes], list[float]]:
    """`count` frames spread evenly over the clip (the middles of equal parts), as JPEG bytes."""
    import av

    with av.open(str(mp4)) as container:
        total = container.streams.video[0].frames
    if not total:  # the header does not say: count first
        with av.open(str(mp4)) as container:
            total = sum(1 for _ in container.decode(video=0))
    if not total:
        raise CaptionBackendError(f"{mp4.name}: no decodable frames")
    picks = {min(total - 1, int((i + 0.5) * total / count)) for i in range(count)}
    decoded = []
    with av.open(str(mp4)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in picks:
                decoded.append((float(frame.time or 0.0), frame.to_ndarray(format="bgr24")))
            if index >= max(picks):
                break
    if not decoded:
        raise CaptionBackendError(f"{mp4.name}: no decodable frames")
    frames, times = [], []
    for time_s, image in decoded:
        height, width = image.shape[:2]
        scale = min(1.0, long_side / max(height, width))
        if scale < 1.0:
            image = cv2.resize(
                image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
            )
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            frames.append(encoded.tobytes())
            times.append(round(time_s, 3))
    return frames, times


def _default_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "humannet" / "captions"


def parse_answer(content: str, clip_id: str) -> VLMCaption:
    """The JSON object in a chat answer (code fences allowed), validated; the clip ID must match."""
    text = content.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"answer is not JSON ({exc.msg} at char {exc.pos}): {content[:80]!r}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"answer is JSON but not an object: {content[:80]!r}")
    if data.get("clip_id") != clip_id:
        raise ValueError(f"answer names clip {data.get('clip_id')!r}, the request was for {clip_id!r}")
    try:
        return VLMCaption.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(
            f"answer does not match the caption schema: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from exc


class OpenAICaptioner:
    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.cache_root = Path(config.cache_dir).expanduser() if config.cache_dir else _default_cache()
        model_key = (
            re.sub(r"[^A-Za-z0-9._-]+", "_", config.model)[:60]
            + "-"
            + hashlib.sha256(config.model.encode()).hexdigest()[:8]
        )
        self.cache_dir = self.cache_root / model_key / f"prompt-{PROMPT_VERSION}"
        self._pool: ThreadPoolExecutor | None = None
        self.client = ChatClient(
            config.base_url, config.timeout_s, config.api_key_env, config.max_retries, config.backoff_s
        )

    @property
    def name(self) -> str:
        return f"openai:{self.config.model}"

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="captions")
        return self._pool

    def submit(self, request_factory: Any, clip_id: str) -> Future:
        """Caption one clip on the pool; `request_factory()` builds the request (frames are decoded in the pool
        thread)."""
        return self.pool().submit(self._caption_or_cached, request_factory, clip_id)

    def cached(self, clip_id: str) -> VLMCaption | None:
        path = self.cache_dir / f"{clip_id}.json"
        if not path.exists():
            return None
        try:
            return parse_answer(path.read_text(), clip_id)
        except (OSError, ValueError):
            return None

    def _caption_or_cached(self, request_factory: Any, clip_id: str) -> VLMCaption:
        hit = self.cached(clip_id)
        if hit is not None:
            return hit
        request: CaptionRequest = request_factory()
        caption = self.caption(request)
        atomic_write_bytes(self.cache_dir / f"{clip_id}.json", caption.model_dump_json().encode())
        return caption

    def body(self, request: CaptionRequest, response_format: str) -> dict[str, Any]:
        brief = {
            "clip_id": request.clip_id,
            "duration_s": round(request.duration_s, 3),
            "frame_times_s": request.frame_times,
            "measured_signals": request.signals,
            "source_narrations": request.narrations,
            "instructions": (
                "Describe the people (count, apparent age group, clothing, body parts in view), their actions in "
                "order with time spans, actor, verb, object and hands used, the camera motion and the environment. "
                "Echo clip_id exactly."
            ),
        }
        content: list[dict[str, Any]] = [{"type": "text", "text": json.dumps(brief)}]
        for frame in request.frames:
            content.append(
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(frame).decode()},
                }
            )
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "clip_caption", "schema": vlm_json_schema()},
            }
        elif response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def caption(self, request: CaptionRequest) -> VLMCaption:
        """Ask until a valid answer for this clip arrives or the retries run out; a server that rejects the JSON
        schema (HTTP 400) is asked again for a plain JSON object."""
        accept = partial(parse_answer, clip_id=request.clip_id)
        try:
            return self.client.ask(self.body(request, self.config.response_format), accept)
        except ChatError as exc:
            if exc.status != 400 or self.config.response_format != "json_schema":
                raise
            return self.client.ask(self.body(request, "json_object"), accept)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def clip_signals(clip_scores: dict[str, float], clip_labels: dict[str, Any]) -> dict[str, Any]:
    """The measured signals worth telling a VLM (finite numbers, rounded)."""
    keep = ("viewpoint", "motion_categories")
    signals: dict[str, Any] = {key: clip_labels[key] for key in keep if key in clip_labels}
    for key in (
        "person_fraction",
        "hand_fraction",
        "face_fraction",
        "human_motion_score",
        "camera_shift",
        "viewpoint_confidence",
    ):
        value = clip_scores.get(key)
        if value is not None and np.isfinite(value):
            signals[key] = round(float(value), 4)
    return signals
