"""Clip files for the viewer, read straight out of the shards: byte ranges of an mp4, thumbnails, keypoints as JSON.

A browser seeks in a video with HTTP Range requests, so the mp4 is served as byte ranges of
its tar member (a tar stores each member contiguously) instead of being unpacked. Shards are
read through the corpus reader, which keeps each shard's member table until the shard changes.
"""

from __future__ import annotations

import hashlib
import io
import math
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from humannet.corpus.reader import Corpus
from humannet.storage import atomic_write_bytes

THUMB_WIDTH = 320


class MediaMissing(LookupError):
    """A clip file cannot be served; the message says which file and why (shown to the user)."""


@dataclass(frozen=True)
class MemberSpan:
    shard: str
    offset: int  # of the member's data in the shard
    size: int
    version: str  # the shard's version (Corpus.shard_version): changes when the shard is rewritten


class ShardMembers:
    """Clip files served from the corpus reader, with errors that say what is missing; thread-safe."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def span(self, shard: str | None, name: str) -> MemberSpan:
        if not shard:
            raise MediaMissing(f"{name}: the clip has no shard (the corpus was curated with --no-materialize)")
        try:
            version = self.corpus.shard_version(shard)
            table = self.corpus.shard_members(shard, strict=True)
        except FileNotFoundError:
            raise MediaMissing(f"{name}: shard {shard} is missing") from None
        except (tarfile.TarError, OSError) as exc:
            raise MediaMissing(f"{name}: shard {shard} is unreadable ({exc})") from None
        if name not in table:
            raise MediaMissing(f"{name}: not in shard {shard}")
        offset, size = table[name]
        return MemberSpan(shard, offset, size, version)

    def read(self, shard: str | None, name: str, start: int = 0, length: int | None = None) -> bytes:
        span = self.span(shard, name)
        length = span.size - start if length is None else length
        with self.corpus.open_shard(span.shard) as handle:
            handle.seek(span.offset + start)
            return handle.read(length)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """`Range: bytes=a-b` (also `a-` and `-n`) as an inclusive (first, last) pair; None means the whole file.

    Raises ValueError for a range that does not fit the file (the server answers 416).
    """
    if not header or not header.startswith("bytes="):
        return None
    spec = header[len("bytes=") :].split(",")[0].strip()
    first_text, _, last_text = spec.partition("-")
    if not first_text:
        suffix = int(last_text)
        if suffix <= 0:
            raise ValueError(header)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise ValueError(header)
    return first, last


def thumbnail_jpeg(mp4: bytes, width: int = THUMB_WIDTH) -> bytes:
    """A JPEG of the clip's middle frame, `width` pixels wide."""
    import av
    import cv2

    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        middle = duration / 2
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= middle:
                break
        if chosen is None:
            raise MediaMissing("the clip's mp4 holds no decodable frame")
        height = max(2, round(chosen.height * width / chosen.width / 2) * 2)
        bgr = chosen.reformat(width=width, height=height, format="bgr24").to_ndarray()
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise MediaMissing("the thumbnail could not be encoded")
    return encoded.tobytes()


class ThumbnailCache:
    """Thumbnails made on first request and kept on disk, keyed by clip and shard version."""

    def __init__(self, members: ShardMembers, cache_dir: Path) -> None:
        self.members = members
        self.cache_dir = cache_dir

    def get(self, shard: str | None, clip_id: str) -> bytes:
        span = self.members.span(shard, f"{clip_id}.mp4")
        shard_file = f"{self.members.corpus.location}/{span.shard}"
        version = hashlib.sha1(f"{shard_file}:{span.version}:{span.offset}".encode()).hexdigest()[:12]
        path = self.cache_dir / f"{clip_id}.{version}.jpg"
        if path.is_file():
            return path.read_bytes()
        try:
            data = thumbnail_jpeg(self.members.read(shard, f"{clip_id}.mp4"))
        except MediaMissing:
            raise
        except Exception as exc:  # a corrupt mp4: the grid shows a placeholder for this clip only
            raise MediaMissing(f"{clip_id}.mp4: cannot decode ({type(exc).__name__}: {exc})") from None
        atomic_write_bytes(path, data)
        return data


def pose_for_browser(npz: bytes) -> dict[str, Any]:
    """The keypoint arrays the overlay draws: normalised image x, y (and body visibility), NaN as null."""
    with np.load(io.BytesIO(npz), allow_pickle=False) as data:
        body = data["body_image"][..., [0, 1, 3]] if "body_image" in data else np.zeros((len(data["times"]), 0, 3))
        hands = data["hand_image"][..., :2] if "hand_image" in data else np.zeros((len(data["times"]), 0, 21, 2))
        return {
            "times": _rounded(data["times"], 4),
            "frame_size": [int(v) for v in data["frame_size"]] if "frame_size" in data else None,
            "body": _rounded(body, 4),
            "hands": _rounded(hands, 4),
        }


def _rounded(array: np.ndarray, digits: int) -> Any:
    """Nested lists with NaN as None (JSON has no NaN)."""
    values = np.round(np.asarray(array, dtype=np.float64), digits)
    return json_safe(values.tolist())


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities (which JSON cannot carry) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
