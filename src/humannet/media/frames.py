"""The single sequential decode pass that feeds every analysis stage.

Each frame is converted once, inside FFmpeg's scaler, to a small BGR image (every frame)
and, at the analysis rate, to a larger one. Converting at full size and resizing in
NumPy halves throughput (measured in DEPS.md), so the scaler does the work, on one thread
(`threads=1`: a worker owns one core, and swscale's own threads only contend with the other
workers; same pixels, about 20 % faster per frame measured). Nothing is kept between frames
here: memory does not grow with the video's length.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np
from pydantic import BaseModel, Field

from humannet.records import Frame, Probe

log = logging.getLogger(__name__)


class DecodeConfig(BaseModel, extra="forbid"):
    small_width: int = Field(
        160, ge=32, le=1024, description="Width of the full-rate frames used for cuts, motion and signatures (px)."
    )
    analysis_fps: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Rate at which larger frames are sampled for quality and people stages (frames/s).",
    )
    analysis_max_side: int = Field(
        640, ge=64, le=4096, description="Longest side of the analysis frames (px); smaller videos are not upscaled."
    )
    threads: int = Field(
        1,
        ge=0,
        le=64,
        description=(
            "FFmpeg decoder threads per worker (0 = FFmpeg decides). One per worker is fastest when workers = cores."
        ),
    )
    max_decode_errors: int = Field(200, ge=0, description="Give up on a video after this many undecodable packets.")


@dataclass
class DecodeStats:
    frames: int = 0
    decode_errors: int = 0
    corrupt_frames: int = 0
    error_times: list[float] = field(default_factory=list)


class TooManyDecodeErrors(RuntimeError):
    pass


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def rotate_upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate so the image is upright; `rotation` is the display matrix angle (counter-clockwise)."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def iter_decoded(path: str, config: DecodeConfig, stats: DecodeStats) -> Iterator[tuple[float, av.VideoFrame]]:
    """Yield `(time_s, frame)` for every decodable frame, times relative to the first frame.

    Undecodable packets are counted and skipped, so a few corrupt packets cost a few frames,
    not the video. Every consumer of frame indices (analysis, materialisation) decodes through
    this one function so that frame N means the same frame everywhere.
    """
    origin: float | None = None
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO" if config.threads != 1 else "SLICE"
        stream.codec_context.thread_count = config.threads
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as exc:
                stats.decode_errors += 1
                if packet.pts is not None and packet.time_base is not None:
                    stats.error_times.append(float(packet.pts * packet.time_base) - (origin or 0.0))
                if stats.decode_errors > config.max_decode_errors:
                    raise TooManyDecodeErrors(
                        f"more than {config.max_decode_errors} undecodable packets ({exc})"
                    ) from exc
                continue
            for frame in decoded:
                t = frame.time if frame.time is not None else stats.frames / fps
                if origin is None:
                    origin = t
                if frame.is_corrupt:
                    stats.corrupt_frames += 1
                yield t - origin, frame
                stats.frames += 1


def iter_frames(path: str, probe: Probe, config: DecodeConfig, stats: DecodeStats | None = None) -> Iterator[Frame]:
    """Yield every frame of the first video stream once, as small (and sometimes analysis) arrays."""
    stats = stats if stats is not None else DecodeStats()
    coded_w, coded_h = probe.width, probe.height
    # Scale factors are set on the upright (display) size; the scaler works on coded frames.
    small_scale = min(1.0, config.small_width / probe.display_size[0])
    small_w, small_h = _even(coded_w * small_scale), _even(coded_h * small_scale)
    big_scale = min(1.0, config.analysis_max_side / max(coded_w, coded_h))
    big_w, big_h = _even(coded_w * big_scale), _even(coded_h * big_scale)

    period = 1.0 / config.analysis_fps
    next_analysis = 0.0
    for t, frame in iter_decoded(path, config, stats):
        small = frame.reformat(
            width=small_w, height=small_h, format="bgr24", interpolation="FAST_BILINEAR", threads=1
        ).to_ndarray()
        analysis = None
        if t + 1e-6 >= next_analysis:
            analysis = frame.reformat(
                width=big_w, height=big_h, format="bgr24", interpolation="AREA", threads=1
            ).to_ndarray()
            analysis = rotate_upright(analysis, probe.rotation)
            while next_analysis <= t + 1e-6:
                next_analysis += period
        yield Frame(index=stats.frames, time_s=t, small=rotate_upright(small, probe.rotation), analysis=analysis)
