"""Metric 3D body and hand motion per clip, from the keypoint tracks: `{clip_id}.pose3d.npz`.

MediaPipe gives each frame's body in metres around the hips and each hand in metres around its
own centre, in axes aligned with the camera. A robot needs one frame for all of it, a smooth
signal, bones that keep their length, and an honest mark on what was seen. This module:

1. turns the axes z-up (x right, y away from the camera, z up: the camera is assumed level);
2. estimates where the hips are relative to the camera by a translation-only perspective fit of
   the metric keypoints to their image positions with an assumed focal length (so the distance
   from the camera scales with that assumption; lateral and vertical motion are well determined);
3. drops one-frame spikes (a keypoint far from both neighbouring frames while they agree);
4. smooths each keypoint with a Savitzky-Golay filter inside runs of valid frames (never across a gap);
5. makes every bone its clip-median length, re-projected along its direction from the pelvis outwards;
6. puts each hand at the body's wrist when both were seen, else at its own perspective fit.

Arrays, units and the validity flags are documented in docs/motion.md and docs/format.md.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from humannet.annotate.clip_annotator import ClipAnnotation, ClipAnnotator, StagedClip
from humannet.annotate.pose_tracks import npz_bytes

FORMAT_VERSION = 1
FRAME = "camera_level_zup"  # x right, y away from the camera, z up; origin at the camera centre
PELVIS, NECK = 33, 34  # virtual keypoints appended to MediaPipe's 33: mid-hip and mid-shoulder
TORSO = (11, 12, 23, 24)
CORE = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)  # shoulders, elbows, wrists, hips, knees, ankles
# (parent, child) from the pelvis outwards; the mid-shoulder is recomputed from the shoulders before the face is placed.
BODY_BONES: tuple[tuple[int, int], ...] = (
    (PELVIS, 23), (PELVIS, 24), (PELVIS, 11), (PELVIS, 12),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22),
    (23, 25), (25, 27), (27, 29), (27, 31),
    (24, 26), (26, 28), (28, 30), (28, 32),
    (NECK, 0), (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (0, 9), (0, 10),
)  # fmt: skip
# wrist -> each finger's base, then along the finger
HAND_BONES: tuple[tuple[int, int], ...] = tuple((0 if k % 4 == 1 else k - 1, k) for k in range(1, 21))
WRISTS = (15, 16)  # body keypoints of the person's left and right wrist (hand slots 0 and 1)


class Motion3DConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(
        True, description="Write {clip_id}.pose3d.npz (metric 3D body and hand motion) for each materialised clip."
    )
    min_visibility: float = Field(
        0.5, ge=0.0, le=1.0, description="MediaPipe visibility at or above which a body keypoint counts as seen (0-1)."
    )
    translation: Literal["perspective", "none"] = Field(
        "perspective",
        description=(
            "Root and lone-hand position: 'perspective' = fit to the image keypoints with an assumed focal length; "
            "'none' = keep hip-centred."
        ),
    )
    focal_length: float = Field(
        1.0,
        gt=0.1,
        le=10.0,
        description="Assumed focal length in units of the frame's longer side (1.0 is about 53 degrees across).",
    )
    smoothing_window_s: float = Field(
        0.5,
        ge=0.0,
        le=5.0,
        description=(
            "Savitzky-Golay window (s); 0 turns smoothing off. Shorter valid runs use the longest window that fits."
        ),
    )
    smoothing_order: int = Field(2, ge=1, le=5, description="Savitzky-Golay polynomial order.")
    outlier_m: float = Field(
        0.3,
        gt=0.0,
        le=5.0,
        description=(
            "A keypoint farther than this (m) from both neighbouring frames, while they agree, is a spike: replaced "
            "and marked unseen."
        ),
    )
    body_in_ego: bool = Field(
        False,
        description=(
            "Trust body detections in clips labelled ego (the wearer's body is out of view; the body model tends to "
            "invent one around the arms)."
        ),
    )


@dataclass
class Motion3D:
    """The arrays of one clip's pose3d.npz (see docs/format.md), plus what went wrong."""

    arrays: dict[str, np.ndarray]
    notes: list[str]

    def summary(self) -> dict[str, float]:
        count = len(self.arrays["times"])
        return {
            "pose3d_frames": float(self.arrays["body_valid"].sum()),
            "hand3d_frames": float(self.arrays["hand_valid"].any(axis=1).sum()),
            "valid_frame_coverage": float(self.arrays["full_body_valid"].mean()) if count else 0.0,
        }


