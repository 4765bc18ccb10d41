"""The first stage: give the input its content-derived ID and read what kind of video it is."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from humannet.engine.stage import Stage
from humannet.media.probe import ProbeError, probe_video
from humannet.records import Video

_HASH_CHUNK = 1 << 20


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ProbeStage(Stage):
    """Fails non-video, empty, unreadable or undecodable inputs with the reason; sets `video_id`."""

    name: ClassVar[str] = "probe"
    version: ClassVar[str] = "1"
    reads: ClassVar[tuple[str, ...]] = ("uri",)
    writes: ClassVar[tuple[str, ...]] = ("probe", "video_id", "sha256")
    produces_video: ClassVar[tuple[str, ...]] = (
        "video_id",
        "sha256",
        "duration_s",
        "fps",
        "width",
        "height",
        "codec",
        "container",
        "audio_codec",
        "fps_variable",
        "rotation",
        "size_bytes",
        "bit_rate",
    )

    def process(self, video: Video) -> Video:
        try:
            video.probe = probe_video(video.source)
        except ProbeError as exc:
            video.fail(self.name, exc, type_="ProbeError")
            return video
        video.sha256 = file_sha256(video.source)
        video.video_id = video.sha256[:16]
        return video
