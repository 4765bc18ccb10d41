"""The records that flow through the pipeline: one `Video` per input, holding its clips.

A `Video` is the unit of work. Stages fill in its fields; the corpus writer turns a
finished `Video` into rows of `videos.parquet` and the clip index. Everything here is
plain data that pickles (process pools, Ray) and serialises to JSON (the resume ledger).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel


class Status(StrEnum):
    KEPT = "kept"
    DROPPED = "dropped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame, as every analysis stage sees it.

    `small` is produced for every frame (full rate) at a small fixed width: enough for cut
    detection, motion and signatures. `analysis` is a larger copy produced only on frames
    picked at the analysis rate (quality, people, pose); it is None on the others.
    Both are BGR uint8 arrays (OpenCV's order), already rotated upright.
    """

    index: int
    time_s: float
    small: np.ndarray
    analysis: np.ndarray | None = None


@dataclass(slots=True)
class ItemError:
    """A failure recorded on the item instead of an exception crossing stage boundaries."""

    stage: str
    type: str
    message: str


@dataclass(slots=True)
class Probe:
    container: str
    video_codec: str
    audio_codec: str | None
    duration_s: float
    fps: float
    fps_variable: bool
    width: int
    height: int
    rotation: int
    frame_count: int | None
    bit_rate: int | None
    size_bytes: int

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height after applying the rotation metadata."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height


@dataclass(slots=True)
class Scene:
    """A shot: frames [start_frame, end_frame) between two transitions."""

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float


@dataclass(slots=True)
class Cut:
    """A shot boundary at `frame`: the first frame of the new shot, or the middle of a gradual transition's span."""

    frame: int
    time_s: float
    kind: str  # "hard", "dissolve" or "fade" (through a blank frame)
    score: float
    start_s: float  # the time span the transition occupies; start_s == end_s == time_s for a hard cut
    end_s: float


@dataclass(slots=True)
class Clip:
    """A span of a source video: frames [start_frame, end_frame), times in seconds."""

    clip_id: str
    video_id: str
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    scene_index: int
    scores: dict[str, float] = field(default_factory=dict)  # numeric measurements: one float column each in the index
    # categorical annotations: string, list<string> or bool columns
    labels: dict[str, str | list[str] | bool] = field(default_factory=dict)
    status: Status = Status.KEPT
    reason: str | None = None
    shard: str | None = None
    # JSON-only findings for `{clip_id}.json` (review boxes, times), not index columns
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @staticmethod
    def make_id(video_id: str, start_frame: int, end_frame: int) -> str:
        return f"{video_id}_{start_frame:07d}_{end_frame:07d}"


