"""Retargeting onto the humanoid: known answers from its own kinematics, other proportions, limits, smoothness,
robot-ready."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from humannet.annotate.clip_annotator import StagedClip
from humannet.annotate.motion3d import Motion3DAnnotator, Motion3DConfig, lift, load_npz
from humannet.annotate.pose_tracks import PoseTrackConfig, PoseTrackHook, npz_bytes
from humannet.annotate.retarget import INDEX, RetargetAnnotator, RetargetConfig, Retargeter
from humannet.annotate.retarget_preview import PANEL, ClipFiles, write_preview
from humannet.config import Config
from humannet.media.cut import MaterializeConfig
from humannet.media.frames import DecodeConfig
from humannet.media.probe import probe_video
from humannet.process.materialize import MaterializeStage
from humannet.records import Clip, Video
from humannet.stages import stamps

from .synthetic_motion import keypoint_tracks, pose3d_from_configurations, pose_npz, random_pose, smooth_motion


@pytest.fixture(scope="module")
def retargeter() -> Retargeter:
    return Retargeter(RetargetConfig())


def joint(retargeter: Retargeter, name: str) -> int:
    return retargeter.humanoid.joint_names.index(name)


def test_recovers_the_models_own_poses():
    # unrelated poses frame after frame: no pull towards the previous one
    retargeter = Retargeter(RetargetConfig(continuity_cost=0.0))
    humanoid = retargeter.humanoid
    configurations = np.array([random_pose(humanoid, np.random.default_rng(seed)) for seed in range(12)])
    result = retargeter.retarget(pose3d_from_configurations(humanoid, configurations))
    assert result.coverage == 1.0 and result.error_mm < 5.0
    assert np.nanmax(result.arrays["error_mm"]) < 10.0
    solved = result.arrays["joint_pos"]
    for name in ("lradiusrx", "rradiusrx", "ltibiarx", "rtibiarx"):  # elbows and knees: fixed by the keypoints alone
        truth = configurations[:, 7 + joint(retargeter, name)]
        assert np.degrees(np.abs(solved[:, joint(retargeter, name)] - truth)).max() < 8.0, name
    # Targets use the rest-pose pelvis-to-shoulder length, which a bent spine shortens:
    # the sites match the truth to a few cm.
    truth_sites = np.array([humanoid.sites(q) for q in configurations])
    assert np.linalg.norm(result.arrays["sites"] - truth_sites, axis=-1).mean() < 0.03


def test_other_proportions_are_absorbed_by_the_targets(retargeter):
    """A longer-limbed, bigger person: targets use the robot's limb lengths, so the error stays small."""
    humanoid = retargeter.humanoid
    configurations = smooth_motion(humanoid, np.random.default_rng(7), count=20)
    pose3d = pose3d_from_configurations(humanoid, configurations)
    pelvis = pose3d["root_pos"][:, None]
    stretch = np.array([1.1, 1.1, 1.3])  # taller than wide
    pose3d["body"] = (pelvis + (pose3d["body"] - pelvis) * stretch).astype(np.float32)
    pose3d["hands"] = (pelvis[:, None] + (pose3d["hands"] - pelvis[:, None]) * stretch).astype(np.float32)
    pose3d["body_bone_lengths"] = pose3d["body_bone_lengths"] * 1.25
    result = retargeter.retarget(pose3d)
    assert result.error_mm < 10.0
    assert float(result.arrays["scale"]) == pytest.approx(0.8, abs=0.01)


def test_joint_limits_hold_and_smooth_motion_gives_smooth_joints(retargeter):
    humanoid = retargeter.humanoid
    model = humanoid.model
    configurations = smooth_motion(humanoid, np.random.default_rng(11), count=30, amplitude=0.6)
    result = retargeter.retarget(pose3d_from_configurations(humanoid, configurations))
    solved = result.arrays["joint_pos"]
    ranges = np.array([model.jnt_range[model.joint(name).id] for name in humanoid.joint_names])
    assert (solved >= ranges[:, 0] - 1e-3).all() and (solved <= ranges[:, 1] + 1e-3).all()
    steps = np.abs(np.diff(solved, axis=0))
    truth_steps = np.abs(np.diff(configurations[:, 7:], axis=0))
    assert np.degrees(steps.max()) < 25.0 and np.median(steps) <= np.median(truth_steps) + 0.01
    assert result.error_mm < 5.0


