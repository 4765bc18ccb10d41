"""The stage that encodes a video's kept clips; run after deduplication, not in the analysis pass.

Work that needs every written frame (keypoint tracks, face hiding) runs inside the same
decode pass as `EncodeHook`s; work on a finished clip (3D motion, captions) runs after it as
`ClipAnnotator`s; the catalogue (`humannet/stages.py`) says which, in which order. Models of
both load once per worker in `setup`. The seconds each step took (`materialize.decode`,
`materialize.keypoints`, `annotate.retarget`, ...) are added to the video's `timings`, which the
ledger keeps for the throughput benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from humannet.annotate.clip_annotator import (
    META_SUFFIX,
    ClipAnnotator,
    StagedClip,
    annotate_clip,
    needs_annotation,
    read_staged_meta,
)
from humannet.engine.stage import EncodeHook, Stage
from humannet.media.cut import FrameHook, MaterializeConfig, materialize_clips, output_geometry
from humannet.media.frames import DecodeConfig
from humannet.records import Video
from humannet.storage import StorageConfig, atomic_write_bytes, scratch_root, staging_folder


class MaterializeStage(Stage):
    """Writes the kept clips of one video into its staging folder (skipping clips staged with the same settings).

    Beside each `{clip_id}.mp4`: the encode hooks' files (`{clip_id}.pose.npz`, ...) and
    `{clip_id}.meta.json` (the hooks' summaries for the clip's JSON), and the annotators' files.
    `encoder_stamps` are the stamps (`PipelineUnit.stamp`) of this stage and the encode hooks, by
    name, and `annotator_stamps` the annotators': a staged clip whose `meta.json` names other encoder
    stamps is encoded again (a run killed before packing must not pack clips made with other settings),
    one that names other annotator stamps is annotated again.
    """

    name: ClassVar[str] = "materialize"
    version: ClassVar[str] = "2"
    reads: ClassVar[tuple[str, ...]] = ("probe", "video_id", "clips")
    produces: ClassVar[tuple[str, ...]] = ("shard",)
    # the clip files depend on the encode hooks' settings too (face hiding, text hiding)
    config_sections: ClassVar[tuple[str, ...]] = (
        "materialize",
        "decode",
        "privacy",
        "pose_tracks",
        "review.pii",
        "corpus",
    )

    def __init__(
        self,
        config: MaterializeConfig,
        decode: DecodeConfig,
        staging_root: str,
        hooks: list[EncodeHook] | None = None,
        annotators: list[ClipAnnotator] | None = None,
        annotator_stamps: dict[str, str] | None = None,
        storage: StorageConfig | None = None,
    ) -> None:
        self.config = config
        self.decode = decode
        self.staging_root = staging_root  # a folder, or a store URL for a remote corpus
        self.storage = storage or StorageConfig()
        self.hooks = list(hooks or [])
        self.annotators = list(annotators or [])
        self.annotator_stamps = dict(annotator_stamps or {})
        self.encoder_stamps: dict[str, str] = {}  # the catalogue's, which needs this stage's own stamp first

    def setup(self) -> None:
        for unit in (*self.hooks, *self.annotators):
            unit.setup()

    def process(self, video: Video) -> Video:
        assert video.probe is not None and video.video_id is not None
        with staging_folder(
            self.staging_root, video.video_id, self.storage.options, scratch_root(self.storage)
        ) as out_dir:
            self._stage(video, out_dir)
        return video

    def _stage(self, video: Video, out_dir: Path) -> None:
        for partial in out_dir.glob(".*.part"):  # left by a killed run
            partial.unlink()
        todo = [c for c in video.kept_clips if not self._staged_as_configured(out_dir / f"{c.clip_id}.mp4", c.clip_id)]
        for clip in todo:  # files from other settings, or a killed encoding's, would be packed with the new mp4
            for stale in out_dir.glob(f"{clip.clip_id}.*"):
                stale.unlink()
        hooks: list[FrameHook] = list(self.hooks)
        steps: dict[str, float] = {}
        written = materialize_clips(video.source, video.probe, todo, out_dir, self.config, self.decode, hooks, steps)
        for clip_id, mp4 in written.items():
            meta = read_staged_meta(mp4, clip_id)
            atomic_write_bytes(
                mp4.with_name(f"{clip_id}.{META_SUFFIX}"),
                json.dumps({**meta, "encoders": self.encoder_stamps}, sort_keys=True).encode(),
            )
        video.timings.update({f"materialize.{step}": seconds for step, seconds in steps.items()})
        geometry = output_geometry(video.probe, self.config)
        steps = {}
        for clip in video.kept_clips:
            mp4 = out_dir / f"{clip.clip_id}.mp4"
            if mp4.exists() and needs_annotation(mp4, clip.clip_id, self.annotator_stamps):
                staged = StagedClip(
                    clip=clip,
                    video=video,
                    mp4=mp4,
                    width=geometry.width,
                    height=geometry.height,
                    fps=float(geometry.rate),
                    stamps=self.annotator_stamps,
                )
                annotate_clip(staged, self.annotators, self.annotator_stamps, steps)
        video.timings.update({f"annotate.{name}": seconds for name, seconds in steps.items()})

    def _staged_as_configured(self, mp4: Path, clip_id: str) -> bool:
        return mp4.exists() and read_staged_meta(mp4, clip_id).get("encoders") == self.encoder_stamps
