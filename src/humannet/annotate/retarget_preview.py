"""Side-by-side preview of a retargeted clip: the video with its keypoints, and the humanoid posed from the solved
joints.

A person checks a retargeting by eye: does the robot do what the human does? The right panel
is MuJoCo's offscreen renderer (EGL unless MUJOCO_GL says otherwise), seen as the video camera
sees the scene and from the side, with the IK targets drawn as small green balls. Where no
OpenGL works, a matplotlib stick figure of the model's keypoint sites stands in.
"""

from __future__ import annotations

import io
import logging
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from humannet.annotate.motion3d import load_npz
from humannet.annotate.retarget import headless_gl

log = logging.getLogger(__name__)

PANEL = 360  # height of each panel (px)
BODY_EDGES = (
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (25, 27),
    (27, 31),
    (24, 26),
    (26, 28),
    (28, 32),
)
HAND_EDGES = tuple((0 if k % 4 == 1 else k - 1, k) for k in range(1, 21))
STICK_EDGES = (
    ("pelvis", "left_hip"), ("pelvis", "right_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("left_ankle", "left_foot"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_ankle", "right_foot"),
    ("pelvis", "left_shoulder"), ("pelvis", "right_shoulder"), ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_wrist", "left_middle_tip"), ("right_wrist", "right_middle_tip"),
)  # fmt: skip


@dataclass
class ClipFiles:
    """A materialised clip's video and annotation files, as bytes."""

    clip_id: str
    mp4: bytes
    pose: dict[str, np.ndarray]
    retarget: dict[str, np.ndarray] | None


def read_clip(corpus: Path, clip_id: str) -> ClipFiles:
    """The clip's mp4, pose.npz and retarget.npz from the shard the index names."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from humannet.corpus.reader import open_unchecked

    table = pq.read_table(corpus / "clips", columns=["clip_id", "shard"])
    rows = table.filter(pc.equal(table["clip_id"], clip_id)).to_pylist()
    if not rows:
        raise ValueError(f"clip {clip_id} is not in {corpus}/clips")
    if not rows[0]["shard"]:
        raise ValueError(f"clip {clip_id} was not materialised (no shard): run curate without --no-materialize")
    shard, reader = rows[0]["shard"], open_unchecked(corpus)
    location = corpus / shard
    try:
        reader.shard_members(shard, strict=True)
    except (OSError, tarfile.TarError) as exc:  # missing, truncated or not a tar at all
        raise ValueError(f"clip {clip_id}: cannot read its shard {location}: {exc}") from exc
    names = {suffix: f"{clip_id}.{suffix}" for suffix in ("mp4", "pose.npz", "retarget.npz")}
    found = reader.read_members(shard, names.values())
    mp4, pose, retarget = (found.get(name) for name in names.values())
    if mp4 is None or pose is None:
        raise ValueError(f"clip {clip_id}: its shard has no mp4 or pose.npz (pose tracks were off)")
    return ClipFiles(
        clip_id,
        mp4,
        _member_arrays(pose, location, names["pose.npz"]),
        _member_arrays(retarget, location, names["retarget.npz"]) if retarget else None,
    )


def _member_arrays(data: bytes, shard: Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of one .npz shard member; a damaged member is a ValueError naming the shard and the member."""
    try:
        return load_npz(data)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{shard}: {name} is damaged: {exc}") from exc


def video_frames(mp4: bytes, times: np.ndarray) -> list[np.ndarray]:
    """BGR frames of the clip nearest to each keypoint time (one sequential decode)."""
    wanted = list(times)
    frames: list[np.ndarray] = []
    last = None
    with av.open(io.BytesIO(mp4)) as container:
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            image = frame.to_ndarray(format="bgr24")
            while wanted and t + 1e-3 >= wanted[0]:
                frames.append(image)
                wanted.pop(0)
            last = image
            if not wanted:
                break
    while wanted and last is not None:
        frames.append(last)
        wanted.pop(0)
    return frames


