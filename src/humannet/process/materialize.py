"""The stage that encodes a video's kept clips; run after deduplication, not in the analysis pass.

Work that needs every written frame (keypoint tracks, face hiding) runs inside the same
decode pass as `FrameHook`s; work on a finished clip (3D motion, captions) runs after it as
`ClipAnnotator`s. Models of both load once per worker in `setup`. The seconds each step
took (`materialize.decode`, `materialize.keypoints`, `annotate.retarget`, ...) are added to the
video's `timings`, which the ledger keeps for the throughput benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from humannet.annotate.clip_annotator import ClipAnnotator, StagedClip, annotate_clip, needs_annotation
from humannet.annotate.pose_tracks import PoseTrackConfig, PoseTrackHook
from humannet.annotate.privacy import FaceBlurHook, PrivacyConfig
from humannet.engine.stage import Stage
from humannet.media.cut import FrameHook, MaterializeConfig, materialize_clips, output_geometry
from humannet.media.frames import DecodeConfig
from humannet.records import Video
from humannet.review.pii import PiiConfig
from humannet.review.text_blur import TextBlurHook
from humannet.storage import StorageConfig, scratch_root, staging_folder


class MaterializeStage(Stage):
    """Writes the kept clips of one video into its staging folder (skipping files already there).

    Beside each `{clip_id}.mp4`: `{clip_id}.pose.npz` when pose tracks are on, and
    `{clip_id}.meta.json` (privacy and pose summaries for the clip's JSON) when any hook ran,
    and the annotators' files. Without `privacy` or `pose` settings those hooks are off.
    """

    name: ClassVar[str] = "materialize"
    version: ClassVar[str] = "2"
    produces: ClassVar[tuple[str, ...]] = ("shard",)
    config_sections: ClassVar[tuple[str, ...]] = ("materialize", "privacy", "pose_tracks", "review.pii", "corpus")

    def __init__(
        self,
        config: MaterializeConfig,
        decode: DecodeConfig,
        staging_root: str,
        privacy: PrivacyConfig | None = None,
        pose: PoseTrackConfig | None = None,
        annotators: list[ClipAnnotator] | None = None,
        storage: StorageConfig | None = None,
        text_blur: PiiConfig | None = None,
    ) -> None:
        self.config = config
        self.decode = decode
        self.staging_root = staging_root  # a folder, or a store URL for a remote corpus
        self.storage = storage or StorageConfig()
        self.hooks: list[PoseTrackHook | FaceBlurHook | TextBlurHook] = []
        if pose is not None and pose.enabled:
            self.hooks.append(
                PoseTrackHook(pose)
            )  # first: keypoints are measured on the frames before faces are hidden
        if privacy is not None and privacy.face_blur != "off":
            self.hooks.append(FaceBlurHook(privacy))
        if text_blur is not None and text_blur.enabled and text_blur.blur != "off":
            self.hooks.append(TextBlurHook(text_blur))  # identifying text the analysis read (review/pii.py)
        self.annotators = list(annotators or [])

    def setup(self) -> None:
        for hook in self.hooks:
            hook.setup()
        for annotator in self.annotators:
            annotator.setup()

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
        todo = [c for c in video.kept_clips if not (out_dir / f"{c.clip_id}.mp4").exists()]
        hooks: list[FrameHook] = list(self.hooks)
        steps: dict[str, float] = {}
        materialize_clips(video.source, video.probe, todo, out_dir, self.config, self.decode, hooks, steps)
        video.timings.update({f"materialize.{step}": seconds for step, seconds in steps.items()})
        geometry = output_geometry(video.probe, self.config)
        steps = {}
        for clip in video.kept_clips:
            mp4 = out_dir / f"{clip.clip_id}.mp4"
            if mp4.exists() and needs_annotation(mp4, clip.clip_id, self.annotators):
                staged = StagedClip(
                    clip=clip,
                    video=video,
                    mp4=mp4,
                    width=geometry.width,
                    height=geometry.height,
                    fps=float(geometry.rate),
                )
                annotate_clip(staged, self.annotators, steps)
        video.timings.update({f"annotate.{name}": seconds for name, seconds in steps.items()})
