"""Human-like keypoints with a known answer: the humanoid's own forward kinematics at chosen joint angles."""

from __future__ import annotations

import numpy as np

from humannet.annotate.motion3d import BODY_BONES, HAND_BONES
from humannet.annotate.retarget import KEYPOINTS, Humanoid

FACE = range(1, 11)
BODY_HAND_POINTS = {17: 15, 19: 15, 21: 15, 18: 16, 20: 16, 22: 16, 29: 27, 30: 28}  # not tracked: put at their joint


def random_pose(humanoid: Humanoid, rng: np.random.Generator, amplitude: float = 0.5) -> np.ndarray:
    """A configuration within the joint limits, `amplitude` of each range around the rest pose, root 3 m ahead of the
    camera."""
    q = humanoid.rest.copy()
    model = humanoid.model
    for joint in range(1, model.njnt):
        address = model.jnt_qposadr[joint]
        low, high = model.jnt_range[joint]
        q[address] = np.clip(q[address] + rng.uniform(-amplitude, amplitude) * (high - low) / 2, low, high)
    yaw = rng.uniform(-0.6, 0.6)
    turn = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    q[3:7] = quat_mul(turn, humanoid.rest[3:7])
    q[:3] = [rng.uniform(-0.3, 0.3), 3.0, rng.uniform(-0.1, 0.1)]
    return q


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def keypoints_of(sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(33, 3) body and (2, 21, 3) hand keypoints (z-up) from the model's keypoint sites."""
    body = np.zeros((33, 3))
    hands = np.zeros((2, 21, 3))
    for number, keypoint in enumerate(KEYPOINTS):
        if keypoint.body is not None and keypoint.body < 33:
            body[keypoint.body] = sites[number]
        elif keypoint.hand is not None:
            hands[keypoint.hand] = sites[number]
    for index in FACE:
        body[index] = body[0]
    for index, joint in BODY_HAND_POINTS.items():
        body[index] = body[joint]
    for side, wrist in ((0, 15), (1, 16)):
        hand = hands[
            side
        ]  # tracked: 0 wrist, 4 thumb tip, 5 index base, 12 middle tip, 17 little base; the rest in between
        hand[0] = body[wrist]
        reach = hand[12] - (hand[5] + hand[17]) / 2
        hand[9] = (hand[5] + hand[17]) / 2
        hand[13] = (hand[9] + hand[17]) / 2
        for k in (1, 2, 3):
            hand[k] = hand[0] + (hand[4] - hand[0]) * k / 4
            hand[9 + k] = hand[9] + reach * k / 3 if k < 3 else hand[12]
            for base in (5, 13, 17):
                hand[base + k] = hand[base] + reach * k / 3
    return body, hands


def pose3d_from_configurations(
    humanoid: Humanoid, configurations: np.ndarray, fps: float = 10.0
) -> dict[str, np.ndarray]:
    """A pose3d.npz dict whose keypoints are the model's sites at the given configurations (all seen)."""
    count = len(configurations)
    body = np.zeros((count, 33, 3))
    hands = np.zeros((count, 2, 21, 3))
    for row, q in enumerate(configurations):
        body[row], hands[row] = keypoints_of(humanoid.sites(q))
    lengths = np.array([np.median(np.linalg.norm(body[:, c] - mid(body, p), axis=-1)) for p, c in BODY_BONES])
    return {
        "times": np.arange(count) / fps,
        "body": body.astype(np.float32),
        "body_visible": np.ones((count, 33), bool),
        "body_valid": np.ones(count, bool),
        "full_body_valid": np.ones(count, bool),
        "root_pos": ((body[:, 23] + body[:, 24]) / 2).astype(np.float32),
        "body_bones": np.array(BODY_BONES, dtype=np.int16),
        "body_bone_lengths": lengths.astype(np.float32),
        "hands": hands.astype(np.float32),
        "hand_valid": np.ones((count, 2), bool),
        "hand_attached": np.ones((count, 2), bool),
        "hand_bones": np.array(HAND_BONES, dtype=np.int16),
    }


def mid(body: np.ndarray, index: int) -> np.ndarray:
    if index == 33:
        return (body[:, 23] + body[:, 24]) / 2
    if index == 34:
        return (body[:, 11] + body[:, 12]) / 2
    return body[:, index]


def to_camera(points: np.ndarray) -> np.ndarray:
    """z-up (x right, y forward, z up) -> camera axes (x right, y down, z forward): the inverse of motion3d.to_zup."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def project(camera: np.ndarray, size: tuple[int, int], focal: float) -> np.ndarray:
    f = focal * max(size)
    return np.stack(
        [
            (camera[..., 0] / camera[..., 2] * f + size[0] / 2) / size[0],
            (camera[..., 1] / camera[..., 2] * f + size[1] / 2) / size[1],
        ],
        axis=-1,
    )


def pose_npz(
    body: np.ndarray, hands: np.ndarray, size: tuple[int, int] = (640, 360), focal: float = 1.0, fps: float = 10.0
) -> dict[str, np.ndarray]:
    """The pose.npz arrays MediaPipe would give for these z-up keypoints seen by a level camera at the origin (all
    visible)."""
    count = len(body)
    camera = to_camera(body)
    pelvis = (camera[:, 23] + camera[:, 24]) / 2
    ones = np.ones((count, 33, 1))
    hand_camera = to_camera(hands)
    hand_image = project(hand_camera, size, focal)
    return {
        "format_version": np.array(1, dtype=np.int32),
        "frame_size": np.array(size, dtype=np.int32),
        "times": np.arange(count) / fps,
        "body_image": np.concatenate(
            [project(camera, size, focal), camera[..., 2:] - pelvis[:, None, 2:], ones], axis=-1
        ).astype(np.float32),
        "body_world": np.concatenate([camera - pelvis[:, None], ones], axis=-1).astype(np.float32),
        "hand_image": np.concatenate([hand_image, hand_camera[..., 2:] - hand_camera[..., :1, 2:]], axis=-1).astype(
            np.float32
        ),
        "hand_world": (hand_camera - hand_camera.mean(axis=2, keepdims=True)).astype(np.float32),
        "hand_score": np.full((count, 2), 0.9, dtype=np.float32),
    }


def smooth_motion(humanoid: Humanoid, rng: np.random.Generator, count: int = 30, amplitude: float = 0.3) -> np.ndarray:
    """`count` configurations moving smoothly between two random poses."""
    start, end = random_pose(humanoid, rng, amplitude), random_pose(humanoid, rng, amplitude)
    blend = (1 - np.cos(np.linspace(0, np.pi, count))) / 2
    configurations = start + (end - start) * blend[:, None]
    configurations[:, 3:7] /= np.linalg.norm(configurations[:, 3:7], axis=1, keepdims=True)
    return configurations


def keypoint_tracks(humanoid: Humanoid, configurations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 33, 3) body and (T, 2, 21, 3) hand keypoints (z-up) of the model at each configuration."""
    pairs = [keypoints_of(humanoid.sites(q)) for q in configurations]
    return np.array([b for b, _ in pairs]), np.array([h for _, h in pairs])