def test_unseen_keypoints_are_not_targets_and_do_not_count(retargeter):
    humanoid = retargeter.humanoid
    pose3d = pose3d_from_configurations(humanoid, smooth_motion(humanoid, np.random.default_rng(2), count=10))
    pose3d["body"][:, 27] += np.array([0.5, 0.0, 0.0], np.float32)  # a wrong left ankle, but marked unseen
    pose3d["body_visible"][:, 27] = False
    pose3d["full_body_valid"][:] = False
    pose3d["full_body_valid"][:4] = True
    result = retargeter.retarget(pose3d)
    assert not result.arrays["keypoint_seen"][:, INDEX["left_ankle"]].any()
    assert result.coverage == pytest.approx(0.4) and result.error_mm < 5.0


def staged_with(pose3d: dict[str, np.ndarray]) -> StagedClip:
    clip = Clip("v_0000000_0000010", "v", 0.0, 1.0, 0, 10, 0)
    return StagedClip(
        clip=clip,
        video=Video(uri="v.mp4"),
        mp4=None,
        width=640,
        height=360,
        fps=10.0,
        files={"pose3d.npz": npz_bytes(pose3d)},
    )


def test_robot_ready_rule_uses_error_and_coverage(retargeter):
    humanoid = retargeter.humanoid
    pose3d = lift(
        pose_npz(*keypoint_tracks(humanoid, smooth_motion(humanoid, np.random.default_rng(5), count=20))),
        Motion3DConfig(),
    ).arrays
    annotator = RetargetAnnotator(RetargetConfig())
    annotator.retargeter = retargeter
    ready = annotator.annotate(staged_with(pose3d))
    assert ready.labels == {"robot_ready": True} and ready.scores["retarget_error_mm"] < 15.0 and ready.errors == []
    assert set(ready.files) == {"retarget.npz"}
    strict = RetargetAnnotator(RetargetConfig(max_error_mm=0.01))
    strict.retargeter = retargeter
    assert strict.annotate(staged_with(pose3d)).labels == {"robot_ready": False}
    sparse = {**pose3d, "full_body_valid": np.arange(20) < 10}  # 50 % coverage
    assert annotator.annotate(staged_with(sparse)).labels == {"robot_ready": False}


def test_hands_only_clips_are_not_retargeted_and_say_why(retargeter):
    humanoid = retargeter.humanoid
    body, hands = keypoint_tracks(humanoid, smooth_motion(humanoid, np.random.default_rng(6), count=10))
    pose = pose_npz(body, hands)
    pose["body_world"][:] = np.nan
    pose["body_image"][:] = np.nan
    annotator = RetargetAnnotator(RetargetConfig())
    annotator.retargeter = retargeter
    result = annotator.annotate(staged_with(lift(pose, Motion3DConfig()).arrays))
    assert result.labels == {"robot_ready": False} and np.isnan(result.scores["retarget_error_mm"])
    assert result.errors == ["nothing to retarget: no frame with a valid 3D body (hands only: annotated in pose3d.npz)"]
    arrays = np.load(io.BytesIO(result.files["retarget.npz"]))
    assert not arrays["valid"].any() and np.isnan(arrays["joint_pos"]).all() and arrays["joint_pos"].shape == (10, 56)


def test_missing_3d_motion_is_an_error_not_a_crash():
    annotator = RetargetAnnotator(RetargetConfig())
    staged = staged_with({})
    staged.files = {}
    result = annotator.annotate(staged)
    assert result.labels == {"robot_ready": False} and "no 3D motion" in result.errors[0]


def materialise(source: Path, root: Path, viewpoint: str, frames: int = 90) -> tuple[dict, Path, Clip]:
    """Encode the first `frames` frames of `source` as one clip with pose tracks, 3D motion and retargeting; its staged
    meta."""
    probe = probe_video(str(source))
    end = min(probe.frame_count or frames, frames)
    video = Video(uri=str(source), video_id="v", probe=probe)
    clip = Clip(f"v_0000000_{end:07d}", "v", 0.0, end / probe.fps, 0, end, 0)
    clip.labels["viewpoint"] = viewpoint
    video.clips = [clip]
    annotators = [Motion3DAnnotator(Motion3DConfig()), RetargetAnnotator(RetargetConfig())]
    pose = PoseTrackConfig(pose_fps=10)
    stage = MaterializeStage(
        MaterializeConfig(max_short_side=360),
        DecodeConfig(),
        str(root),
        hooks=[PoseTrackHook(pose)],
        annotators=annotators,
        annotator_stamps=stamps(annotators, Config()),
    )
    stage.setup()
    stage.process(video)
    folder = root / "v"
    return json.loads((folder / f"{clip.clip_id}.meta.json").read_text()), folder, clip