def draw_keypoints(image: np.ndarray, pose: dict[str, np.ndarray], row: int) -> np.ndarray:
    out = image.copy()
    height, width = out.shape[:2]
    body = pose["body_image"][row]
    if np.isfinite(body[0, 0]):
        for a, b in BODY_EDGES:
            if min(body[a, 3], body[b, 3]) >= 0.5:
                cv2.line(out, _px(body[a], width, height), _px(body[b], width, height), (0, 200, 255), 2, cv2.LINE_AA)
        for point in body[:, :2][body[:, 3] >= 0.5]:
            cv2.circle(out, _px(point, width, height), 3, (0, 120, 255), -1, cv2.LINE_AA)
    for side, colour in ((0, (255, 160, 0)), (1, (80, 255, 80))):
        hand = pose["hand_image"][row, side]
        if np.isfinite(hand[0, 0]):
            for a, b in HAND_EDGES:
                cv2.line(out, _px(hand[a], width, height), _px(hand[b], width, height), colour, 1, cv2.LINE_AA)
    return out


def _px(point: np.ndarray, width: int, height: int) -> tuple[int, int]:
    return int(round(float(point[0]) * width)), int(round(float(point[1]) * height))


class HumanoidView:
    """Renders the humanoid at a solved configuration, from behind the video camera."""

    def __init__(self, retarget: dict[str, np.ndarray], size: int = PANEL) -> None:
        import mujoco

        from humannet.annotate.retarget import Humanoid

        self.mujoco = mujoco
        self.humanoid = Humanoid()
        self.retarget = retarget
        self.size = size
        model = self.humanoid.model
        sites = retarget["sites"][retarget["solved"]]
        # stand on the model's floor (z = 0)
        self.lift = np.array([0.0, 0.0, 0.03 - float(np.nanmin(sites[..., 2])) if len(sites) else 0.0])
        self.centre = (np.nanmedian(sites[:, 0], axis=0) if len(sites) else np.array([0.0, 3.0, 0.0])) + self.lift
        self.renderer = None
        try:
            self.renderer = mujoco.Renderer(model, size, size)
        except Exception as exc:  # no OpenGL: fall back to a stick figure
            log.warning(
                "MuJoCo offscreen rendering unavailable (%s: %s); drawing a stick figure instead",
                type(exc).__name__,
                exc,
            )
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.elevation, self.camera.distance = -10.0, 3.2

    def render(self, row: int) -> np.ndarray:
        if not self.retarget["solved"][row]:
            return _message(self.size, "no body solved")
        if self.renderer is None:
            return self._stick(row)
        mujoco = self.mujoco
        q = np.concatenate(
            [
                self.retarget["root_pos"][row] + self.lift,
                self.retarget["root_quat"][row],
                self.retarget["joint_pos"][row],
            ]
        ).astype(np.float64)
        data = self.humanoid.data
        data.qpos[:] = q
        mujoco.mj_forward(self.humanoid.model, data)
        self.camera.lookat[:] = [self.centre[0], self.retarget["sites"][row, 0, 1], self.centre[2]]
        views = []
        for azimuth in (90.0, 0.0):  # as the video camera sees it, and from the person's side
            self.camera.azimuth = azimuth
            self.renderer.update_scene(data, self.camera)
            scene = self.renderer.scene
            for target, seen in zip(self.retarget["targets"][row], self.retarget["keypoint_seen"][row], strict=True):
                if seen and scene.ngeom < scene.maxgeom:
                    colour = np.array([0.1, 0.9, 0.2, 0.9], np.float32)
                    mujoco.mjv_initGeom(
                        scene.geoms[scene.ngeom],
                        mujoco.mjtGeom.mjGEOM_SPHERE,
                        np.array([0.02, 0, 0]),
                        target + self.lift,
                        np.eye(3).ravel(),
                        colour,
                    )
                    scene.ngeom += 1
            views.append(cv2.cvtColor(self.renderer.render(), cv2.COLOR_RGB2BGR))
        return np.concatenate(views, axis=1)

    def _stick(self, row: int) -> np.ndarray:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(self.retarget["keypoint_names"])
        sites = self.retarget["sites"][row]
        figure = plt.figure(figsize=(2 * self.size / 100, self.size / 100), dpi=100)
        axes = figure.add_subplot(projection="3d")
        for a, b in STICK_EDGES:
            pa, pb = sites[names.index(a)], sites[names.index(b)]
            axes.plot([pa[0], pb[0]], [pa[1], pb[1]], [pa[2], pb[2]], color="tab:orange")
        centre = sites[0]
        for setter, value in zip((axes.set_xlim, axes.set_ylim, axes.set_zlim), centre, strict=True):
            setter(value - 1, value + 1)
        axes.view_init(elev=10, azim=-90)
        figure.canvas.draw()
        image = np.asarray(figure.canvas.buffer_rgba())[..., :3]
        plt.close(figure)
        return cv2.cvtColor(cv2.resize(image, (2 * self.size, self.size)), cv2.COLOR_RGB2BGR)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()


