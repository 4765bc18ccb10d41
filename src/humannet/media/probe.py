"""Read what a video file is, and refuse what is not one, with a reason a person can act on."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

from humannet.records import Probe


class ProbeError(ValueError):
    """The input is not a usable video; the message says why."""


# Packets read to judge whether the frame rate is variable: demuxing is cheap (no decode).
_VFR_PACKETS = 600
# Relative spread of frame durations above which the rate counts as variable.
_VFR_SPREAD = 0.05


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return float(rate)
    return 0.0


def _is_variable_rate(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> bool:
    pts = []
    for packet in container.demux(stream):
        if packet.pts is not None:
            pts.append(packet.pts)
        if len(pts) >= _VFR_PACKETS:
            break
    if len(pts) < 3:
        return False
    deltas = np.diff(np.sort(np.asarray(pts, dtype=np.float64)))
    deltas = deltas[deltas > 0]
    if len(deltas) < 2:
        return False
    median = float(np.median(deltas))
    irregular = np.abs(deltas - median) > _VFR_SPREAD * median
    return bool(irregular.sum() >= 3 and irregular.mean() > 0.1)


def probe_video(path: str) -> Probe:
    """Probe `path`; raise ProbeError naming the reason when it is not a decodable video."""
    if os.path.isdir(path):
        raise ProbeError("cannot read file: it is a directory")
    try:
        size = os.path.getsize(path)
    except FileNotFoundError as exc:
        raise ProbeError("file not found") from exc
    except OSError as exc:
        raise ProbeError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise ProbeError("empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ProbeError("file is not readable (permission denied)")
    try:
        container = av.open(path)
    except av.error.FFmpegError as exc:
        raise ProbeError(f"not a media file FFmpeg can read ({exc.strerror or exc})") from exc
    with container:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
            raise ProbeError(f"no video stream (streams: {kinds})")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        first = _first_frame(container, stream)
        if first is None:
            raise ProbeError("no decodable video frame")
        rotation = int(getattr(first, "rotation", 0) or 0) % 360
        duration = _duration(container, stream)
        variable = _is_variable_rate(container, stream)
        return Probe(
            container=container.format.name,
            video_codec=ctx.name,
            audio_codec=audio,
            duration_s=duration,
            fps=_frame_rate(stream),
            fps_variable=variable,
            width=ctx.width or first.width,
            height=ctx.height or first.height,
            rotation=rotation,
            frame_count=stream.frames or None,
            bit_rate=container.bit_rate or None,
            size_bytes=size,
        )


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> av.VideoFrame | None:
    errors = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            errors += 1
            if errors > 50:
                return None
            continue
        if frames:
            return frames[0]
    try:
        for frame in stream.codec_context.decode(None):  # flush: single-frame files
            return frame
    except av.error.FFmpegError:
        return None
    return None


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(Fraction(container.duration, av.time_base))
    return 0.0
