"""Synthetic egocentric videos with a known camera path, for measuring visual odometry.

A room of textured walls, floor, ceiling and a few boxes is ray-cast in numpy (no GPU, no
OpenGL) with a pinhole camera at a given horizontal field of view. Camera paths are smooth
functions of time: a forward walk with look-around and head bob, a sideways walk, a pure rotation about a fixed point,
and a flat-colour (textureless) picture. Options: motion blur (sub-frame samples averaged over
the exposure) and a skin-coloured "hand" occluder that moves on its own in the lower half.

Conventions are OpenCV's: camera x right, y down, z forward; the world uses the same axes
(y down, so the floor is at positive y). Poses are camera-to-world (`R_wc`, centre `c`).
Used by `benchmarks/camera_trajectory.py` and `tests/annotate/test_camera_trajectory.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
from scipy.spatial.transform import Rotation

ROOM = ((-4.0, -1.4, -4.5), (4.0, 1.6, 4.5))  # x, y (down), z; the camera walks at y = 0
BOXES = (  # furniture: (low corner, high corner)
    ((-3.8, 0.6, 1.5), (-2.2, 1.6, 3.5)),
    ((1.2, 0.8, 2.6), (2.6, 1.6, 3.4)),
    ((2.8, -0.4, -1.0), (3.9, 1.6, 0.6)),
    ((-1.0, 0.9, -3.9), (1.0, 1.6, -3.0)),
    ((-0.6, 0.7, 3.6), (0.4, 1.6, 4.4)),
)
TEXELS_PER_M = 60.0
TEXTURE_SIZE = 320


@dataclass
class SyntheticVideo:
    """A rendered clip and its ground truth (one row per video frame)."""

    path: Path
    fps: float
    width: int
    height: int
    hfov_deg: float
    times: np.ndarray  # (T,) s
    positions: np.ndarray  # (T, 3) camera centres in the world (m)
    rotations: np.ndarray  # (T, 3, 3) camera-to-world
    # normalised x0, y0, x1, y1 of the occluder
    hand_boxes: list[tuple[float, float, float, float] | None] = field(default_factory=list)

    @property
    def path_length(self) -> float:
        return float(np.linalg.norm(np.diff(self.positions, axis=0), axis=1).sum())


def make_textures(count: int, seed: int = 7) -> np.ndarray:
    """(count, S, S, 3) uint8 textures with detail at several scales: blobs, patches and strokes."""
    rng = np.random.default_rng(seed)
    size = TEXTURE_SIZE
    textures = np.empty((count, size, size, 3), np.uint8)
    for index in range(count):
        base = rng.uniform(60, 190, 3)
        image = np.zeros((size, size, 3), np.float32) + base
        for cells, amplitude in ((4, 50.0), (16, 35.0), (64, 25.0)):
            # mostly brightness
            noise = rng.normal(0, amplitude, (cells, cells, 1)) + rng.normal(0, amplitude * 0.3, (cells, cells, 3))
            image += cv2.resize(noise.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
        for _ in range(60):  # patches and strokes give corners at the scale features are detected at
            colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
            x, y = (int(v) for v in rng.integers(0, size, 2))
            w, h = (int(v) for v in rng.integers(4, 28, 2))
            if rng.random() < 0.5:
                cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
            else:
                cv2.line(image, (x, y), (x + w, y - h), colour, 2)
        textures[index] = np.clip(cv2.GaussianBlur(image, (3, 3), 0.8), 0, 255).astype(np.uint8)
    return textures


class RoomRenderer:
    """Ray casting of the room and its boxes: per pixel, the nearest surface and its texture."""

    def __init__(self, width: int = 320, height: int = 240, hfov_deg: float = 90.0, seed: int = 7) -> None:
        self.width, self.height = width, height
        self.focal = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        self.rays = np.stack(
            [(u - width / 2) / self.focal, (v - height / 2) / self.focal, np.ones_like(u)], axis=-1
        ).reshape(-1, 3)
        self.boxes = [np.array(ROOM, float)] + [np.array(b, float) for b in BOXES]
        self.textures = make_textures(len(self.boxes) * 3, seed).astype(np.float32)

    def render(self, rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
        directions = rotation @ self.rays.T  # (3, N) world directions of each pixel's ray
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = 1.0 / directions
        count = directions.shape[1]
        best_t = np.full(count, np.inf)
        best_surface = np.zeros(count, np.int64)
        best_axis = np.zeros(count, np.int64)
        for index, (low, high) in enumerate(self.boxes):
            slabs = [((low[a] - centre[a]) * inverse[a], (high[a] - centre[a]) * inverse[a]) for a in range(3)]
            near = [np.minimum(a, b) for a, b in slabs]
            far = [np.maximum(a, b) for a, b in slabs]
            if index == 0:  # the room is seen from inside: the exit face
                t, axis = _min3(far)
            else:
                t_in, axis = _max3(near)
                t_out, _ = _min3(far)
                t = np.where((t_in <= t_out) & (t_in > 1e-6), t_in, np.inf)
            closer = t < best_t
            best_t[closer], best_surface[closer], best_axis[closer] = t[closer], index, axis[closer]
        points = centre[:, None] + directions * best_t
        # texture coordinates: the two world axes that lie in the hit face
        first = np.where(best_axis == 0, points[2], points[0])
        second = np.where(best_axis == 1, points[2], points[1])
        texture = best_surface * 3 + best_axis
        colour = self._sample(texture, first * TEXELS_PER_M, second * TEXELS_PER_M)
        facing = np.abs(np.choose(best_axis, directions)) / np.sqrt((directions**2).sum(axis=0))
        return (
            np.clip(colour * (0.75 + 0.25 * facing)[:, None], 0, 255)
            .reshape(self.height, self.width, 3)
            .astype(np.uint8)
        )

    def _sample(self, texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Bilinear lookup in tiled textures."""
        size = TEXTURE_SIZE
        u0, v0 = np.floor(u), np.floor(v)
        fu, fv = (u - u0)[:, None], (v - v0)[:, None]
        u0 = u0.astype(np.int64) % size
        v0 = v0.astype(np.int64) % size
        u1, v1 = (u0 + 1) % size, (v0 + 1) % size
        tex = self.textures
        top = tex[texture, v0, u0] * (1 - fu) + tex[texture, v0, u1] * fu
        bottom = tex[texture, v1, u0] * (1 - fu) + tex[texture, v1, u1] * fu
        return top * (1 - fv) + bottom * fv