def test_a_real_clip_end_to_end_through_materialisation(tmp_path, examples_dir):
    """The bundled football clip: keypoint tracks -> 3D motion -> retargeted humanoid, staged beside the mp4; then its
    preview."""
    meta, folder, clip = materialise(examples_dir / "exo_sam2_football_juggling.mp4", tmp_path, "exo")
    assert {name: version.split(":")[0] for name, version in meta["annotators"].items()} == {
        "motion3d": "1",
        "retarget": "1",
    }
    scores, labels = meta["index"]["scores"], meta["index"]["labels"]
    frames = meta["motion3d"]["frames"]
    assert frames >= 20 and scores["pose3d_frames"] >= 0.8 * frames and scores["valid_frame_coverage"] > 0.6
    assert (
        scores["retarget_error_mm"] < 15.0 and labels["robot_ready"] is True and meta["retarget"]["robot_ready"] is True
    )
    motion = np.load(io.BytesIO((folder / f"{clip.clip_id}.pose3d.npz").read_bytes()))
    retarget = np.load(io.BytesIO((folder / f"{clip.clip_id}.retarget.npz").read_bytes()))
    assert str(motion["frame"]) == "camera_level_zup" and motion["body"].shape == (frames, 33, 3)
    valid = retarget["valid"]
    assert valid.sum() == round(scores["valid_frame_coverage"] * frames)
    assert (
        np.isfinite(retarget["joint_pos"][valid]).all()
        and retarget["joint_pos"].shape[1] == len(retarget["joint_names"]) == 56
    )
    assert np.allclose(np.linalg.norm(retarget["root_quat"][valid], axis=1), 1.0, atol=1e-4)
    # Plausible: the person stands upright, head above pelvis above ankles, a few metres from the camera.
    sites = retarget["sites"][valid]
    names = list(retarget["keypoint_names"])
    assert (sites[:, names.index("nose"), 2] > sites[:, names.index("pelvis"), 2]).all()
    assert (sites[:, names.index("pelvis"), 2] > sites[:, names.index("left_ankle"), 2]).mean() > 0.9
    assert 1.0 < np.median(motion["root_pos"][motion["body_valid"], 1]) < 10.0

    def staged(suffix: str) -> bytes:
        return (folder / f"{clip.clip_id}.{suffix}").read_bytes()

    files = ClipFiles(clip.clip_id, staged("mp4"), load_npz(staged("pose.npz")), load_npz(staged("retarget.npz")))
    out = tmp_path / "preview.png"
    assert write_preview(files, out, stills=2) == 2
    image = cv2.imread(str(out))
    # two rows, humanoid drawn
    assert image.shape[0] == 2 * PANEL and image.shape[1] > 2 * PANEL and image[:, -PANEL:].std() > 5


@pytest.mark.shared
def test_an_ego_clip_keeps_its_hands_and_invents_no_body(tmp_path, shared_videos):
    meta, folder, clip = materialise(shared_videos / "ego_epic_pan_washing.mp4", tmp_path, "ego", frames=120)
    scores, labels = meta["index"]["scores"], meta["index"]["labels"]
    assert scores["pose3d_frames"] == 0 and scores["hand3d_frames"] >= 0.5 * meta["motion3d"]["frames"]
    assert labels["robot_ready"] is False and meta["retarget"]["error_mm"] is None
    motion = np.load(io.BytesIO((folder / f"{clip.clip_id}.pose3d.npz").read_bytes()))
    hands = motion["hands"][motion["hand_valid"]]
    assert np.isfinite(hands).all() and (hands[..., 1] > 0.1).all()  # in front of the camera


def test_a_degenerate_body_is_skipped_with_a_reason(retargeter):
    humanoid = retargeter.humanoid
    pose3d = pose3d_from_configurations(humanoid, smooth_motion(humanoid, np.random.default_rng(8), count=6))
    pose3d["body"][2] = pose3d["body"][2, 23]  # every keypoint on the left hip
    result = retargeter.retarget(pose3d)
    assert not result.arrays["solved"][2] and result.arrays["solved"][[0, 1, 3, 4, 5]].all()
    assert result.notes == ["1 frames with a degenerate body (no hip or spine direction) not solved"]
