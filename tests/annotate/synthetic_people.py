"""Hand-made detections: keypoint layouts of ego and exo views, walking and standing people."""

from __future__ import annotations

import numpy as np

from humannet.annotate.detectors import BodyPose, FaceBox, FrameDetections, HandPose


def hand(wrist: tuple[float, float], towards_fingers: tuple[float, float], palm: float, handedness: str) -> HandPose:
    """A hand whose 21 keypoints run from the wrist along `towards_fingers` (normalised coordinates)."""
    direction = np.array(towards_fingers, dtype=np.float32)
    direction /= np.linalg.norm(direction)
    steps = np.linspace(0.0, 2.0, 21, dtype=np.float32)  # keypoint 9 (middle knuckle) sits ~1 palm from the wrist
    steps[9] = 1.0
    points = np.array(wrist, dtype=np.float32) + steps[:, None] * direction * palm
    image = np.concatenate([points, np.zeros((21, 1), np.float32)], axis=1)
    return HandPose(image=image, world=np.zeros((21, 3), np.float32), handedness=handedness, score=0.95)


def standing_body(
    x: float = 0.5, top: float = 0.15, height: float = 0.8, wrists_y: float | None = None, legs_phase: float = 0.0
) -> BodyPose:
    """A frontal upright figure centred at `x`; `legs_phase` swings the ankles (gait)."""
    image = np.zeros((33, 4), np.float32)
    image[:, 3] = 1.0

    def put(index: int, dx: float, fraction: float) -> None:
        image[index, :2] = (x + dx, top + fraction * height)

    for index in range(11):  # face keypoints
        put(index, 0.0, 0.05)
    put(11, 0.08, 0.2)  # shoulders
    put(12, -0.08, 0.2)
    put(13, 0.1, 0.35)  # elbows
    put(14, -0.1, 0.35)
    wrist_fraction = 0.5 if wrists_y is None else (wrists_y - top) / height
    put(15, 0.1, wrist_fraction)
    put(16, -0.1, wrist_fraction)
    for index in range(17, 23):
        put(index, 0.0, wrist_fraction)
    put(23, 0.05, 0.5)  # hips
    put(24, -0.05, 0.5)
    put(25, 0.05 + 0.05 * legs_phase, 0.72)  # knees
    put(26, -0.05 - 0.05 * legs_phase, 0.72)
    for index, side in ((27, 1), (28, -1), (29, 1), (30, -1), (31, 1), (32, -1)):
        put(index, side * (0.05 + 0.1 * legs_phase), 0.95)
    return BodyPose(image=image, world=np.zeros((33, 4), np.float32))


def frames(count: int, make, fps: float = 2.0, width: int = 640, height: int = 360) -> list[FrameDetections]:
    """`count` frames at `fps`; `make(i, frame)` fills each one."""
    result = []
    for i in range(count):
        frame = FrameDetections(time_s=i / fps, width=width, height=height)
        make(i, frame)
        result.append(frame)
    return result


FACE = FaceBox(box=(0.45, 0.12, 0.1, 0.12), score=0.9)
