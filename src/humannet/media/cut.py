"""Materialise clips: cut spans out of a source video as H.264 MP4 files, frame-accurately.

The source is decoded once, sequentially, through the same `iter_decoded` the analysis used,
so frame N of a clip span is exactly the frame the analysis saw as N: no seeking, no
keyframe rounding. Clips of one video never overlap, so one encoder is open at a time.
Files are written under a temporary name and renamed, so a killed run leaves no half file.
Per-frame work that needs the written pixels (face blurring, keypoint tracks) plugs in as
`FrameHook`s: they see each written frame once, upright and at the output size. The time
spent in each step (decoding, conversion, each hook, encoding) is added up per hook step,
so the throughput benchmark can say where a worker's time goes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
from pydantic import BaseModel, Field

from humannet.media.frames import DecodeConfig, DecodeStats, iter_decoded, rotate_upright
from humannet.records import Clip, Probe
from humannet.storage import atomic_output, atomic_write_bytes


class MaterializeConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(
        True, description="Write clip files into the shards; false keeps spans only (same as --no-materialize)."
    )
    fps: float = Field(
        30.0,
        ge=0,
        le=240,
        description=(
            "Highest frame rate of written clips (constant rate); faster sources are thinned, slower kept. 0 = source "
            "rate."
        ),
    )
    max_short_side: int = Field(
        720,
        ge=16,
        le=4320,
        description="Largest short side of written clips (px); larger sources are scaled down, aspect kept.",
    )
    crf: int = Field(
        23, ge=0, le=51, description="libx264 constant rate factor (lower = better quality, bigger files)."
    )
    preset: str = Field(
        "veryfast",
        pattern="^(ultrafast|superfast|veryfast|faster|fast|medium|slow|slower|veryslow)$",
        description="libx264 speed/size preset.",
    )
    threads: int = Field(1, ge=1, le=64, description="Encoder threads per worker; 1 is fastest when workers = cores.")
    x264_params: str = Field(
        "",
        pattern=r"^([\w-]+=[\w.,/+-]+(:[\w-]+=[\w.,/+-]+)*)?$",
        description=(
            "Extra libx264 options, key=value joined by ':' (FFmpeg's -x264-params); 'mbtree=0' gives the same clip "
            "bytes on every run, ~1.4x larger."
        ),
    )


@dataclass(frozen=True)
class OutputGeometry:
    width: int
    height: int
    rate: Fraction


def output_geometry(probe: Probe, config: MaterializeConfig) -> OutputGeometry:
    width, height = probe.display_size
    scale = min(1.0, config.max_short_side / min(width, height))
    out_w = max(2, int(round(width * scale / 2)) * 2)
    out_h = max(2, int(round(height * scale / 2)) * 2)
    source = probe.fps or 30.0
    rate = min(source, config.fps) if config.fps else source
    return OutputGeometry(out_w, out_h, Fraction(rate).limit_denominator(1001))


@dataclass
class ClipExtras:
    """What frame hooks add to a clip besides its pixels."""

    # written beside the mp4 as `{clip_id}.{key}`, e.g. "pose.npz"
    files: dict[str, bytes] = field(default_factory=dict)
    # written as `{clip_id}.meta.json`, merged into the clip's JSON
    metadata: dict[str, Any] = field(default_factory=dict)


TimedImage = tuple[float, np.ndarray]


class FrameHook(Protocol):
    """Sees (and may change) every written frame of a clip, in order: upright BGR at the output size.

    Times are the frame's presentation time in the written clip (seconds from its start).
    A hook may hold frames back (to look ahead) and release them later, in order and each
    exactly once; `flush` releases the rest at the clip's end. Models live in the hook,
    set up once per worker by the caller, so this module stays free of them.
    """

    step: str  # the hook's name in the timings

    def begin_clip(self, clip: Clip, width: int, height: int) -> None: ...

    def process(self, time_s: float, image: np.ndarray) -> list[TimedImage]: ...

    def flush(self) -> list[TimedImage]: ...

    def end_clip(self) -> ClipExtras: ...


class _ClipWriter:
    """One open MP4 being written on a constant-rate grid that starts at the clip start.

    Each output slot k (at k / rate seconds) shows the source frame nearest to it, as FFmpeg's
    `fps` filter does: faster sources are thinned, gaps in variable-rate sources are filled by
    repeating a frame, so the clip's length in frames matches its length in seconds.
    With hooks, each frame that fills at least one slot is converted once to an upright BGR
    image at the output size and passed through the hooks before it is encoded.
    """

    def __init__(
        self,
        path: Path,
        clip: Clip,
        geometry: OutputGeometry,
        config: MaterializeConfig,
        hooks: Sequence[FrameHook],
        timings: dict[str, float],
    ) -> None:
        self.timings = timings  # seconds per step, shared by the clips of a video
        self.final_path = path
        self.output = atomic_output(path)  # committed by close(), discarded by abort()
        self.clip = clip
        self.container = av.open(str(self.output.temp), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=geometry.rate)
        self.stream.width, self.stream.height = geometry.width, geometry.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {
            "crf": str(config.crf),
            "preset": config.preset,
            **({"x264-params": config.x264_params} if config.x264_params else {}),
        }
        self.stream.codec_context.thread_count = config.threads
        self.geometry = geometry
        self.period = 1.0 / float(geometry.rate)
        self.hooks = list(hooks)
        self.placed = 0  # slots assigned a frame
        self.written = 0  # slots encoded (lags `placed` while hooks hold frames back)
        self.slot_counts: deque[int] = deque()  # slots per frame still inside the hooks, in order
        self.held: tuple[float, av.VideoFrame] | None = None  # the latest frame, not yet placed
        self.rotation = 0
        for hook in self.hooks:
            hook.begin_clip(clip, geometry.width, geometry.height)

    def add(self, time_s: float, frame: av.VideoFrame, rotation: int) -> None:
        t = time_s - self.clip.start_s
        if self.held is not None:
            self._emit_until((self.held[0] + t) / 2)
        self.rotation = rotation
        if self.hooks:  # converted only if it fills a slot
            self.held = (t, frame)
            return
        with self._spending("convert"):
            if rotation:
                frame = av.VideoFrame.from_ndarray(
                    rotate_upright(frame.to_ndarray(format="rgb24"), rotation), format="rgb24"
                )
            self.held = (
                t,
                frame.reformat(width=self.geometry.width, height=self.geometry.height, format="yuv420p", threads=1),
            )

    def _emit_until(self, limit_s: float) -> None:
        """Place the held frame in every slot before `limit_s`."""
        assert self.held is not None
        count = 0
        while (self.placed + count) * self.period < limit_s - 1e-6:
            count += 1
        if not count:
            return
        if self.hooks:
            self.slot_counts.append(count)
            self._encode_images(
                self._through_hooks([(self.placed * self.period, self._upright_image(self.held[1]))], 0)
            )
        else:
            self._encode(self.held[1], count)
        self.placed += count

    @contextlib.contextmanager
    def _spending(self, step: str) -> Iterator[None]:
        """Add the time spent inside to `step`'s timing."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] += time.perf_counter() - started

    def _upright_image(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self.geometry.width, self.geometry.height
        if self.rotation % 180:
            width, height = height, width
        with self._spending("convert"):
            return rotate_upright(
                frame.reformat(width=width, height=height, format="bgr24", threads=1).to_ndarray(), self.rotation
            )

    def _through_hooks(self, items: list[TimedImage], first: int) -> list[TimedImage]:
        for hook in self.hooks[first:]:
            with self._spending(hook.step):
                items = [out for time_s, image in items for out in hook.process(time_s, image)]
        return items

    def _encode_images(self, items: list[TimedImage]) -> None:
        for _, image in items:
            with self._spending("convert"):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24").reformat(
                    format="yuv420p", threads=1
                )
            self._encode(frame, self.slot_counts.popleft())

    def _encode(self, frame: av.VideoFrame, count: int) -> None:
        with self._spending("encode"):
            for _ in range(count):
                frame.pts = self.written
                frame.time_base = 1 / self.geometry.rate
                for packet in self.stream.encode(frame):
                    self.container.mux(packet)
                self.written += 1

    def _drain(self) -> None:
        """The frames the encoder still holds (its lookahead), written out."""
        with self._spending("encode"):
            for packet in self.stream.encode(None):
                self.container.mux(packet)

    def close(self) -> None:
        if self.held is not None:
            # The span's length in slots, rounded: containers with a coarse time base (MKV and WebM stamp whole
            # milliseconds) round its end time, and filling every slot that starts before it would repeat the
            # last frame once. The held frame still fills the slot at its own time, if no earlier frame did.
            slots = round((self.clip.end_s - self.clip.start_s) / self.period)
            self._emit_until(max((slots - 0.5) * self.period, self.held[0] + self.period / 2))
        for number, hook in enumerate(self.hooks):
            with self._spending(hook.step):
                flushed = hook.flush()
            self._encode_images(self._through_hooks(flushed, number + 1))
        self._drain()
        self.container.close()
        extras = ClipExtras()
        for hook in self.hooks:
            produced = hook.end_clip()
            extras.files.update(produced.files)
            extras.metadata.update(produced.metadata)
        # the mp4 appears last: a clip whose mp4 exists has all its side files
        for key, data in sorted(extras.files.items()):
            atomic_write_bytes(self.final_path.with_name(f"{self.clip.clip_id}.{key}"), data)
        if extras.metadata:
            atomic_write_bytes(
                self.final_path.with_name(f"{self.clip.clip_id}.meta.json"),
                json.dumps(extras.metadata, sort_keys=True).encode(),
            )
        self.output.commit()

    def abort(self) -> None:
        self.container.close()
        self.output.discard()