def _message(size: int, text: str) -> np.ndarray:
    panel = np.full((size, 2 * size, 3), 40, np.uint8)
    cv2.putText(panel, text, (10, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (220, 220, 220), 1, cv2.LINE_AA)
    return panel


def preview_frames(clip: ClipFiles, rows: list[int] | None = None) -> list[np.ndarray]:
    """Side-by-side panels (video with keypoints | humanoid) for the chosen keypoint rows (default: all)."""
    headless_gl()
    times = clip.pose["times"]
    rows = list(range(len(times))) if rows is None else rows
    try:
        images = video_frames(clip.mp4, times[rows])
    except av.error.FFmpegError as exc:
        raise ValueError(f"clip {clip.clip_id}: its mp4 in the shard does not decode: {exc}") from exc
    view = HumanoidView(clip.retarget) if clip.retarget is not None else None
    panels = []
    try:
        for row, image in zip(rows, images, strict=False):
            left = draw_keypoints(image, clip.pose, row)
            left = cv2.resize(left, (round(left.shape[1] * PANEL / left.shape[0]), PANEL))
            right = view.render(row) if view is not None else _message(PANEL, "not retargeted")
            label = f"t={times[row]:.1f}s"
            if clip.retarget is not None and clip.retarget["solved"][row]:
                label += f"  err {clip.retarget['error_mm'][row]:.1f} mm" + (
                    "" if clip.retarget["valid"][row] else " (partial body)"
                )
            cv2.putText(right, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            panels.append(np.concatenate([left, right], axis=1))
    finally:
        if view is not None:
            view.close()
    return panels


def write_preview(clip: ClipFiles, out: Path, stills: int = 4) -> int:
    """An mp4 of every keypoint frame, or (for .png/.jpg) `stills` evenly spaced frames stacked; returns frames
    written."""
    if out.suffix.lower() in (".png", ".jpg", ".jpeg"):
        count = len(clip.pose["times"])
        solved = np.flatnonzero(clip.retarget["solved"]) if clip.retarget is not None else np.arange(count)
        pool = solved if len(solved) else np.arange(count)
        rows = (
            sorted({int(pool[i]) for i in np.linspace(0, len(pool) - 1, min(stills, len(pool))).round().astype(int)})
            if len(pool)
            else []
        )
        panels = preview_frames(clip, rows)
        if not panels:
            raise ValueError(f"clip {clip.clip_id} has no keypoint frames to show")
        cv2.imwrite(str(out), np.concatenate(panels, axis=0))
        return len(panels)
    panels = preview_frames(clip)
    if not panels:
        raise ValueError(f"clip {clip.clip_id} has no keypoint frames to show")
    times = clip.pose["times"]
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 10.0
    _write_mp4(out, panels, fps)
    return len(panels)


def _write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import fractions

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fractions.Fraction(round(fps * 1000), 1000))
        stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image[: stream.height, : stream.width], format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
