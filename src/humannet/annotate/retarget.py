"""Retargeting a clip's 3D motion onto one humanoid: `{clip_id}.retarget.npz`, error and robot-ready flag.

The humanoid is `assets/humanoid_CMU.xml` (dm-control's CMU humanoid, 56 hinge joints plus a free
root, with `kp_*` sites at the tracked keypoints). A human and the robot differ in proportions, so
the targets are not the human keypoints themselves: they are rebuilt from the robot's own limb
lengths laid along the human bone directions, from the pelvis outwards (pelvis -> hips -> knees ->
ankles -> feet; pelvis -> shoulders -> elbows -> wrists -> hand points; mid-shoulder -> nose). The
pelvis target is the human pelvis scaled by the robot/human leg-length ratio. Inverse kinematics
(mink on MuJoCo, joint limits on, a light pull to the rest pose for what is not observed) then
places the sites on those targets. Each frame is solved from the previous frame's solution and
from the rest pose with the root set from the human pelvis frame; the better one is kept.

Retargeting error = mean distance (mm) between the targets of the keypoints seen in a frame and
the model's sites after solving; the clip's error is its mean over valid frames. A frame is valid
when the full body (all 12 core keypoints) was seen; a clip is robot-ready when its error is
below `max_error_mm` and valid frames cover more than `min_coverage` of it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, Field

from humannet.annotate.clip_annotator import ClipAnnotation, ClipAnnotator, StagedClip
from humannet.annotate.motion3d import PELVIS, load_npz
from humannet.annotate.pose_tracks import npz_bytes

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "humanoid_CMU.xml"
MODEL_NAME = "humanoid_CMU_humannet"


@dataclass(frozen=True)
class Keypoint:
    name: str  # the model site is f"kp_{name}"
    parent: str | None  # the keypoint the target is built from ("neck" = mid-shoulder)
    body: int | None = None  # MediaPipe body index (PELVIS = mid-hip)
    hand: tuple[int, int] | None = None  # (side 0 = left / 1 = right, MediaPipe hand index)


def _limb(side: str, shoulder: int, hip: int, hand_side: int) -> list[Keypoint]:
    s = side
    return [
        Keypoint(f"{s}_elbow", f"{s}_shoulder", body=shoulder + 2),
        Keypoint(f"{s}_wrist", f"{s}_elbow", body=shoulder + 4),
        Keypoint(f"{s}_knee", f"{s}_hip", body=hip + 2),
        Keypoint(f"{s}_ankle", f"{s}_knee", body=hip + 4),
        Keypoint(f"{s}_foot", f"{s}_ankle", body=hip + 8),
        Keypoint(f"{s}_index_mcp", f"{s}_wrist", hand=(hand_side, 5)),
        Keypoint(f"{s}_pinky_mcp", f"{s}_wrist", hand=(hand_side, 17)),
        Keypoint(f"{s}_middle_tip", f"{s}_wrist", hand=(hand_side, 12)),
        Keypoint(f"{s}_thumb_tip", f"{s}_wrist", hand=(hand_side, 4)),
    ]


# In tree order: every parent comes before its children.
KEYPOINTS: tuple[Keypoint, ...] = (
    Keypoint("pelvis", None, body=PELVIS),
    Keypoint("left_hip", "pelvis", body=23),
    Keypoint("right_hip", "pelvis", body=24),
    Keypoint("left_shoulder", "pelvis", body=11),
    Keypoint("right_shoulder", "pelvis", body=12),
    Keypoint("nose", "neck", body=0),
    *_limb("left", 11, 23, 0),
    *_limb("right", 12, 24, 1),
)
NAMES = tuple(k.name for k in KEYPOINTS)
INDEX = {name: number for number, name in enumerate(NAMES)}
LEG_BONES = (
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
)


class RetargetConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(
        True, description="Retarget each clip's 3D motion onto the humanoid ({clip_id}.retarget.npz); needs motion3d."
    )
    max_iterations: int = Field(
        8, ge=1, le=100, description="Most inverse-kinematics iterations per frame and start pose."
    )
    tolerance_mm: float = Field(
        0.2, gt=0.0, description="Stop iterating when the mean keypoint error improves by less than this (mm)."
    )
    rest_cost: float = Field(
        0.02,
        ge=0.0,
        description=(
            "Weight of the pull towards the rest pose (keeps joints nothing observes, such as the spine, natural)."
        ),
    )
    damping: float = Field(
        0.001, ge=0.0, description="Levenberg-Marquardt damping of each IK step (larger = smaller, smoother steps)."
    )
    continuity_cost: float = Field(
        0.05,
        ge=0.0,
        description=(
            "Weight of the pull towards the previous frame's joint angles (keeps redundant joints, such as arm twist, "
            "from jumping)."
        ),
    )
    switch_margin_mm: float = Field(
        1.0,
        ge=0.0,
        description=(
            "The solve started from the rest pose replaces the one started from the previous frame only when it is "
            "this much better (mm)."
        ),
    )
    max_error_mm: float = Field(
        15.0, gt=0.0, description="robot_ready needs a retargeting error (mean over valid frames) below this (mm)."
    )
    min_coverage: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="robot_ready needs valid frames (full body seen) to cover more than this fraction of the clip.",
    )


def headless_gl() -> None:
    """MuJoCo (also imported by mink) picks its OpenGL at import: EGL works without a display (previews), unless the
    user chose."""
    os.environ.setdefault("MUJOCO_GL", "egl")


class Humanoid:
    """The model, its keypoint sites and its limb lengths in the rest pose."""

    def __init__(self) -> None:
        headless_gl()
        import mujoco

        path = resources.files("humannet.assets") / MODEL_FILE
        self.model = mujoco.MjModel.from_xml_path(str(path))
        self.data = mujoco.MjData(self.model)
        self.site_ids = np.array([self.model.site(f"kp_{name}").id for name in NAMES])
        self.joint_names = [
            self.model.joint(j).name
            for j in range(self.model.njnt)
            if self.model.jnt_type[j] != mujoco.mjtJoint.mjJNT_FREE
        ]
        limited = self.model.jnt_limited.astype(bool)
        rest = self.model.qpos0.copy()
        for j in np.flatnonzero(limited):
            address = self.model.jnt_qposadr[j]
            low, high = self.model.jnt_range[j]
            rest[address] = np.clip(rest[address], low, high)
        self.rest = rest
        sites = self.sites(rest)
        self.root_body = self.model.jnt_bodyid[0]
        self.root_rotation0 = self.data.xmat[self.root_body].reshape(3, 3).copy()
        self.root_position0 = self.data.xpos[self.root_body].copy()
        self.pelvis_local = self.root_rotation0.T @ (sites[INDEX["pelvis"]] - self.root_position0)
        self.frame0 = body_frame(sites)
        self.lengths = np.zeros(len(KEYPOINTS))
        for number, keypoint in enumerate(KEYPOINTS):
            if keypoint.parent is not None:
                self.lengths[number] = np.linalg.norm(sites[number] - parent_point(sites, keypoint.parent))
        self.leg_length = sum(np.linalg.norm(sites[INDEX[a]] - sites[INDEX[b]]) for a, b in LEG_BONES) / 2

    def sites(self, q: np.ndarray) -> np.ndarray:
        import mujoco

        self.data.qpos[:] = q
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self.site_ids].copy()

    def root_from_pelvis(self, pelvis: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Root position and wxyz quaternion that put the model's pelvis at `pelvis`, turned to the human pelvis
        frame."""
        import mujoco

        rotation = frame @ self.frame0.T @ self.root_rotation0
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, rotation.ravel())
        return pelvis - rotation @ self.pelvis_local, quat