def to_zup(points: np.ndarray) -> np.ndarray:
    """MediaPipe/camera axes (x right, y down, z forward) -> x right, y forward, z up."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def perspective_translation(
    local: np.ndarray, image_xy: np.ndarray, weights: np.ndarray, size: tuple[int, int], focal: float
) -> np.ndarray:
    """Camera-frame translation t (x right, y down, z forward) with `local + t` projecting onto `image_xy`.

    Per frame, a linear least-squares fit: for a point P and its normalised image ray (u, v),
    (P_x + t_x) - u (P_z + t_z) = 0 and (P_y + t_y) - v (P_z + t_z) = 0. Rows of NaN where fewer
    than 3 weighted points or the fit puts the person behind the camera.
    """
    width, height = size
    f = focal * max(width, height)
    u = (image_xy[..., 0] * width - width / 2) / f
    v = (image_xy[..., 1] * height - height / 2) / f
    count = local.shape[0]
    out = np.full((count, 3), np.nan)
    for row in range(count):
        w = weights[row]
        use = (w > 0) & np.isfinite(u[row]) & np.isfinite(local[row, :, 0])
        if use.sum() < 3:
            continue
        p, uu, vv, ww = local[row, use], u[row, use], v[row, use], np.sqrt(w[use])
        zeros, ones = np.zeros_like(uu), np.ones_like(uu)
        a = (
            np.concatenate([np.stack([ones, zeros, -uu], 1), np.stack([zeros, ones, -vv], 1)])
            * np.concatenate([ww, ww])[:, None]
        )
        b = np.concatenate([uu * p[:, 2] - p[:, 0], vv * p[:, 2] - p[:, 1]]) * np.concatenate([ww, ww])
        t, *_ = np.linalg.lstsq(a, b, rcond=None)
        if t[2] > 0.1:
            out[row] = t
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def spikes(points: np.ndarray, valid: np.ndarray, limit_m: float) -> tuple[np.ndarray, np.ndarray]:
    """One-frame spikes: (T, K) True where a keypoint is more than `limit_m` from both neighbouring frames while those
    agree.

    Fast real motion moves the neighbours apart too, so it is not taken for a spike. Also returns
    the neighbours' mean (T, K, 3), the replacement. Frames without two valid neighbours are not tested.
    """
    count = points.shape[0]
    found = np.zeros(points.shape[:2], dtype=bool)
    middle = points.copy()
    if count < 3:
        return found, middle
    before, here, after = points[:-2], points[1:-1], points[2:]
    testable = (valid[:-2] & valid[1:-1] & valid[2:])[:, None]
    far = (np.linalg.norm(here - before, axis=-1) > limit_m) & (np.linalg.norm(here - after, axis=-1) > limit_m)
    agree = np.linalg.norm(after - before, axis=-1) < limit_m
    found[1:-1] = far & agree & testable
    middle[1:-1] = (before + after) / 2
    return found, middle


def smooth(series: np.ndarray, valid: np.ndarray, window_frames: int, order: int) -> np.ndarray:
    """Savitzky-Golay along time inside each run of valid frames; runs too short for the order stay as they are."""
    from scipy.signal import savgol_filter

    out = series.copy()
    if window_frames < 3:
        return out
    for start, end in runs(valid):
        length = min(window_frames, end - start)
        length -= 1 - length % 2  # odd
        if length > order:
            out[start:end] = savgol_filter(series[start:end], length, order, axis=0, mode="interp")
    return out


def bone_lengths(points: np.ndarray, bones: tuple[tuple[int, int], ...], weights: np.ndarray) -> np.ndarray:
    """Per-bone median length over the frames where both ends are weighted (all frames when none are)."""
    lengths = np.full(len(bones), np.nan)
    for number, (parent, child) in enumerate(bones):
        span = np.linalg.norm(points[:, child] - points[:, parent], axis=-1)
        seen = weights[:, parent] & weights[:, child] & np.isfinite(span)
        pool = span[seen] if seen.any() else span[np.isfinite(span)]
        if pool.size:
            lengths[number] = np.median(pool)
    return lengths


def enforce_bones(
    points: np.ndarray, bones: tuple[tuple[int, int], ...], lengths: np.ndarray, neck: bool = False
) -> np.ndarray:
    """Each child moved along its bone direction so the bone has its clip length, from the root outwards."""
    out = points.copy()
    for (parent, child), length in zip(bones, lengths, strict=True):
        if neck and parent == NECK:
            out[:, NECK] = (out[:, 11] + out[:, 12]) / 2
        direction = points[:, child] - points[:, parent]
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        # no length or direction: keep the offset
        scale = np.where(np.isfinite(length) & (norm > 1e-9), length / np.maximum(norm, 1e-9), 1.0)
        out[:, child] = out[:, parent] + direction * scale
    return out


def with_virtual(points: np.ndarray) -> np.ndarray:
    """Append the pelvis (mid-hip) and neck (mid-shoulder) to (T, 33, 3) keypoints."""
    pelvis = (points[:, 23] + points[:, 24]) / 2
    neck = (points[:, 11] + points[:, 12]) / 2
    return np.concatenate([points, pelvis[:, None], neck[:, None]], axis=1)


def place_hands(
    pose: dict[str, np.ndarray],
    body: np.ndarray,
    wrist_seen: np.ndarray,
    config: Motion3DConfig,
    size: tuple[int, int],
    window: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hands (T, 2, 21, 3): own shape smoothed and made rigid, then placed at the seen body wrist or by their own
    perspective fit.

    Also returns hand_valid (T, 2), attached (T, 2) and the bone lengths (2, 20).
    """
    count = len(pose["times"])
    hand_world = to_zup(np.asarray(pose["hand_world"], dtype=np.float64))
    hand_image = np.asarray(pose["hand_image"], dtype=np.float64)
    hand_valid = np.asarray(pose["hand_score"]) > 0
    hands = np.full((count, 2, 21, 3), np.nan)
    attached = np.zeros((count, 2), dtype=bool)
    hand_lengths = np.full((2, len(HAND_BONES)), np.nan)
    for side in (0, 1):
        ok = hand_valid[:, side]
        if not ok.any():
            continue
        shape = hand_world[:, side] - hand_world[:, side, :1]  # wrist at the origin
        shape = smooth(np.where(ok[:, None, None], shape, np.nan), ok, window, config.smoothing_order)
        hand_lengths[side] = bone_lengths(shape[ok], HAND_BONES, np.ones((int(ok.sum()), 21), bool))
        shape = enforce_bones(shape, HAND_BONES, hand_lengths[side])
        attached[:, side] = ok & wrist_seen[:, side]
        anchor = np.where(attached[:, side, None], body[:, WRISTS[side]], np.nan)
        if config.translation == "perspective":
            camera_hand = np.asarray(pose["hand_world"][:, side], dtype=np.float64)
            t = perspective_translation(
                camera_hand, hand_image[:, side, :, :2], ok[:, None] * np.ones((1, 21)), size, config.focal_length
            )
            own = to_zup(t) + hand_world[:, side, 0]  # where its wrist is
            own = smooth(own, ok & np.isfinite(own[:, 0]), window, config.smoothing_order)
            anchor = np.where(attached[:, side, None], anchor, own)
        hand_ok = ok & np.isfinite(anchor[:, 0])
        hand_valid[:, side] = hand_ok
        hands[hand_ok, side] = shape[hand_ok] + anchor[hand_ok, None]
    return hands, hand_valid, attached & hand_valid, hand_lengths


