"""Materialise clips: cut spans out of a source video as H.264 MP4 files, frame-accurately.

The source is decoded once, sequentially, through the same `iter_decoded` the analysis used,
so frame N of a clip span is exactly the frame the analysis saw as N: no seeking, no
keyframe rounding. Clips of one video never overlap, so one encoder is open at a time.
Files are written under a temporary name and renamed, so a killed run leaves no half file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from pydantic import BaseModel, Field

from humannet.media.frames import DecodeConfig, DecodeStats, iter_decoded, rotate_upright
from humannet.records import Clip, Probe


class MaterializeConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(True, description="Write clip files into the shards; false keeps spans only (same as --no-materialize).")
    fps: float = Field(
        30.0, ge=0, le=240, description="Highest frame rate of written clips (constant rate); faster sources are thinned, slower kept. 0 = source rate."
    )
    max_short_side: int = Field(720, ge=16, le=4320, description="Largest short side of written clips (px); larger sources are scaled down, aspect kept.")
    crf: int = Field(23, ge=0, le=51, description="libx264 constant rate factor (lower = better quality, bigger files).")
    preset: str = Field(
        "veryfast", pattern="^(ultrafast|superfast|veryfast|faster|fast|medium|slow|slower|veryslow)$", description="libx264 speed/size preset."
    )
    threads: int = Field(1, ge=1, le=64, description="Encoder threads per worker; 1 is fastest when workers = cores.")


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


class _ClipWriter:
    """One open MP4 being written on a constant-rate grid that starts at the clip start.

    Each output slot k (at k / rate seconds) shows the source frame nearest to it, as FFmpeg's
    `fps` filter does: faster sources are thinned, gaps in variable-rate sources are filled by
    repeating a frame, so the clip's length in frames matches its length in seconds.
    """

    def __init__(self, path: Path, clip: Clip, geometry: OutputGeometry, config: MaterializeConfig) -> None:
        self.final_path = path
        self.temp_path = path.with_name(f".{path.name}.part")
        self.clip = clip
        self.container = av.open(str(self.temp_path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=geometry.rate)
        self.stream.width, self.stream.height = geometry.width, geometry.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(config.crf), "preset": config.preset}
        self.stream.codec_context.thread_count = config.threads
        self.geometry = geometry
        self.period = 1.0 / float(geometry.rate)
        self.written = 0
        self.held: tuple[float, av.VideoFrame] | None = None  # the latest frame, not yet placed

    def add(self, time_s: float, frame: av.VideoFrame, rotation: int) -> None:
        t = time_s - self.clip.start_s
        if self.held is not None:
            self._emit_until((self.held[0] + t) / 2)
        if rotation:
            frame = av.VideoFrame.from_ndarray(rotate_upright(frame.to_ndarray(format="rgb24"), rotation), format="rgb24")
        self.held = (t, frame.reformat(width=self.geometry.width, height=self.geometry.height, format="yuv420p"))

    def _emit_until(self, limit_s: float) -> None:
        """Place the held frame in every slot before `limit_s`."""
        assert self.held is not None
        frame = self.held[1]
        while self.written * self.period < limit_s - 1e-6:
            frame.pts = self.written
            frame.time_base = 1 / self.geometry.rate
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            self.written += 1

    def close(self) -> None:
        if self.held is not None:
            self._emit_until(max(self.clip.end_s - self.clip.start_s, self.held[0] + self.period / 2))
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        os.replace(self.temp_path, self.final_path)

    def abort(self) -> None:
        self.container.close()
        self.temp_path.unlink(missing_ok=True)


def materialize_clips(source: str, probe: Probe, clips: list[Clip], out_dir: Path, config: MaterializeConfig, decode: DecodeConfig) -> dict[str, Path]:
    """Write `{clip_id}.mp4` for each clip into `out_dir`; returns the paths by clip ID."""
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = sorted(clips, key=lambda c: c.start_frame)
    written: dict[str, Path] = {}
    if not todo:
        return written
    geometry = output_geometry(probe, config)
    queue = iter(todo)
    current = next(queue)
    writer: _ClipWriter | None = None
    frames = iter_decoded(source, decode, DecodeStats())
    try:
        for index, (time_s, frame) in enumerate(frames):
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
                writer = _ClipWriter(out_dir / f"{current.clip_id}.mp4", current, geometry, config)
            writer.add(time_s, frame, probe.rotation)
        if writer is not None and current is not None:  # the last clip runs to the end of the video
            writer.close()
            written[current.clip_id] = writer.final_path
            writer = None
    finally:
        frames.close()  # closes the source now, not whenever the generator is collected
        if writer is not None:
            writer.abort()
    return written