def materialize_clips(
    source: str,
    probe: Probe,
    clips: list[Clip],
    out_dir: Path,
    config: MaterializeConfig,
    decode: DecodeConfig,
    hooks: Sequence[FrameHook] = (),
    timings: dict[str, float] | None = None,
) -> dict[str, Path]:
    """Write `{clip_id}.mp4` for each clip into `out_dir` (plus the hooks' side files); returns the mp4 paths by clip
    ID.

    `timings`, if given, gains the seconds spent per step: decode, convert, encode and each hook by name.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = sorted(clips, key=lambda c: c.start_frame)
    written: dict[str, Path] = {}
    if not todo:
        return written
    geometry = output_geometry(probe, config)
    queue = iter(todo)
    current = next(queue)
    writer: _ClipWriter | None = None
    spent: defaultdict[str, float] = defaultdict(float)
    frames = iter_decoded(source, decode, DecodeStats())
    try:
        for index, (time_s, frame) in enumerate(_timed(frames, spent)):
            while current is not None and index >= current.end_frame:
                if writer is not None:
                    writer.close()
                    written[current.clip_id] = writer.final_path
                    writer = None
                current = next(queue, None)
            if current is None:
                break
            if index < current.start_frame:
                continue
            if writer is None:
                writer = _ClipWriter(out_dir / f"{current.clip_id}.mp4", current, geometry, config, hooks, spent)
            writer.add(time_s, frame, probe.rotation)
        if writer is not None and current is not None:  # the last clip runs to the end of the video
            writer.close()
            written[current.clip_id] = writer.final_path
            writer = None
    finally:
        frames.close()  # closes the source now, not whenever the generator is collected
        if writer is not None:
            writer.abort()
        if timings is not None:
            for step, seconds in spent.items():
                timings[step] = timings.get(step, 0.0) + seconds
    return written


def _timed(
    frames: Iterator[tuple[float, av.VideoFrame]], spent: defaultdict[str, float]
) -> Iterator[tuple[float, av.VideoFrame]]:
    """The frames, adding the time spent decoding each to `spent["decode"]`."""
    while True:
        started = time.perf_counter()
        item = next(frames, None)
        spent["decode"] += time.perf_counter() - started
        if item is None:
            return
        yield item
