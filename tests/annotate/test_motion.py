"""Motion categories from hand-made keypoint kinematics: walking, standing, handling, signing."""

from __future__ import annotations

import numpy as np

from humannet.annotate.motion import (
    MotionCategoryStage,
    MotionConfig,
    category_scores,
    load_categories,
    measure_kinematics,
)
from humannet.records import Clip, Status, Video
from tests.annotate.synthetic_people import FACE, frames, hand, standing_body

CONFIG = MotionConfig()


def scores(detections) -> dict[str, float]:
    return category_scores(measure_kinematics(detections, CONFIG), CONFIG)


def walking(i, frame) -> None:
    """Side-on walk: hips cross the frame at ~1.5 torso lengths/s (torso 0.24 of the height), legs swinging."""
    frame.body = standing_body(x=0.2 + 0.1 * i, top=0.1, height=0.8, legs_phase=(-1) ** i)


def standing(i, frame) -> None:
    frame.body = standing_body()
    frame.body.image[:, :2] += np.float32(0.002 * ((-1) ** i))  # detector jitter
    frame.faces = [FACE]


def handling(i, frame) -> None:
    """Ego view: only hands, moving over a worktop."""
    frame.hands = [
        hand((0.3 + 0.05 * (i % 3), 0.8), (0.0, -1.0), 0.1, "left"),
        hand((0.7, 0.8 - 0.04 * (i % 2)), (0.0, -1.0), 0.1, "right"),
    ]


def signing(i, frame) -> None:
    """Standing still, face in view, hands moving at chest height and above."""
    frame.body = standing_body(wrists_y=0.25 + 0.05 * (i % 2))
    frame.faces = [FACE]
    y = 0.27 + 0.05 * (i % 2)
    frame.hands = [
        hand((0.6 + 0.04 * (i % 3), y), (0.0, -1.0), 0.04, "left"),
        hand((0.4, y), (0.0, -1.0), 0.04, "right"),
    ]


def jumping(i, frame) -> None:
    frame.body = standing_body(top=0.1 + 0.15 * (i % 2), legs_phase=(i % 2))
    frame.faces = [FACE]


def test_label_set_comes_from_the_data_file() -> None:
    categories = load_categories()
    assert {"locomotion", "whole_body", "manipulation", "gesture", "static"} <= set(categories["labels"])
    assert all(entry["group"] in categories["groups"] for entry in categories["labels"].values())
    assert set(MotionCategoryStage().labels) == set(categories["labels"])


def test_walking_is_locomotion() -> None:
    result = scores(frames(10, walking))
    assert result["locomotion"] >= 0.9
    assert result["static"] == 0.0


def test_standing_still_is_static_only() -> None:
    result = scores(frames(10, standing))
    assert result["static"] >= 0.9
    assert max(result[k] for k in ("locomotion", "whole_body", "gesture", "manipulation")) < 0.5


def test_hands_working_without_a_body_is_manipulation() -> None:
    result = scores(frames(10, handling))
    assert result["manipulation"] >= 0.9
    assert result["gesture"] == 0.0


def test_signing_is_gesture_not_manipulation() -> None:
    result = scores(frames(10, signing))
    assert result["gesture"] >= 0.5
    assert result["manipulation"] < 0.5


def test_jumping_is_whole_body() -> None:
    assert scores(frames(10, jumping))["whole_body"] >= 0.9


def test_stage_writes_sorted_labels_and_one_score_per_label() -> None:
    video = Video(uri="synthetic.mp4", video_id="v")
    video.frame_results = {"humans": frames(10, walking) + [f for f in frames(30, standing) if f.time_s >= 5.0]}
    video.clips = [
        Clip("walk", "v", 0.0, 5.0, 0, 125, 0),
        Clip("stand", "v", 5.0, 15.0, 125, 375, 0),
        Clip("gone", "v", 0.0, 5.0, 0, 125, 0, status=Status.DROPPED),
    ]
    stage = MotionCategoryStage()
    stage.process(video)
    walk, stand, gone = video.clips
    assert walk.labels["motion_categories"][0] == "locomotion"
    assert stand.labels["motion_categories"] == ["static"]
    assert set(walk.scores) == {f"motion_{name}" for name in stage.labels}
    assert "motion_categories" not in gone.labels


def test_a_clip_without_people_gets_no_label() -> None:
    video = Video(uri="empty.mp4", video_id="v")
    video.frame_results = {"humans": frames(10, lambda i, f: None)}
    video.clips = [Clip("c", "v", 0.0, 5.0, 0, 125, 0)]
    MotionCategoryStage().process(video)
    assert video.clips[0].labels["motion_categories"] == []
    assert all(value == 0.0 for value in video.clips[0].scores.values())


def test_stage_reads_a_humans_result_that_carries_detections() -> None:
    class Carrier:  # the shape of process/humans.py's HumanFrames
        def __init__(self, detections) -> None:
            self.detections = detections

    video = Video(uri="synthetic.mp4", video_id="v")
    video.frame_results = {"humans": Carrier(frames(10, walking))}
    video.clips = [Clip("walk", "v", 0.0, 5.0, 0, 125, 0)]
    MotionCategoryStage().process(video)
    assert video.clips[0].labels["motion_categories"][0] == "locomotion"
