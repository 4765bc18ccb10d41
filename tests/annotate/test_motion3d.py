"""3D motion from keypoint tracks: known answers from the humanoid's own kinematics, seen through a synthetic camera."""

from __future__ import annotations

import numpy as np
import pytest

from humannet.annotate.motion3d import CORE, Motion3DConfig, lift, runs, to_zup
from humannet.annotate.retarget import Humanoid

from .synthetic_motion import keypoint_tracks, pose_npz, smooth_motion


@pytest.fixture(scope="module")
def humanoid() -> Humanoid:
    return Humanoid()


@pytest.fixture(scope="module")
def walk(humanoid):
    """40 frames of smooth motion: z-up body and hand keypoints and the pose.npz a detector would give."""
    body, hands = keypoint_tracks(humanoid, smooth_motion(humanoid, np.random.default_rng(3), count=40))
    return body, hands, pose_npz(body, hands)


def jitter(points: np.ndarray) -> float:
    """Mean size of the second difference along time (m): what frame-to-frame noise adds."""
    return float(np.nanmean(np.linalg.norm(np.diff(points, n=2, axis=0), axis=-1)))


def test_axes_are_z_up_right_handed():
    camera = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])  # right, up (y down), forward
    assert np.allclose(to_zup(camera), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert np.isclose(np.linalg.det(to_zup(np.eye(3))), 1.0)


def test_clean_tracks_give_back_the_metric_motion_and_its_root(walk):
    body, hands, pose = walk
    motion = lift(pose, Motion3DConfig())
    arrays = motion.arrays
    assert motion.notes == []
    assert motion.summary() == {"pose3d_frames": 40.0, "hand3d_frames": 40.0, "valid_frame_coverage": 1.0}
    pelvis = (body[:, 23] + body[:, 24]) / 2
    assert np.abs(arrays["root_pos"] - pelvis).max() < 0.01  # the perspective fit recovers where the person stands
    core = list(CORE)
    assert np.nanmean(np.linalg.norm(arrays["body"][:, core] - body[:, core], axis=-1)) < 0.005
    assert arrays["hand_attached"].all()
    # hands hang at the body's wrists
    assert np.abs(arrays["hands"][:, :, 0] - arrays["body"][:, [15, 16]]).max() < 1e-5
    assert np.nanmean(np.linalg.norm(arrays["hands"] - hands, axis=-1)) < 0.01


def test_bones_keep_their_clip_length(walk):
    body, hands, pose = walk
    noisy = {**pose, "body_world": pose["body_world"].copy()}
    rng = np.random.default_rng(4)
    noisy["body_world"][:, :, :3] *= rng.uniform(0.85, 1.15, size=(40, 1, 1))  # the detector's size estimate wobbles
    arrays = lift(noisy, Motion3DConfig(smoothing_window_s=0)).arrays
    for number, (parent, child) in enumerate(arrays["body_bones"]):
        if parent >= 33 or child in (0,) or number >= 22:
            continue
        lengths = np.linalg.norm(arrays["body"][:, child] - arrays["body"][:, parent], axis=-1)
        assert np.allclose(lengths, arrays["body_bone_lengths"][number], atol=1e-5)
    thigh = np.linalg.norm(body[:, 25] - body[:, 23], axis=-1).mean()
    assert (
        abs(arrays["body_bone_lengths"][list(map(tuple, arrays["body_bones"].tolist())).index((23, 25))] - thigh) < 0.03
    )


def test_smoothing_reduces_jitter(walk):
    body, hands, pose = walk
    noisy = {**pose, "body_world": pose["body_world"].copy()}
    noisy["body_world"][:, :, :3] += np.random.default_rng(5).normal(0, 0.01, size=(40, 33, 3))
    raw = lift(noisy, Motion3DConfig(smoothing_window_s=0)).arrays["body"]
    smoothed = lift(noisy, Motion3DConfig(smoothing_window_s=0.7)).arrays["body"]
    assert jitter(smoothed) < 0.5 * jitter(raw)
    assert np.nanmean(np.linalg.norm(smoothed - body, axis=-1)) < np.nanmean(np.linalg.norm(raw - body, axis=-1))


def test_a_one_frame_outlier_is_replaced_and_reported(walk):
    body, hands, pose = walk
    spiky = {**pose, "body_world": pose["body_world"].copy()}
    spiky["body_world"][20, 15, :3] += [0.6, 0.0, 0.0]
    motion = lift(spiky, Motion3DConfig())
    assert any("jittery detections: 1 one-frame keypoint spikes" in note for note in motion.notes)
    assert not motion.arrays["body_visible"][20, 15] and not motion.arrays["full_body_valid"][20]
    assert np.linalg.norm(motion.arrays["body"][20, 15] - body[20, 15]) < 0.05


def test_low_visibility_legs_keep_the_body_but_not_the_full_body(walk):
    body, hands, pose = walk
    hidden = {**pose, "body_world": pose["body_world"].copy()}
    hidden["body_world"][10:30, 25:33, 3] = 0.2
    arrays = lift(hidden, Motion3DConfig()).arrays
    assert arrays["body_valid"].all()
    assert not arrays["full_body_valid"][10:30].any() and arrays["full_body_valid"][:10].all()
    assert lift(hidden, Motion3DConfig()).summary()["valid_frame_coverage"] == pytest.approx(0.5)


def test_a_person_leaving_the_frame_leaves_a_gap_that_smoothing_does_not_cross(walk):
    body, hands, pose = walk
    gone = {name: value.copy() for name, value in pose.items()}
    gone["body_world"][15:25] = np.nan
    gone["body_image"][15:25] = np.nan
    gone["hand_world"][15:25] = np.nan
    gone["hand_score"][15:25] = 0
    shifted = gone["body_world"].copy()
    motion = lift(gone, Motion3DConfig())
    arrays = motion.arrays
    assert runs(~arrays["body_valid"]) == [(15, 25)]
    assert np.isnan(arrays["body"][15:25]).all() and not arrays["hand_valid"][15:25].any()
    assert any("body not valid in 10 of 40 frames" in note for note in motion.notes)
    # The second run jumps by 1 m: frames next to the gap must not be pulled towards it.
    shifted[25:, :, 0] += 1.0
    jumped = lift({**gone, "body_world": shifted}, Motion3DConfig()).arrays
    assert np.abs(jumped["body"][:15] - arrays["body"][:15]).max() < 1e-6


def test_no_valid_frames_and_no_frames_are_reported_not_raised():
    empty = {
        "frame_size": np.array([640, 360], np.int32),
        "times": np.arange(5) / 10,
        "body_image": np.full((5, 33, 4), np.nan, np.float32),
        "body_world": np.full((5, 33, 4), np.nan, np.float32),
        "hand_image": np.full((5, 2, 21, 3), np.nan, np.float32),
        "hand_world": np.full((5, 2, 21, 3), np.nan, np.float32),
        "hand_score": np.zeros((5, 2), np.float32),
    }
    motion = lift(empty, Motion3DConfig())
    assert motion.summary() == {"pose3d_frames": 0.0, "hand3d_frames": 0.0, "valid_frame_coverage": 0.0}
    assert any("no valid 3D frames" in note for note in motion.notes)
    nothing = {name: value[:0] if value.ndim and name != "frame_size" else value for name, value in empty.items()}
    assert lift(nothing, Motion3DConfig()).summary()["valid_frame_coverage"] == 0.0


def test_hands_without_a_body_are_placed_by_their_own_fit(walk):
    body, hands, pose = walk
    ego = {name: value.copy() for name, value in pose.items()}
    ego["body_world"][:] = np.nan
    ego["body_image"][:] = np.nan
    arrays = lift(ego, Motion3DConfig()).arrays
    assert not arrays["body_valid"].any() and arrays["hand_valid"].all() and not arrays["hand_attached"].any()
    assert np.nanmean(np.linalg.norm(arrays["hands"] - hands, axis=-1)) < 0.02


def test_in_ego_clips_the_body_is_not_invented_but_hands_are_kept(walk):
    body, hands, pose = walk
    motion = lift(pose, Motion3DConfig(), ego=True)
    assert motion.summary() == {"pose3d_frames": 0.0, "hand3d_frames": 40.0, "valid_frame_coverage": 0.0}
    assert any("egocentric" in note for note in motion.notes) and np.isnan(motion.arrays["body"]).all()
    assert lift(pose, Motion3DConfig(body_in_ego=True), ego=True).summary()["pose3d_frames"] == 40.0


def test_the_annotator_records_missing_or_tiny_tracks():
    from humannet.annotate.clip_annotator import StagedClip
    from humannet.annotate.motion3d import Motion3DAnnotator
    from humannet.annotate.pose_tracks import npz_bytes
    from humannet.records import Clip, Video

    clip = Clip("v_0000000_0000010", "v", 0.0, 1.0, 0, 10, 0)
    annotator = Motion3DAnnotator(Motion3DConfig())
    missing = annotator.annotate(
        StagedClip(clip=clip, video=Video(uri="v.mp4"), mp4=None, width=64, height=64, fps=10.0)
    )
    assert missing.files == {} and "no keypoint tracks" in missing.errors[0]
    one = {
        "frame_size": np.array([64, 64], np.int32),
        "times": np.zeros(1),
        "body_image": np.full((1, 33, 4), 0.5, np.float32),
        "body_world": np.full((1, 33, 4), 0.1, np.float32),  # every keypoint at one spot: no bone has a direction
        "hand_image": np.full((1, 2, 21, 3), np.nan, np.float32),
        "hand_world": np.full((1, 2, 21, 3), np.nan, np.float32),
        "hand_score": np.zeros((1, 2), np.float32),
    }
    staged = StagedClip(
        clip=clip, video=Video(uri="v.mp4"), mp4=None, width=64, height=64, fps=10.0, files={"pose.npz": npz_bytes(one)}
    )
    result = annotator.annotate(staged)
    assert (
        set(result.scores) == {"pose3d_frames", "hand3d_frames", "valid_frame_coverage"}
        and "pose3d.npz" in result.files
    )
