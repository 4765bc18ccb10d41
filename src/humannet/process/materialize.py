"""The stage that encodes a video's kept clips; run after deduplication, not in the analysis pass."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from humannet.engine.stage import Stage
from humannet.media.cut import MaterializeConfig, materialize_clips
from humannet.media.frames import DecodeConfig
from humannet.records import Video


class MaterializeStage(Stage):
    """Writes the kept clips of one video into its staging folder (skipping files already there)."""

    name: ClassVar[str] = "materialize"
    version: ClassVar[str] = "1"

    def __init__(self, config: MaterializeConfig, decode: DecodeConfig, staging_root: str) -> None:
        self.config = config
        self.decode = decode
        self.staging_root = Path(staging_root)

    def process(self, video: Video) -> Video:
        assert video.probe is not None and video.video_id is not None
        out_dir = self.staging_root / video.video_id
        for partial in out_dir.glob(".*.part"):  # left by a killed run
            partial.unlink()
        todo = [c for c in video.kept_clips if not (out_dir / f"{c.clip_id}.mp4").exists()]
        materialize_clips(video.uri, video.probe, todo, out_dir, self.config, self.decode)
        return video
