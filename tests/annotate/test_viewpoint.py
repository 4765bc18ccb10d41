"""Viewpoint: hand-made ego and exo layouts, camera motion on moving pictures, and the shared clips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from humannet.annotate.camera_motion import CameraMotionAccumulator, CameraMotionConfig, CameraMotionStage
from humannet.annotate.viewpoint import ViewpointConfig, ViewpointStage, decide, forearm_reaches_bottom, measure_cues
from humannet.records import Clip, Frame, Scene, Status, Video
from tests.annotate.synthetic_people import FACE, frames, hand, standing_body

CONFIG = ViewpointConfig()


def ego_frame(i, frame) -> None:
    """Own hands seen from the eyes: wrists low, forearms running off the bottom edge, left hand left."""
    frame.hands = [
        hand((0.3, 0.85 + 0.01 * (i % 2)), (0.1, -1.0), 0.12, "left"),
        hand((0.7, 0.8), (-0.1, -1.0), 0.12, "right"),
    ]


def overhead_frame(i, frame) -> None:
    """A camera above a table facing the person: hands come in from the top edge."""
    frame.hands = [hand((0.4, 0.15), (0.0, 1.0), 0.1, "right"), hand((0.75, 0.2), (-0.3, 1.0), 0.1, "left")]


def frontal_frame(i, frame) -> None:
    """A person facing the camera, hands raised in front of the chest (mirrored sides), face in view."""
    frame.body = standing_body(wrists_y=0.4)
    frame.faces = [FACE]
    frame.hands = [hand((0.6, 0.4), (0.0, -1.0), 0.04, "left"), hand((0.4, 0.4), (0.0, -1.0), 0.04, "right")]


def test_forearm_reaching_in_from_the_bottom() -> None:
    assert forearm_reaches_bottom(hand((0.5, 0.85), (0.0, -1.0), 0.1, "left"), 640, 360, CONFIG.reach_palms)
    # Same pose high in the frame: the elbow would be inside the frame.
    assert not forearm_reaches_bottom(hand((0.5, 0.2), (0.0, -1.0), 0.05, "left"), 640, 360, CONFIG.reach_palms)
    assert not forearm_reaches_bottom(hand((0.5, 0.15), (0.0, 1.0), 0.1, "left"), 640, 360, CONFIG.reach_palms)
    # Forearm running off the lower half of a side edge counts; the upper half does not.
    assert forearm_reaches_bottom(hand((0.9, 0.7), (-1.0, -0.3), 0.1, "right"), 640, 360, CONFIG.reach_palms)
    assert not forearm_reaches_bottom(hand((0.9, 0.2), (-1.0, 0.3), 0.1, "right"), 640, 360, CONFIG.reach_palms)


def test_ego_layout_with_a_moving_camera_is_ego() -> None:
    label, confidence, _ = decide(measure_cues(frames(10, ego_frame), camera_shift=0.05, config=CONFIG), CONFIG)
    assert (label, confidence > 0.8) == ("ego", True)


@pytest.mark.parametrize("layout", [overhead_frame, frontal_frame])
def test_exo_layouts_are_exo(layout) -> None:
    label, confidence, _ = decide(measure_cues(frames(10, layout), camera_shift=0.001, config=CONFIG), CONFIG)
    assert (label, confidence > 0.8) == ("exo", True)


def test_ego_hands_with_a_face_in_every_frame_are_not_ego() -> None:
    def with_face(i, frame) -> None:
        ego_frame(i, frame)
        frame.faces = [FACE]

    label, _, _ = decide(measure_cues(frames(10, with_face), camera_shift=0.05, config=CONFIG), CONFIG)
    assert label != "ego"


def test_no_people_is_unknown_with_zero_confidence() -> None:
    label, confidence, _ = decide(measure_cues(frames(10, lambda i, f: None), camera_shift=0.0, config=CONFIG), CONFIG)
    assert (label, confidence) == ("unknown", 0.0)


def test_stage_labels_kept_clips_from_their_shot_and_skips_dropped_ones() -> None:
    video = Video(uri="synthetic.mp4", video_id="v")
    video.scenes = [Scene(0, 0, 200, 0.0, 8.0), Scene(1, 200, 400, 8.0, 16.0)]
    detections = frames(16, ego_frame) + [_shifted(f, 8.0) for f in frames(16, overhead_frame)]
    video.frame_results = {"humans": detections}
    video.clips = [
        Clip("a", "v", 0.0, 4.0, 0, 100, 0),
        Clip("b", "v", 4.0, 8.0, 100, 200, 0),
        Clip("c", "v", 8.0, 16.0, 200, 400, 1),
        Clip("d", "v", 8.0, 10.0, 200, 250, 1, status=Status.DROPPED),
    ]
    ViewpointStage().process(video)
    assert [c.labels.get("viewpoint") for c in video.clips] == ["ego", "ego", "exo", None]
    assert math.isnan(video.clips[0].scores["camera_shift"])  # no camera_motion result: cue left out
    assert 0 <= video.clips[2].scores["viewpoint_confidence"] <= 1


def _shifted(frame, seconds: float):
    frame.time_s += seconds
    return frame


def _textured_frames(shift_px_per_frame: float, count: int = 30, fps: float = 25.0) -> list[Frame]:
    rng = np.random.default_rng(0)
    texture = (rng.random((120, 400)) * 255).astype(np.uint8)
    texture = np.repeat(np.repeat(texture, 2, axis=0), 2, axis=1)[:, :, None].repeat(3, axis=2)
    result = []
    for i in range(count):
        x = int(round(40 + i * shift_px_per_frame))
        result.append(Frame(index=i, time_s=i / fps, small=np.ascontiguousarray(texture[20:110, x : x + 160])))
    return result


def test_camera_motion_measures_a_pan_and_a_still_camera() -> None:
    for shift, expected in ((0.0, 0.0), (2.0, 2.0 * 25 / 160)):
        accumulator = CameraMotionStage(CameraMotionConfig()).accumulator(Video(uri="x"))
        for frame in _textured_frames(shift):
            accumulator.add(frame)
        motion = accumulator.finish()
        assert len(motion.times) >= 8
        assert motion.median_shift(0, 10) == pytest.approx(expected, abs=0.02)


def test_camera_motion_of_a_blank_picture_is_unmeasured() -> None:
    accumulator = CameraMotionAccumulator(CameraMotionConfig())
    for i in range(10):
        accumulator.add(Frame(index=i, time_s=i / 10, small=np.zeros((90, 160, 3), np.uint8)))
    assert math.isnan(accumulator.finish().median_shift(0, 10))


# --- shared clips -------------------------------------------------------------------------

_CACHE: dict[str, tuple] = {}
_DETECTOR: list = []  # one MediaPipe detector for the session, set up on first use


def _analyse(path) -> tuple:
    """Detections at the analysis rate and camera motion of one video (cached for the session)."""
    if path.name not in _CACHE:
        from humannet.annotate.detectors import MediaPipeDetector
        from humannet.media.frames import DecodeConfig, iter_frames
        from humannet.media.probe import probe_video

        if not _DETECTOR:
            _DETECTOR.append(MediaPipeDetector())
            _DETECTOR[0].setup()
        detector = _DETECTOR[0]
        detector.reset()
        camera = CameraMotionAccumulator(CameraMotionConfig())
        detections, end = [], 0.0
        for frame in iter_frames(str(path), probe_video(str(path)), DecodeConfig()):
            camera.add(frame)
            end = frame.time_s
            if frame.analysis is not None:
                detections.append(detector.detect(frame.analysis, frame.time_s))
        _CACHE[path.name] = (detections, camera.finish(), end)
    return _CACHE[path.name]


def _viewpoints(path) -> list[str]:
    """Label ~5 s clips of a single-shot video the way the pipeline would."""
    detections, camera, end = _analyse(path)
    video = Video(uri=path.name, video_id="v")
    video.scenes = [Scene(0, 0, 1, 0.0, end + 1e-3)]
    pieces = max(1, round(end / 5.0))
    video.clips = [Clip(str(i), "v", i * end / pieces, (i + 1) * end / pieces + 1e-3, 0, 1, 0) for i in range(pieces)]
    video.frame_results = {"humans": detections, CameraMotionStage.name: camera}
    ViewpointStage().process(video)
    return [c.labels["viewpoint"] for c in video.clips]


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ego_epic_cucumber_chopping.mp4", "ego"),
        ("ego_epic_pan_washing.mp4", "ego"),
        ("ego_epic_stove_pot.mp4", "ego"),
        ("exo_sam2_coffee_pouring.mp4", "exo"),
        ("exo_sam2_blocks_overhead_hands.mp4", "exo"),
        ("exo_sam2_football_juggling.mp4", "exo"),
        ("exo_sam2_kids_jumping_bedroom.mp4", "exo"),
        ("exo_sports2d_walk_parkour.mp4", "exo"),
        ("exo_mmaction2_arm_wrestling_blur.mp4", "exo"),
        ("exo_mmaction2_pool_cleaning.mp4", "exo"),
        ("exo_mmaction2_pool_cleaning_part0.mp4", "exo"),
        ("exo_intel_asl_sign_again.mkv", "exo"),
        ("exo_pyfeat_face_closeup.mp4", "exo"),
    ],
)
def test_shared_clip_viewpoints(shared_videos, name, expected) -> None:
    assert set(_viewpoints(shared_videos / name)) == {expected}