def _min3(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise minimum of three arrays and which one it came from."""
    a, b, c = values
    axis = np.where(b < a, 1, 0)
    low = np.minimum(a, b)
    axis = np.where(c < low, 2, axis)
    return np.minimum(low, c), axis


def _max3(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    low, axis = _min3([-v for v in values])
    return -low, axis


def walk_path(t: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """A head-mounted camera walking forward along a gentle curve, looking around, with head bob."""
    s = t / duration
    z = -2.5 + 4.0 * s
    x = 0.8 * np.sin(math.pi * s)
    y = 0.02 * np.sin(2 * math.pi * 1.8 * t)  # step rhythm
    heading = np.arctan2(0.8 * math.pi * np.cos(math.pi * s), 4.0)  # along the path
    yaw = heading + np.radians(25 * np.sin(2 * math.pi * 0.35 * t))
    pitch = np.radians(12 + 6 * np.sin(2 * math.pi * 0.5 * t))  # looking a little down, as at a table
    roll = np.radians(2 * np.sin(2 * math.pi * 0.9 * t))
    return _rotations(yaw, pitch, roll), np.stack([x, y, z], axis=1)


def sideways_path(t: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Stepping sideways along a wall while looking at it: translation that a rotation nearly mimics, the hard case."""
    s = t / duration
    x = -1.5 + 3.0 * s
    z = -1.5 + 1.2 * np.sin(math.pi * s)
    y = 0.02 * np.sin(2 * math.pi * 1.8 * t)
    yaw = np.radians(25 * np.sin(2 * math.pi * 0.35 * t) + 30 * s)
    pitch = np.radians(12 + 6 * np.sin(2 * math.pi * 0.5 * t))
    roll = np.radians(2 * np.sin(2 * math.pi * 0.9 * t))
    return _rotations(yaw, pitch, roll), np.stack([x, y, z], axis=1)


def rotation_path(t: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """The camera turns about its own centre (a tripod pan and tilt): no translation at all."""
    yaw = np.radians(40 * np.sin(2 * math.pi * t / duration))
    pitch = np.radians(10 + 8 * np.sin(2 * math.pi * 0.6 * t))
    return _rotations(yaw, pitch, np.zeros_like(t)), np.zeros((len(t), 3))


PATHS = {"walk": walk_path, "sideways": sideways_path, "rotation": rotation_path}


def _rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Camera-to-world rotations: yaw about the world's vertical (y), then pitch (x, positive looks down), then roll
    (z)."""
    return Rotation.from_euler("YXZ", np.stack([yaw, -pitch, roll], axis=1)).as_matrix()


def hand_occluder(image: np.ndarray, t: float) -> tuple[float, float, float, float]:
    """Draw a skin-coloured hand-and-forearm blob that moves independently of the camera; returns its box."""
    height, width = image.shape[:2]
    cx = width * (0.62 + 0.12 * math.sin(2 * math.pi * 0.7 * t))
    cy = height * (0.78 + 0.06 * math.cos(2 * math.pi * 0.9 * t))
    axes = (int(width * 0.09), int(height * 0.12))
    cv2.ellipse(image, (int(cx), int(cy)), axes, 20, 0, 360, (120, 150, 205), -1)
    cv2.line(image, (int(cx), int(cy)), (int(cx + width * 0.1), height), (110, 140, 195), int(width * 0.07))
    x0, y0 = (cx - axes[0] * 1.3) / width, (cy - axes[1] * 1.3) / height
    return (max(x0, 0.0), max(y0, 0.0), min((cx + width * 0.16) / width, 1.0), 1.0)


def render_video(
    path: Path,
    kind: str = "walk",
    seconds: float = 4.0,
    fps: float = 30.0,
    size: tuple[int, int] = (320, 240),
    hfov_deg: float = 90.0,
    blur_samples: int = 1,
    hand: bool = False,
    crf: int = 20,
) -> SyntheticVideo:
    """Render and encode (H.264, as materialised clips are) one synthetic clip.

    `kind`: "walk", "sideways", "rotation" or "flat" (one colour, nothing to track). `blur_samples` > 1
    averages that many renders over half a frame interval (a 180-degree shutter).
    """
    width, height = size
    count = int(round(seconds * fps))
    times = np.arange(count) / fps
    if kind == "flat":
        rotations, positions = np.repeat(np.eye(3)[None], count, axis=0), np.zeros((count, 3))
    else:
        rotations, positions = PATHS[kind](times, seconds)
    renderer = RoomRenderer(width, height, hfov_deg) if kind != "flat" else None
    boxes: list[tuple[float, float, float, float] | None] = []
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)), options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, t in enumerate(times):
            if renderer is None:
                image = np.full((height, width, 3), (90, 140, 170), np.uint8)
            elif blur_samples > 1:
                offsets = np.linspace(0, 0.5 / fps, blur_samples)
                sample_r, sample_c = PATHS[kind](t + offsets, seconds)
                image = np.mean(
                    [renderer.render(r, c).astype(np.float32) for r, c in zip(sample_r, sample_c, strict=True)], axis=0
                ).astype(np.uint8)
            else:
                image = renderer.render(rotations[index], positions[index])
            boxes.append(hand_occluder(image, float(t)) if hand else None)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return SyntheticVideo(path, fps, width, height, hfov_deg, times, positions, rotations, boxes)