def lift(pose: dict[str, np.ndarray], config: Motion3DConfig, ego: bool = False) -> Motion3D:
    """The 3D motion of one clip from its pose.npz arrays; `ego` = the clip is egocentric (see `body_in_ego`)."""
    times = np.asarray(pose["times"], dtype=np.float64)
    count = len(times)
    size = (int(pose["frame_size"][0]), int(pose["frame_size"][1]))
    fps = (count - 1) / (times[-1] - times[0]) if count > 1 and times[-1] > times[0] else 10.0
    window = int(round(config.smoothing_window_s * fps)) | 1 if config.smoothing_window_s > 0 else 0
    notes: list[str] = []

    # Body: visibility, torso, z-up, outliers.
    world = np.asarray(pose["body_world"], dtype=np.float64)
    image = np.asarray(pose["body_image"], dtype=np.float64)
    found = np.isfinite(world[:, 0, 0]) if count else np.zeros(0, bool)
    if ego and not config.body_in_ego and found.any():
        notes.append(
            f"body ignored in {int(found.sum())} frames: the clip is egocentric, the wearer's body is out of view "
            "(hands are kept)"
        )
        found[:] = False
    visible = found[:, None] & (np.nan_to_num(world[..., 3]) >= config.min_visibility)
    local = to_zup(world[..., :3])
    outliers, replacements = spikes(local, found, config.outlier_m)
    if outliers.any():
        notes.append(
            f"jittery detections: {int(outliers.sum())} one-frame keypoint spikes in "
            f"{int(outliers.any(axis=1).sum())} of {count} frames replaced and marked unseen"
        )
        local[outliers] = replacements[outliers]
        visible &= ~outliers
    body_valid = found & visible[:, list(TORSO)].all(axis=1)

    # Root: perspective fit in camera axes, then z-up.
    if config.translation == "perspective" and count:
        weights = np.where(visible, np.nan_to_num(world[..., 3]), 0.0)
        root_camera = perspective_translation(world[..., :3], image[..., :2], weights, size, config.focal_length)
        root = to_zup(root_camera)
        root_known = body_valid & np.isfinite(root[:, 0])
        if (body_valid & ~root_known).any():
            notes.append(
                f"root position unknown in {int((body_valid & ~root_known).sum())} frames (perspective fit failed)"
            )
        body_valid &= root_known
    else:
        root = np.zeros((count, 3))
    root = np.where(body_valid[:, None], root, np.nan)

    # Smooth (inside valid runs), bones to their clip lengths, then place at the root.
    local = np.where(body_valid[:, None, None], local, np.nan)
    local = smooth(local, body_valid, window, config.smoothing_order)
    root = smooth(root, body_valid, window, config.smoothing_order)
    full = with_virtual(local)
    seen = np.concatenate([visible, body_valid[:, None], body_valid[:, None]], axis=1)
    body_lengths = (
        bone_lengths(full[body_valid], BODY_BONES, seen[body_valid])
        if body_valid.any()
        else np.full(len(BODY_BONES), np.nan)
    )
    full = enforce_bones(full, BODY_BONES, body_lengths, neck=True)
    body = full[:, :33] + root[:, None]
    if found.any() and not body_valid.any():
        notes.append(
            f"no valid 3D body: a body was found in {int(found.sum())} of {count} frames but its shoulders and hips "
            "were never all seen"
        )
    gaps = [(s, e) for s, e in runs(~body_valid) if s > 0 or e < count]
    if body_valid.any() and gaps:
        spans = ", ".join(f"{times[s]:.1f}-{times[e - 1]:.1f} s" for s, e in gaps[:5])
        notes.append(
            f"body not valid in {int((~body_valid).sum())} of {count} frames (left the frame or hidden: {spans})"
        )

    wrist_seen = body_valid[:, None] & visible[:, list(WRISTS)]
    hands, hand_valid, attached, hand_lengths = place_hands(pose, body, wrist_seen, config, size, window)

    full_body_valid = body_valid & visible[:, list(CORE)].all(axis=1)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "frame": np.array(FRAME),
        "times": times,
        "frame_size": np.array(size, dtype=np.int32),
        "focal_px": np.array(config.focal_length * max(size), dtype=np.float32),
        "root_translation": np.array(config.translation == "perspective"),
        "body": np.where(body_valid[:, None, None], body, np.nan).astype(np.float32),
        "body_visible": visible & body_valid[:, None],
        "body_valid": body_valid,
        "full_body_valid": full_body_valid,
        "root_pos": root.astype(np.float32),
        "body_bones": np.array(BODY_BONES, dtype=np.int16),
        "body_bone_lengths": body_lengths.astype(np.float32),
        "hands": hands.astype(np.float32),
        "hand_valid": hand_valid,
        "hand_attached": attached,
        "hand_bones": np.array(HAND_BONES, dtype=np.int16),
        "hand_bone_lengths": hand_lengths.astype(np.float32),
    }
    if count and not body_valid.any() and not hand_valid.any():
        notes.append("no valid 3D frames: neither a body with shoulders and hips seen nor a hand")
    return Motion3D(arrays, notes)


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


