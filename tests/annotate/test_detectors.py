"""The MediaPipe backend: its output records, with the solutions stubbed where a rare model output must be forced."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from humannet.annotate.detectors import MediaPipeDetector


def landmarks(n: int, x: float) -> SimpleNamespace:
    return SimpleNamespace(landmark=[SimpleNamespace(x=x, y=0.5, z=0.0, visibility=1.0) for _ in range(n)])


def hands_result(scores: list[float]) -> SimpleNamespace:
    return SimpleNamespace(
        multi_hand_landmarks=[landmarks(21, 0.1 * i) for i in range(len(scores))],
        multi_hand_world_landmarks=[landmarks(21, 0.0) for _ in scores],
        multi_handedness=[SimpleNamespace(classification=[SimpleNamespace(label="Left", score=s)]) for s in scores],
    )


class Stub:
    def __init__(self, result: SimpleNamespace) -> None:
        self.result = result

    def process(self, rgb: np.ndarray) -> SimpleNamespace:
        return self.result


def test_video_mode_extra_hands_are_capped_to_the_most_confident():
    detector = MediaPipeDetector(max_hands=2)
    detector._pose = Stub(SimpleNamespace(pose_landmarks=None))
    detector._hands = Stub(hands_result([0.6, 0.95, 0.8]))  # tracking once returned three hands with max_num_hands=2
    detector._face = Stub(SimpleNamespace(detections=None))
    result = detector.detect(np.zeros((48, 64, 3), np.uint8), 1.5)
    assert [h.score for h in result.hands] == [0.95, 0.8]
    assert result.hands[0].handedness == "right" and result.hands[0].image.shape == (21, 3)
    assert result.body is None and not result.faces and result.has_person


@pytest.fixture(scope="module")
def detector() -> MediaPipeDetector:
    mp_detector = MediaPipeDetector()
    mp_detector.setup()
    return mp_detector


@pytest.mark.parametrize("shape", [(64, 96, 3), (32, 640, 3), (640, 24, 3), (2, 2, 3)])
def test_odd_frame_shapes_give_empty_detections(detector, shape):
    detector.reset()
    result = detector.detect(np.full(shape, 127, np.uint8), 0.0)
    assert (result.width, result.height) == (shape[1], shape[0])
    assert not result.has_person


def test_only_mediapipe_info_and_warning_lines_count_as_noise():
    from humannet.annotate.detectors import _NATIVE_NOISE

    noise = [
        b"W0000 00:00:1795640894.155988   23413 inference_feedback_manager.cc:114] Feedback manager requires a model",
        b"I0000 00:00:1795640894.1 gl_context.cc:357] GL version",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        b"Created TensorFlow Lite XNNPACK delegate for CPU.",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ]
    kept = [
        b"E0000 00:00:1.0 calculator_graph.cc:887] INVALID_ARGUMENT",
        b"Traceback (most recent call last):",
        b"Warning: something",
    ]
    assert all(_NATIVE_NOISE.match(line) for line in noise)
    assert not any(_NATIVE_NOISE.match(line) for line in kept)