@dataclass(slots=True)
class Video:
    """One input video and everything the pipeline learns about it."""

    uri: str
    # license, title, source, narrations... from the input list or a sidecar
    meta: dict[str, Any] = field(default_factory=dict)
    video_id: str | None = None
    sha256: str | None = None
    # the input file when it was analysed (`storage.file_stamps`): a file replaced in place is analysed again
    file_stamp: str | None = None
    probe: Probe | None = None
    status: Status = Status.KEPT
    reason: str | None = None
    duplicate_of: str | None = None
    cuts: list[Cut] = field(default_factory=list)
    scenes: list[Scene] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)
    signature: list[int] = field(default_factory=list)  # near-duplicate signature (see process/dedup.py)
    signature_times: list[float] = field(default_factory=list)
    frames_decoded: int = 0
    decode_errors: int = 0  # undecodable packets plus frames the decoder flagged corrupt
    errors: list[ItemError] = field(default_factory=list)
    # rerunnable stage name -> 'version:config_hash' that filled its columns
    stamps: dict[str, str] = field(default_factory=dict)
    frame_results: dict[str, Any] = field(default_factory=dict)  # in flight only; not persisted
    local_path: str | None = None  # in flight only: a local copy of a remote input
    # seconds per stage; a dotted key ('pii.ocr', 'materialize.encode') is part of another
    timings: dict[str, float] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.status = Status.DROPPED
        self.reason = reason

    def fail(self, stage: str, error: BaseException | str, type_: str | None = None) -> None:
        message = str(error)
        kind = type_ or (type(error).__name__ if isinstance(error, BaseException) else "Error")
        self.errors.append(ItemError(stage=stage, type=kind, message=message))
        self.status = Status.FAILED
        self.reason = f"{stage}: {kind}: {message}"

    @property
    def duration_s(self) -> float:
        return self.probe.duration_s if self.probe else 0.0

    @property
    def source(self) -> str:
        """Where to read the video's bytes: the input itself, or its local copy when it is remote."""
        return self.local_path or self.uri

    @property
    def kept_clips(self) -> list[Clip]:
        return [c for c in self.clips if c.status is Status.KEPT]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the resume ledger (frame results are transient and left out)."""
        data = dataclasses.asdict(self)
        data.pop("frame_results")
        data.pop("local_path")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Video:
        data = dict(data)
        data.pop("frame_results", None)
        data.pop("local_path", None)
        probe = data.pop("probe")
        video = cls(**data)
        video.probe = Probe(**probe) if probe else None
        video.status = Status(video.status)
        video.cuts = [Cut(**c) for c in data["cuts"]]
        video.scenes = [Scene(**s) for s in data["scenes"]]
        video.clips = [Clip(**{**c, "status": Status(c["status"])}) for c in data["clips"]]
        video.errors = [ItemError(**e) for e in data["errors"]]
        return video


def fingerprint(value: Any, length: int = 16) -> str:
    """A short stable hash of settings and versions (pydantic models as their JSON form).

    Every key that tells finished work from stale work is one of these: unit stamps, the
    analysis and write fingerprints, provenance's config hashes.
    """
    text = json.dumps(value, sort_keys=True, default=_settings_json)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _settings_json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def declared_settings(config: Any, sections: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The settings at each dotted path of the config tree (`review.pii` -> config.review.pii)."""
    settings = {}
    for dotted in sections:
        node = config
        for part in dotted.split("."):
            node = getattr(node, part)
        settings[dotted] = node
    return settings


def reason_key(reason: str | None) -> str:
    """The part of a reason before its details: 'quality.blur: blur_score=0.1 < 0.2' -> 'quality.blur'."""
    return (reason or "unknown").split(":", 1)[0].strip()


TOO_SHORT = "too_short"  # the clip stage's reason for a piece shorter than clips.min_s


def settle_clips(video: Video) -> None:
    """A video whose clips were all dropped is itself dropped, with the main reason."""
    if video.status is not Status.KEPT or video.kept_clips:
        return
    if not video.clips:
        video.drop("no_clips: no scene long enough to cut a clip")
        return
    main = headline_reason(video.clips)
    reasons = Counter(reason_key(c.reason) for c in video.clips)
    detail = ", ".join(f"{key} {n}" for key, n in sorted(reasons.items(), key=lambda kv: (kv[0] != main, -kv[1])))
    video.drop(f"{main}: all {len(video.clips)} clips dropped ({detail})")


def headline_reason(clips: list[Clip]) -> str:
    """The reason that dropped the most footage (seconds, not clips; ties: alphabetical).

    A `too_short` piece in a scene where another reason dropped a span is the leftover of cutting
    that span out (a slide between camera shots leaves short camera scraps): it is not counted,
    so the video is headlined by what was wrong with it, not by the scraps.
    """
    content_scenes = {c.scene_index for c in clips if reason_key(c.reason) != TOO_SHORT}
    seconds: dict[str, float] = {}
    for clip in clips:
        key = reason_key(clip.reason)
        if key == TOO_SHORT and clip.scene_index in content_scenes:
            continue
        seconds[key] = seconds.get(key, 0.0) + clip.duration_s
    return min(seconds, key=lambda key: (-seconds[key], key))
