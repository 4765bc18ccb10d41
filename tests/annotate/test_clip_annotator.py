"""Clip annotators: run after encoding, staged beside the clip, resumed, and packed into the shard."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
from pydantic import BaseModel

from humannet.annotate.clip_annotator import ClipAnnotation, ClipAnnotator, StagedClip
from humannet.annotate.pose_tracks import PoseTrackConfig, PoseTrackHook
from humannet.corpus.writer import clip_table, staged_clip_files, write_shard
from humannet.media.cut import MaterializeConfig
from humannet.media.frames import DecodeConfig
from humannet.media.probe import probe_video
from humannet.process.materialize import MaterializeStage
from humannet.records import Clip, Video

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "videos"


class BodyCounter(ClipAnnotator):
    """Counts frames with a body in the clip's keypoint tracks: proves it sees the hooks' files."""

    name: ClassVar[str] = "body_counter"
    version: ClassVar[str] = "1"

    def __init__(self) -> None:
        self.calls = 0

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        self.calls += 1
        arrays = np.load(io.BytesIO(staged.files["pose.npz"]))
        bodies = int((~np.isnan(arrays["body_image"][:, 0, 0])).sum())
        return ClipAnnotation(
            files={"count.json": json.dumps({"bodies": bodies}).encode()},
            metadata={"counter": {"bodies": bodies, "size": [staged.width, staged.height]}},
            scores={"bodies_counted": float(bodies)},
            labels={"has_body": bodies > 0},
        )


class Later(ClipAnnotator):
    """Sees what the earlier annotator produced; then records a reason it could not do more."""

    name: ClassVar[str] = "later"
    version: ClassVar[str] = "1"

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        seen = json.loads(staged.files["count.json"])["bodies"]
        return ClipAnnotation(labels={"later_saw": str(seen)}, errors=["no hands to work with"])


class Broken(ClipAnnotator):
    name: ClassVar[str] = "broken"
    version: ClassVar[str] = "1"

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        raise ValueError("model exploded")


def make_video() -> Video:
    source = EXAMPLES / "exo_intel_asl_sign_again.mkv"
    probe = probe_video(str(source))
    video = Video(uri=str(source), video_id="asl", probe=probe)
    video.clips = [Clip("asl_0000000_0000078", "asl", 0.0, probe.duration_s, 0, 78, 0)]
    return video


def run_stage(root: Path, annotators: list[ClipAnnotator], settings: object = None) -> Path:
    """The write stage with keypoint tracks and `annotators`, stamped from the `settings` tree they declare."""
    stage = MaterializeStage(
        MaterializeConfig(max_short_side=240),
        DecodeConfig(),
        str(root),
        hooks=[PoseTrackHook(PoseTrackConfig(pose_fps=5))],
        annotators=annotators,
        annotator_stamps={annotator.name: annotator.stamp(settings) for annotator in annotators},
    )
    stage.setup()
    stage.process(make_video())
    return root / "asl"


@pytest.fixture(scope="module")
def staged_folder(tmp_path_factory) -> tuple[Path, BodyCounter]:
    counter = BodyCounter()
    return run_stage(tmp_path_factory.mktemp("staging"), [counter, Later(), Broken()]), counter


def test_annotators_run_in_order_and_stage_their_outputs(staged_folder):
    folder, counter = staged_folder
    meta = json.loads((folder / "asl_0000000_0000078.meta.json").read_text())
    assert counter.calls == 1
    assert {name: stamp.split(":")[0] for name, stamp in meta["annotators"].items()} == {
        "body_counter": "1",
        "later": "1",
        "broken": "1",
    }
    bodies = meta["counter"]["bodies"]
    assert bodies > 5 and meta["counter"]["size"] == [320, 240]
    assert meta["index"] == {
        "scores": {"bodies_counted": bodies},
        "labels": {"has_body": True, "later_saw": str(bodies)},
    }
    assert meta["annotation_errors"] == ["later: no hands to work with", "broken: ValueError: model exploded"]
    assert meta["pose"]["body_frames"] == bodies  # the hook's summary is kept beside the annotators'
    assert json.loads((folder / "asl_0000000_0000078.count.json").read_text()) == {"bodies": bodies}


def test_rerun_skips_annotated_clips_and_a_new_version_annotates_without_reencoding(tmp_path):
    counter = BodyCounter()
    folder = run_stage(tmp_path, [counter])
    mp4 = folder / "asl_0000000_0000078.mp4"
    encoded_at = mp4.stat().st_mtime_ns
    run_stage(tmp_path, [counter])
    assert counter.calls == 1

    class BodyCounterV2(BodyCounter):
        version: ClassVar[str] = "2"

    newer = BodyCounterV2()
    run_stage(tmp_path, [newer])
    assert newer.calls == 1 and mp4.stat().st_mtime_ns == encoded_at
    assert json.loads((folder / "asl_0000000_0000078.meta.json").read_text())["annotators"]["body_counter"].startswith(
        "2:"
    )


def test_shard_carries_annotator_files_and_json_and_index_gets_typed_columns(staged_folder, tmp_path):
    folder, _ = staged_folder
    video = make_video()
    clip = video.clips[0]
    meta = json.loads((folder / f"{clip.clip_id}.meta.json").read_text())
    clip.scores.update(meta["index"]["scores"])
    clip.labels.update(meta["index"]["labels"])
    shard = tmp_path / "shard.tar"
    write_shard(shard, [(clip.clip_id, staged_clip_files(clip, video, folder / f"{clip.clip_id}.mp4"))])
    with tarfile.open(shard) as tar:
        names = tar.getnames()
        clip_json = json.loads(tar.extractfile(f"{clip.clip_id}.json").read())
    assert names == [f"{clip.clip_id}.{suffix}" for suffix in ("mp4", "json", "count.json", "pose.npz")]
    assert "index" not in clip_json and clip_json["labels"]["has_body"] is True and "counter" in clip_json
    table = clip_table([clip], with_reason=False)
    assert (
        str(table.schema.field("has_body").type) == "bool"
        and table.column("bodies_counted")[0].as_py() == clip.scores["bodies_counted"]
    )


class Threshold(BaseModel):
    minimum: int = 1


class ConfiguredCounter(BodyCounter):
    config_sections: ClassVar[tuple[str, ...]] = ("threshold",)


def test_changed_settings_annotate_staged_clips_again(tmp_path):
    first = ConfiguredCounter()
    run_stage(tmp_path, [first], SimpleNamespace(threshold=Threshold(minimum=1)))
    same = ConfiguredCounter()
    run_stage(tmp_path, [same], SimpleNamespace(threshold=Threshold(minimum=1)))
    changed = ConfiguredCounter()
    run_stage(tmp_path, [changed], SimpleNamespace(threshold=Threshold(minimum=2)))
    assert (first.calls, same.calls, changed.calls) == (1, 0, 1)