class Motion3DAnnotator(ClipAnnotator):
    """Turns a clip's pose.npz into pose3d.npz; index columns pose3d_frames, hand3d_frames, valid_frame_coverage."""

    name: ClassVar[str] = "motion3d"
    produces: ClassVar[tuple[str, ...]] = ("pose3d_frames", "hand3d_frames", "valid_frame_coverage")
    config_sections: ClassVar[tuple[str, ...]] = ("pose_tracks", "motion3d")
    reads: ClassVar[tuple[str, ...]] = ("pose.npz",)
    writes: ClassVar[tuple[str, ...]] = ("pose3d.npz", "metadata.motion3d")
    version: ClassVar[str] = "1"

    def __init__(self, config: Motion3DConfig) -> None:
        self.config = config

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        if "pose.npz" not in staged.files:
            return ClipAnnotation(errors=["no keypoint tracks (pose.npz) for this clip: pose_tracks are off or failed"])
        ego = staged.clip.labels.get("viewpoint") == "ego"
        motion = lift(load_npz(staged.files["pose.npz"]), self.config, ego=ego)
        summary = motion.summary()
        return ClipAnnotation(
            files={"pose3d.npz": npz_bytes(motion.arrays)},
            metadata={"motion3d": {**summary, "frames": len(motion.arrays["times"]), "notes": motion.notes}},
            scores=summary,
            errors=motion.notes,
        )