def parent_point(points: np.ndarray, parent: str) -> np.ndarray:
    if parent == "neck":
        return (points[..., INDEX["left_shoulder"], :] + points[..., INDEX["right_shoulder"], :]) / 2
    return points[..., INDEX[parent], :]


def body_frame(points: np.ndarray) -> np.ndarray:
    """Rotation whose columns are the pelvis frame: x to the person's left hip, z up the spine, y = z cross x."""
    left = points[INDEX["left_hip"]] - points[INDEX["right_hip"]]
    left /= np.linalg.norm(left)
    up = parent_point(points, "neck") - points[INDEX["pelvis"]]
    up -= up.dot(left) * left
    up /= np.linalg.norm(up)
    return np.stack([left, np.cross(up, left), up], axis=1)


def human_keypoints(pose3d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(T, K, 3) human positions of the retargeted keypoints and (T, K) whether each and its chain to the pelvis were
    seen."""
    body, visible = pose3d["body"].astype(np.float64), pose3d["body_visible"]
    hands, attached = pose3d["hands"].astype(np.float64), pose3d["hand_attached"]
    count = len(pose3d["times"])
    points = np.full((count, len(KEYPOINTS), 3), np.nan)
    seen = np.zeros((count, len(KEYPOINTS)), dtype=bool)
    for number, keypoint in enumerate(KEYPOINTS):
        if keypoint.body == PELVIS:
            points[:, number] = (body[:, 23] + body[:, 24]) / 2
            seen[:, number] = pose3d["body_valid"]
        elif keypoint.body is not None:
            points[:, number] = body[:, keypoint.body]
            seen[:, number] = visible[:, keypoint.body]
        else:
            side, index = keypoint.hand
            points[:, number] = hands[:, side, index]
            seen[:, number] = attached[:, side]
    seen &= np.isfinite(points[..., 0])
    for number, keypoint in enumerate(
        KEYPOINTS[1:], start=1
    ):  # a target is built along its whole chain: every link must be seen
        parents = ("left_shoulder", "right_shoulder") if keypoint.parent == "neck" else (keypoint.parent,)
        for parent in parents:
            seen[:, number] &= seen[:, INDEX[parent]]
    return points, seen


def robot_targets(human: np.ndarray, humanoid: Humanoid, scale: float) -> np.ndarray:
    """Targets for one frame: the robot's limb lengths along the human bone directions, from the scaled pelvis
    outwards."""
    targets = np.zeros_like(human)
    targets[0] = human[0] * scale
    for number, keypoint in enumerate(KEYPOINTS[1:], start=1):
        origin_human = parent_point(human, keypoint.parent)
        direction = human[number] - origin_human
        norm = np.linalg.norm(direction)
        unit = direction / norm if np.isfinite(norm) and norm > 1e-9 else np.zeros(3)
        targets[number] = parent_point(targets, keypoint.parent) + unit * humanoid.lengths[number]
    return targets


@dataclass
class Retargeted:
    arrays: dict[str, np.ndarray]
    error_mm: float  # mean over valid frames (NaN when none)
    coverage: float
    notes: list[str]


class Retargeter:
    """Solves the IK frame by frame; keeps mink's tasks and limits between clips."""

    def __init__(self, config: RetargetConfig) -> None:
        headless_gl()
        import mink

        self.config = config
        self.humanoid = Humanoid()
        model = self.humanoid.model
        self.configuration = mink.Configuration(model, self.humanoid.rest.copy())
        self.tasks = [mink.FrameTask(f"kp_{name}", "site", position_cost=1.0, orientation_cost=0.0) for name in NAMES]
        self.rest_task = mink.PostureTask(model, cost=config.rest_cost)
        self.rest_task.set_target(self.humanoid.rest)
        self.previous_task = mink.PostureTask(model, cost=max(config.continuity_cost, 1e-9))
        self.limits = [mink.ConfigurationLimit(model)]
        self._se3 = mink.SE3
        self._solve_ik = mink.solve_ik

    def solve_frame(
        self, targets: np.ndarray, active: np.ndarray, start: np.ndarray, previous: np.ndarray | None
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """IK from `start` (pulled towards `previous` when given): (q, mean error in mm over the active keypoints, site
        positions)."""
        configuration = self.configuration
        configuration.update(start)
        tasks = [self.rest_task]
        if previous is not None and self.config.continuity_cost > 0:
            self.previous_task.set_target(previous)
            tasks.append(self.previous_task)
        for number in np.flatnonzero(active):
            self.tasks[number].set_target(self._se3.from_translation(targets[number]))
            tasks.append(self.tasks[number])
        best_q, best_error = start.copy(), self._error(targets, active)
        for _ in range(self.config.max_iterations):
            velocity = self._solve_ik(
                configuration, tasks, 1.0, "daqp", damping=self.config.damping, limits=self.limits
            )
            configuration.integrate_inplace(velocity, 1.0)
            error = self._error(targets, active)
            improved = best_error - error
            if error < best_error:
                best_q, best_error = configuration.q.copy(), error
            if improved < self.config.tolerance_mm:
                break
        sites = self.humanoid.sites(best_q)
        return best_q, best_error, sites

    def _error(self, targets: np.ndarray, active: np.ndarray) -> float:
        sites = self.configuration.data.site_xpos[self.humanoid.site_ids[active]]
        return float(np.linalg.norm(sites - targets[active], axis=1).mean() * 1000.0)

    def retarget(self, pose3d: dict[str, np.ndarray]) -> Retargeted:
        humanoid = self.humanoid
        human, seen = human_keypoints(pose3d)
        count = len(pose3d["times"])
        body_valid = pose3d["body_valid"].astype(bool)
        notes: list[str] = []
        lengths = dict(
            zip(map(tuple, pose3d["body_bones"].tolist()), pose3d["body_bone_lengths"].tolist(), strict=True)
        )
        human_leg = (
            lengths.get((23, 25), np.nan)
            + lengths.get((25, 27), np.nan)
            + lengths.get((24, 26), np.nan)
            + lengths.get((26, 28), np.nan)
        ) / 2
        scale = humanoid.leg_length / human_leg if np.isfinite(human_leg) and human_leg > 0.1 else 1.0
        nq = humanoid.model.nq
        qpos = np.full((count, nq), np.nan)
        targets_all = np.full((count, len(KEYPOINTS), 3), np.nan)
        sites_all = np.full((count, len(KEYPOINTS), 3), np.nan)
        error = np.full(count, np.nan)
        previous: np.ndarray | None = None
        previous_pelvis = np.zeros(3)
        degenerate = 0
        for row in np.flatnonzero(body_valid):
            targets = robot_targets(human[row], humanoid, scale)
            active = seen[row]
            with np.errstate(invalid="ignore", divide="ignore"):
                frame = body_frame(targets)
            if not (np.isfinite(frame).all() and np.isfinite(targets[active]).all()):
                degenerate += 1  # hips on top of each other or no spine direction: no pelvis frame to start from
                continue
            root_pos, root_quat = humanoid.root_from_pelvis(targets[0], frame)
            rest = humanoid.rest.copy()
            rest[:3], rest[3:7] = root_pos, root_quat
            candidates = [rest]
            if previous is not None:
                moved = previous.copy()
                moved[:3] += targets[0] - previous_pelvis
                candidates.insert(0, moved)
            best = None
            for start in candidates:  # the previous frame's start first: it wins ties
                solved = self.solve_frame(targets, active, start, previous)
                if best is None or solved[1] < best[1] - self.config.switch_margin_mm:
                    best = solved
            qpos[row], error[row], sites_all[row] = best
            targets_all[row] = targets
            previous, previous_pelvis = best[0], best[2][0]
        valid = pose3d["full_body_valid"].astype(bool) & np.isfinite(error)
        coverage = float(valid.mean()) if count else 0.0
        clip_error = float(error[valid].mean()) if valid.any() else float("nan")
        if degenerate:
            notes.append(f"{degenerate} frames with a degenerate body (no hip or spine direction) not solved")
        if not body_valid.any():
            notes.append(
                "nothing to retarget: no frame with a valid 3D body"
                + (" (hands only: annotated in pose3d.npz)" if pose3d["hand_valid"].any() else "")
            )
        elif not valid.any():
            notes.append(
                f"no frame with the full body seen (solved {int(body_valid.sum())} partial frames, error not measured)"
            )
        arrays = {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
            "model": np.array(MODEL_NAME),
            "times": np.asarray(pose3d["times"], dtype=np.float64),
            "root_pos": qpos[:, :3].astype(np.float32),
            "root_quat": qpos[:, 3:7].astype(np.float32),
            "joint_pos": qpos[:, 7:].astype(np.float32),
            "joint_names": np.array(humanoid.joint_names),
            "valid": valid,
            "solved": np.isfinite(error),
            "error_mm": error.astype(np.float32),
            "scale": np.array(scale, dtype=np.float32),
            "keypoint_names": np.array(NAMES),
            "keypoint_seen": seen & np.isfinite(error)[:, None],
            "targets": targets_all.astype(np.float32),
            "sites": sites_all.astype(np.float32),
        }
        return Retargeted(arrays, clip_error, coverage, notes)


class RetargetAnnotator(ClipAnnotator):
    """pose3d.npz -> retarget.npz; index columns retarget_error_mm and robot_ready."""

    name: ClassVar[str] = "retarget"
    produces: ClassVar[tuple[str, ...]] = ("retarget_error_mm", "robot_ready")
    config_sections: ClassVar[tuple[str, ...]] = ("motion3d", "retarget")
    reads: ClassVar[tuple[str, ...]] = ("pose3d.npz",)
    writes: ClassVar[tuple[str, ...]] = ("retarget.npz", "metadata.retarget")
    version: ClassVar[str] = "1"

    def __init__(self, config: RetargetConfig) -> None:
        self.config = config
        self.retargeter: Retargeter | None = None

    def setup(self) -> None:
        self.retargeter = Retargeter(self.config)

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        if "pose3d.npz" not in staged.files:
            return ClipAnnotation(
                labels={"robot_ready": False},
                errors=["no 3D motion (pose3d.npz) for this clip: motion3d is off or failed"],
            )
        if self.retargeter is None:
            self.setup()
        result = self.retargeter.retarget(load_npz(staged.files["pose3d.npz"]))
        ready = bool(result.error_mm < self.config.max_error_mm and result.coverage > self.config.min_coverage)
        summary = {
            "error_mm": result.error_mm if np.isfinite(result.error_mm) else None,  # JSON has no NaN
            "valid_coverage": result.coverage,
            "robot_ready": ready,
            "model": MODEL_NAME,
            "scale": float(result.arrays["scale"]),
        }
        return ClipAnnotation(
            files={"retarget.npz": npz_bytes(result.arrays)},
            metadata={"retarget": {**summary, "notes": result.notes}},
            scores={"retarget_error_mm": result.error_mm},
            labels={"robot_ready": ready},
            errors=result.notes,
        )
