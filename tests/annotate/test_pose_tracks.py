"""Keypoint tracks written beside materialised clips, and packed into the shard with them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from humannet.annotate.pose_tracks import FORMAT_VERSION, PoseTrackConfig, PoseTrackHook, pose_summary
from humannet.annotate.privacy import FaceBlurHook, PrivacyConfig
from humannet.corpus.writer import staged_clip_files, write_shard
from humannet.media.cut import MaterializeConfig
from humannet.media.frames import DecodeConfig
from humannet.media.probe import probe_video
from humannet.process.materialize import MaterializeStage
from humannet.records import Clip, Video

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "videos"


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> tuple[Video, Path]:
    """The signing clip (2.6 s, 30 fps, one person facing the camera, both hands) materialised with pose tracks and face
    hiding."""
    source = EXAMPLES / "exo_intel_asl_sign_again.mkv"
    probe = probe_video(str(source))
    video = Video(uri=str(source), meta={"license": "CC BY 4.0"}, video_id="asl", probe=probe)
    video.clips = [Clip("asl_0000000_0000078", "asl", 0.0, probe.duration_s, 0, 78, 0)]
    root = tmp_path_factory.mktemp("staging")
    stage = MaterializeStage(
        MaterializeConfig(max_short_side=360),
        DecodeConfig(),
        str(root),
        hooks=[PoseTrackHook(PoseTrackConfig(pose_fps=10)), FaceBlurHook(PrivacyConfig())],
    )
    stage.setup()
    stage.process(video)
    return video, root / "asl"


def test_pose_npz_has_the_documented_arrays(staged):
    _, folder = staged
    arrays = dict(np.load(folder / "asl_0000000_0000078.pose.npz"))
    assert int(arrays["format_version"]) == FORMAT_VERSION
    assert arrays["frame_size"].tolist() == [480, 360]
    times = arrays["times"]
    count = len(times)
    assert 24 <= count <= 28 and np.all(np.diff(times) > 0) and np.allclose(np.diff(times), 0.1, atol=0.034)
    shapes = {
        name: arrays[name].shape for name in ("body_image", "body_world", "hand_image", "hand_world", "hand_score")
    }
    assert shapes == {
        "body_image": (count, 33, 4),
        "body_world": (count, 33, 4),
        "hand_image": (count, 2, 21, 3),
        "hand_world": (count, 2, 21, 3),
        "hand_score": (count, 2),
    }
    body = ~np.isnan(arrays["body_image"][:, 0, 0])
    assert body.mean() > 0.9
    nose = arrays["body_image"][body, 0, :2]
    assert np.all((nose > 0.2) & (nose < 0.8))  # the signer stands in the middle of the frame
    hip_centre = arrays["body_world"][body][:, [23, 24], :3].mean(axis=1)
    assert np.abs(hip_centre).max() < 0.05  # world keypoints are hip-centred metres
    hands = arrays["hand_score"] > 0
    assert hands.any(axis=1).mean() > 0.5
    assert np.isnan(arrays["hand_image"][~hands]).all() and not np.isnan(arrays["hand_image"][hands]).any()
    summary = pose_summary(arrays)
    assert summary["pose_frames"] == count and summary["body_frames"] == int(body.sum())


def test_shard_holds_the_npz_and_merged_metadata(staged, tmp_path):
    video, folder = staged
    clip = video.clips[0]
    write_shard(
        tmp_path / "shard.tar", [(clip.clip_id, staged_clip_files(clip, video, folder / f"{clip.clip_id}.mp4"))]
    )
    with tarfile.open(tmp_path / "shard.tar") as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile(f"{clip.clip_id}.json").read())
        npz = np.load(io.BytesIO(tar.extractfile(f"{clip.clip_id}.pose.npz").read()))
    assert names == [f"{clip.clip_id}.mp4", f"{clip.clip_id}.json", f"{clip.clip_id}.pose.npz"]
    assert meta["license"] == "CC BY 4.0" and meta["privacy"]["faces_blurred_frames"] > 0
    assert meta["pose"]["pose_frames"] == len(npz["times"])


def test_same_frames_give_the_same_npz_bytes():
    hook = PoseTrackHook(PoseTrackConfig())

    class NoOne:
        def setup(self) -> None: ...

        def reset(self) -> None: ...

        def detect(self, bgr, time_s):
            from humannet.annotate.detectors import FrameDetections

            return FrameDetections(time_s=time_s, width=bgr.shape[1], height=bgr.shape[0])

    hook.detector = NoOne()
    outputs = []
    for _ in range(2):
        hook.begin_clip(Clip("c", "v", 0.0, 1.0, 0, 25, 0), 64, 48)
        for k in range(25):
            assert hook.process(k / 25, np.zeros((48, 64, 3), np.uint8))[0][0] == k / 25
        outputs.append(hook.end_clip())
    assert outputs[0].files["pose.npz"] == outputs[1].files["pose.npz"]
    arrays = np.load(io.BytesIO(outputs[0].files["pose.npz"]))
    assert len(arrays["times"]) == 10 and np.isnan(arrays["body_world"]).all() and not arrays["hand_score"].any()
    assert outputs[0].metadata["pose"] == {"pose_frames": 10, "body_frames": 0, "hand_frames": 0, "two_hand_frames": 0}
