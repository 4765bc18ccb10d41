"""Monocular visual odometry on CPU: KLT tracks, essential-matrix keyframe chaining, windowed bundle adjustment.

Why this design (measured in docs/camera.md): a head-mounted camera mostly turns and walks
slowly, so frame-to-frame geometry is weak; poses are only estimated between *keyframes*,
which are taken when the tracked points show enough parallax once the rotation is removed.
Each keyframe pair gives a rotation and a unit translation from the essential matrix
(`cv2.USAC_MAGSAC`, far better than plain RANSAC here); its length comes from the points the
pair shares with the map (the median ratio of their depths), so the scale stays one scale
along the clip. A small bundle adjustment over the last keyframes (scipy `least_squares`,
analytic sparse Jacobian, Huber loss) then removes most of the drift chaining leaves. Frames
between keyframes are placed against the mapped points (PnP), relative to their keyframe;
without enough mapped points their rotation comes from the tracks and their position is
interpolated between keyframes.

When the parallax never grows while the tracks are lost (the camera only turns), the pair is
*rotation-only*: its rotation is valid, its translation unknown. When too few points can be
tracked (a flat wall, darkness, a cut, blur) the frame is *lost* and a new segment starts as
soon as there is texture again, its scale set from the scene depth seen before.

Coordinates: OpenCV camera axes (x right, y down, z forward); the world is the camera of the
first keyframe; poses are returned camera-to-world. Units are arbitrary (monocular VO has no
metric scale) and are normalised at the end so that the median distance from the camera to
the tracked scene points is 1.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import OptimizeResult, least_squares
from scipy.sparse import csr_matrix
from scipy.spatial.transform import Rotation

log = logging.getLogger(__name__)

OK, ROTATION_ONLY, LOST, NO_TEXTURE, NOT_STARTED = "ok", "rotation_only", "lost", "no_texture", "not_started"
FRAME_STATES = (OK, ROTATION_ONLY, LOST, NO_TEXTURE, NOT_STARTED)  # index = the state code stored per frame


@dataclass(frozen=True)
class OdometrySettings:
    """The thresholds the odometry reads, as plain values: `CameraTrajectoryConfig.odometry()` makes them from the
    `[camera_trajectory]` section, where each one is explained."""

    max_features: int
    min_corner_strength: float
    min_tracks: int
    min_inliers: int
    keyframe_parallax_px: float
    rotation_only_px: float
    keyframe_track_ratio: float
    ransac_px: float
    window_keyframes: int  # 0 switches bundle adjustment off
    bundle_iterations: int


@dataclass
class Trajectory:
    """Per tracked frame: pose, validity and state (one of FRAME_STATES)."""

    times: np.ndarray  # (T,) s from the clip start
    rotations: np.ndarray  # (T, 3, 3) camera-to-world
    positions: np.ndarray  # (T, 3) camera centres, in units of the median scene depth
    valid: np.ndarray  # (T,) bool: the rotation is known
    translation_known: np.ndarray  # (T,) bool: the position is known too (not rotation-only)
    states: list[str]
    keyframes: list[int]
    segments: int  # pieces tracked separately (a new one starts after tracking is lost)


@dataclass
class _Keyframe:
    frame: int
    rotation: np.ndarray  # world-to-camera
    translation: np.ndarray  # world-to-camera
    ids: np.ndarray
    points: np.ndarray  # (n, 2) px
    segment: int
    rotation_only: bool = False

    @property
    def centre(self) -> np.ndarray:
        return -self.rotation.T @ self.translation


@dataclass
class _Observation:
    frame: int
    ids: np.ndarray
    points: np.ndarray


@dataclass
class _Pair:
    rotation: np.ndarray  # keyframe camera -> new camera
    translation: np.ndarray | None  # unit length; None = rotation-only
    # of points triangulated in the keyframe's camera
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # their coordinates in that camera (unit baseline)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole camera matrix from a horizontal field of view, principal point at the centre."""
    focal = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)


class VisualOdometry:
    """Feed frames in time order with `add`, then `finish` for the trajectory."""

    def __init__(self, settings: OdometrySettings, camera: np.ndarray) -> None:
        self.settings = settings
        self.camera = camera
        self.focal = float(camera[0, 0])
        self.inverse_camera = np.linalg.inv(camera)
        self.times: list[float] = []
        self.states: list[str] = []
        self.keyframes: list[_Keyframe] = []
        self.map: dict[int, np.ndarray] = {}  # point id -> world position
        self.relative: dict[
            int, tuple[_Keyframe, np.ndarray, np.ndarray | None]
        ] = {}  # frame -> keyframe, rotation and translation from it
        self.segment = -1
        self.active: _Keyframe | None = None  # last keyframe of the segment being tracked
        self.previous: _Observation | None = None
        self.grey: np.ndarray | None = None
        self.ids = np.zeros(0, np.int64)
        self.points = np.zeros((0, 2), np.float32)
        self.next_id = 0
        self.scene_depth = 1.0
        self.last_rotation = np.eye(3)
        self.last_centre = np.zeros(3)

    # -- tracking -------------------------------------------------------------------------

    def add(self, time_s: float, grey: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Track one grey frame; `mask` (uint8, 0 = ignore) marks regions that move on their own."""
        frame = len(self.times)
        self.times.append(time_s)
        self.states.append(NOT_STARTED)
        if self.grey is not None and len(self.ids):
            self._track(grey, mask)
        self.grey = grey
        if self.active is None:
            self._detect(grey, mask)
            if len(self.ids) >= self.settings.min_tracks:
                self._start_segment(frame)
            else:
                self.states[frame] = NO_TEXTURE if self.segment < 0 or self._few_corners(grey, mask) else LOST
            self.previous = _Observation(frame, self.ids.copy(), self.points.copy())
            return
        self._relate(frame, last=False)
        if len(self.ids) < 0.5 * self.settings.max_features:
            self._detect(grey, mask)
        self.previous = _Observation(frame, self.ids.copy(), self.points.copy())

    def _track(self, grey: np.ndarray, mask: np.ndarray | None) -> None:
        """Pyramidal Lucas-Kanade with a forward-backward check; points entering the mask are dropped."""
        start = self.points.reshape(-1, 1, 2)
        params = {
            "winSize": (21, 21),
            "maxLevel": 3,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
        }
        forward, status, _ = cv2.calcOpticalFlowPyrLK(self.grey, grey, start, None, **params)
        backward, status_back, _ = cv2.calcOpticalFlowPyrLK(grey, self.grey, forward, None, **params)
        moved = forward.reshape(-1, 2)
        good = (
            (status.ravel() == 1)
            & (status_back.ravel() == 1)
            & (np.linalg.norm(backward.reshape(-1, 2) - self.points, axis=1) < 0.5)
        )
        height, width = grey.shape
        good &= (moved[:, 0] >= 0) & (moved[:, 0] < width) & (moved[:, 1] >= 0) & (moved[:, 1] < height)
        if mask is not None and good.any():
            inside = moved[good].astype(np.int32)
            good[np.flatnonzero(good)[mask[inside[:, 1], inside[:, 0]] == 0]] = False
        self.ids, self.points = self.ids[good], moved[good]

    def _corner_strength(self, grey: np.ndarray) -> np.ndarray:
        return cv2.cornerMinEigenVal(grey, 3, 3)

    def _few_corners(self, grey: np.ndarray, mask: np.ndarray | None) -> bool:
        strength = self._corner_strength(grey)
        if mask is not None:
            strength = strength * (mask > 0)
        return int((strength >= self.settings.min_corner_strength).sum()) < self.settings.min_tracks

    def _detect(self, grey: np.ndarray, mask: np.ndarray | None) -> None:
        """Top the tracked points up to `max_features` with strong corners away from the existing ones and the mask."""
        wanted = self.settings.max_features - len(self.ids)
        if wanted < self.settings.max_features * 0.1:
            return
        spacing = max(4, int(grey.shape[1] / 40))
        allowed = np.full(grey.shape, 255, np.uint8) if mask is None else mask.copy()
        for x, y in self.points.astype(np.int32):
            cv2.circle(allowed, (int(x), int(y)), spacing, 0, -1)
        corners = cv2.goodFeaturesToTrack(grey, wanted, 0.01, spacing, mask=allowed, blockSize=3)
        if corners is None:
            return
        corners = corners.reshape(-1, 2)
        strength = self._corner_strength(grey)
        corners = corners[
            strength[corners[:, 1].astype(int), corners[:, 0].astype(int)] >= self.settings.min_corner_strength
        ]
        if not len(corners):
            return
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + len(corners))])
        self.points = np.concatenate([self.points, corners.astype(np.float32)])
        self.next_id += len(corners)

    # -- keyframes --------------------------------------------------------------------------

    def _start_segment(self, frame: int) -> None:
        """A new piece of trajectory: it continues from the last known pose, its scale from the scene depth seen
        so far."""
        self.segment += 1
        self.map = {}  # points of an earlier segment are in a frame this one is not tied to
        rotation = self.last_rotation.T  # world-to-camera
        keyframe = _Keyframe(
            frame, rotation, -rotation @ self.last_centre, self.ids.copy(), self.points.copy(), self.segment
        )
        self.keyframes.append(keyframe)
        self.active = keyframe
        self.states[frame] = OK

    def _relate(self, frame: int, last: bool) -> None:
        """Decide whether this frame becomes a keyframe, and estimate its pose if so."""
        keyframe = self.active
        assert keyframe is not None
        shared, in_key, in_frame = np.intersect1d(keyframe.ids, self.ids, assume_unique=True, return_indices=True)
        lost_tracks = len(shared) < self.settings.min_tracks
        # the tracks ran out between two frames: make the previous frame a keyframe, then try again from it
        if (
            lost_tracks
            and self.previous is not None
            and self.previous.frame > keyframe.frame
            and not last
            and self._keyframe_from_previous()
        ):
            self._relate(frame, last)
            return
        if lost_tracks:
            self._lose(frame)
            return
        forced = last or len(shared) < self.settings.keyframe_track_ratio * len(keyframe.ids)
        key_points = keyframe.points[in_key].astype(np.float64)
        frame_points = self.points[in_frame].astype(np.float64)
        rotation, parallax = self._rotation_fit(key_points, frame_points)
        if parallax < self.settings.keyframe_parallax_px and not forced:
            self._place(frame, keyframe, rotation)
            return
        if parallax < self.settings.rotation_only_px:
            pair = _Pair(rotation, None)
        else:
            pair = self._essential(shared, key_points, frame_points)
            if pair is None:
                if forced:
                    self._lose(frame)
                else:
                    self._place(frame, keyframe, rotation)
                return
        self._add_keyframe(frame, pair, self.ids.copy(), self.points.copy())

    def _place(self, frame: int, keyframe: _Keyframe, rotation: np.ndarray) -> None:
        """Pose of a frame that is not a keyframe, kept relative to its keyframe (which bundle adjustment may still
        move):
        from the mapped points it sees (PnP) when there are enough, else the rotation alone (position interpolated
        later)."""
        self.states[frame] = OK
        self.relative[frame] = (keyframe, rotation, None)
        mapped = [(i, self.map[int(point_id)]) for i, point_id in enumerate(self.ids) if int(point_id) in self.map]
        if len(mapped) < self.settings.min_inliers:
            return
        image = self.points[[i for i, _ in mapped]].astype(np.float64)
        world = np.array([position for _, position in mapped])
        guess_rotation = rotation @ keyframe.rotation
        rvec, tvec = cv2.Rodrigues(guess_rotation)[0], rotation @ keyframe.translation
        try:
            found, rvec, tvec, inliers = cv2.solvePnPRansac(
                world,
                image,
                self.camera,
                None,
                rvec.copy(),
                tvec.reshape(3, 1).copy(),
                useExtrinsicGuess=True,
                iterationsCount=30,
                reprojectionError=2 * self.settings.ransac_px,
                flags=cv2.SOLVEPNP_ITERATIVE,
            )
        except cv2.error:  # degenerate point sets: keep the rotation-only placement
            return
        if not found or inliers is None or len(inliers) < max(8, self.settings.min_inliers // 2):
            return
        rvec, tvec = cv2.solvePnPRefineLM(world[inliers.ravel()], image[inliers.ravel()], self.camera, None, rvec, tvec)
        frame_rotation = cv2.Rodrigues(rvec)[0]
        relative = frame_rotation @ keyframe.rotation.T
        self.relative[frame] = (keyframe, relative, tvec.ravel() - relative @ keyframe.translation)

    def _keyframe_from_previous(self) -> bool:
        previous, keyframe = self.previous, self.active
        assert previous is not None and keyframe is not None
        shared, in_key, in_prev = np.intersect1d(keyframe.ids, previous.ids, assume_unique=True, return_indices=True)
        if len(shared) < self.settings.min_tracks:
            return False
        key_points, prev_points = (
            keyframe.points[in_key].astype(np.float64),
            previous.points[in_prev].astype(np.float64),
        )
        rotation, parallax = self._rotation_fit(key_points, prev_points)
        pair = (
            _Pair(rotation, None)
            if parallax < self.settings.rotation_only_px
            else self._essential(shared, key_points, prev_points)
        )
        if pair is None:
            return False
        self._add_keyframe(previous.frame, pair, previous.ids, previous.points)
        return len(np.intersect1d(previous.ids, self.ids, assume_unique=True)) >= self.settings.min_tracks

    def _lose(self, frame: int) -> None:
        self.states[frame] = LOST
        self.active = None

    def _bearings(self, points: np.ndarray) -> np.ndarray:
        rays = np.column_stack([points, np.ones(len(points))]) @ self.inverse_camera.T
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def _rotation_fit(self, key_points: np.ndarray, frame_points: np.ndarray) -> tuple[np.ndarray, float]:
        """Best pure rotation between two views (Kabsch on bearings, refitted on the better half) and the
        parallax it leaves unexplained (median px): what only a translation can cause."""
        key, new = self._bearings(key_points), self._bearings(frame_points)
        use = np.ones(len(key), bool)
        for _ in range(2):
            u, _, vt = np.linalg.svd(new[use].T @ key[use])
            rotation = u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt
            predicted = key @ rotation.T
            errors = self.focal * np.linalg.norm(predicted[:, :2] / predicted[:, 2:] - new[:, :2] / new[:, 2:], axis=1)
            use = errors <= np.median(errors) * 1.5
        return rotation, float(np.median(errors))

    def _essential(self, ids: np.ndarray, key_points: np.ndarray, frame_points: np.ndarray) -> _Pair | None:
        """Relative pose from the essential matrix (USAC MAGSAC), and the inliers triangulated with a unit baseline."""
        try:
            essential, inliers = cv2.findEssentialMat(
                key_points,
                frame_points,
                self.camera,
                method=cv2.USAC_MAGSAC,
                prob=0.999,
                threshold=self.settings.ransac_px,
            )
            if essential is None or essential.shape[0] < 3:
                return None
            count, rotation, translation, inliers = cv2.recoverPose(
                essential[:3], key_points, frame_points, self.camera, mask=inliers
            )
        except cv2.error:  # degenerate configurations (all points on a line, duplicates)
            return None
        if count < self.settings.min_inliers:
            return None
        keep = inliers.ravel() > 0
        translation = translation.ravel()
        points = self._triangulate(rotation, translation, key_points[keep], frame_points[keep])
        good = _well_triangulated(points, rotation, translation)
        if not good.any():  # no point seen under enough parallax: the direction of travel means nothing
            return _Pair(rotation, None)
        return _Pair(rotation, translation, ids[keep][good], points[good])

    def _triangulate(
        self, rotation: np.ndarray, translation: np.ndarray, key_points: np.ndarray, frame_points: np.ndarray
    ) -> np.ndarray:
        first = self.camera @ np.hstack([np.eye(3), np.zeros((3, 1))])
        second = self.camera @ np.hstack([rotation, translation[:, None]])
        homogeneous = cv2.triangulatePoints(first, second, key_points.T, frame_points.T)
        return (homogeneous[:3] / homogeneous[3]).T

    def _add_keyframe(self, frame: int, pair: _Pair, ids: np.ndarray, points: np.ndarray) -> None:
        keyframe = self.active
        assert keyframe is not None
        rotation = pair.rotation @ keyframe.rotation
        if pair.translation is None:
            translation = -rotation @ keyframe.centre  # same centre as the keyframe
        else:
            scale = self._pair_scale(keyframe, pair)
            translation = pair.rotation @ keyframe.translation + scale * pair.translation
            for point_id, position in zip(pair.ids, pair.points * scale, strict=True):
                if int(point_id) not in self.map:
                    self.map[int(point_id)] = keyframe.rotation.T @ (position - keyframe.translation)
        new = _Keyframe(
            frame,
            rotation,
            translation,
            ids.copy(),
            points.copy(),
            self.segment,
            rotation_only=pair.translation is None,
        )
        self.keyframes.append(new)
        self.active = new
        self.states[frame] = ROTATION_ONLY if new.rotation_only else OK
        if pair.translation is not None and self.settings.window_keyframes:
            self._bundle_adjust()
        self.last_rotation, self.last_centre = new.rotation.T, new.centre
        self._update_scene_depth(new)

    def _pair_scale(self, keyframe: _Keyframe, pair: _Pair) -> float:
        """Length of the pair's translation: the median ratio of mapped to newly triangulated depths of shared
        points."""
        mapped = [(i, self.map[int(point_id)]) for i, point_id in enumerate(pair.ids) if int(point_id) in self.map]
        if len(mapped) >= 8:
            rows = np.array([i for i, _ in mapped])
            in_key = np.array([position for _, position in mapped]) @ keyframe.rotation.T + keyframe.translation
            ratios = in_key[:, 2] / pair.points[rows, 2]
            ratios = ratios[ratios > 0]
            if len(ratios) >= 8:
                return float(np.median(ratios))
        return self.scene_depth / float(np.median(pair.points[:, 2]))

    def _update_scene_depth(self, keyframe: _Keyframe) -> None:
        seen = [self.map[int(i)] for i in keyframe.ids if int(i) in self.map]
        if len(seen) >= 8:
            depths = (np.array(seen) @ keyframe.rotation.T + keyframe.translation)[:, 2]
            depths = depths[depths > 0]
            if len(depths):
                self.scene_depth = float(np.median(depths))

    # -- refinement -------------------------------------------------------------------------

    def _bundle_adjust(self) -> None:
        """Refine the last keyframes of this segment and the points they see, so chaining's drift does not build up."""
        own = [k for k in self.keyframes if k.segment == self.segment]
        if len(own) < 3:
            return
        window = _observations_in_window(*self._window_keyframes(own), self.map)
        if window is None:
            return
        problem = _BundleProblem(window, self.inverse_camera, self.focal)
        result = problem.solve(
            problem.pack(window.free, [self.map[int(i)] for i in window.point_ids]), self.settings.bundle_iterations
        )
        if result is None:
            return
        rotations, translations, points = problem.unpack(result.x)
        for keyframe, rotation, translation in zip(
            window.free, rotations[problem.n_fixed :], translations[problem.n_fixed :], strict=True
        ):
            keyframe.rotation, keyframe.translation = rotation, translation
        self._keep_consistent_points(window, points, np.linalg.norm(result.fun.reshape(-1, 2), axis=1))

    def _window_keyframes(self, own: list[_Keyframe]) -> tuple[list[_Keyframe], list[_Keyframe]]:
        """The last `window_keyframes` of the segment's keyframes to refine, and the two before them, held fixed so
        the window stays tied to the trajectory before it."""
        window = self.settings.window_keyframes
        if len(own) > window:
            return own[-window - 2 : -window], own[-window:]
        return own[:2], own[2:]

    def _keep_consistent_points(self, window: _BundleWindow, points: np.ndarray, errors: np.ndarray) -> None:
        """Store the refined points; drop those a keyframe still sees far from where they project (outlier tracks)."""
        worst = np.zeros(len(window.point_ids))
        np.maximum.at(worst, window.point_index, errors)
        for point_id, position, error in zip(window.point_ids, points, worst, strict=True):
            if error > 4 * self.settings.ransac_px:
                self.map.pop(int(point_id), None)  # an outlier track (a moving object, a bad match)
            else:
                self.map[int(point_id)] = position

    # -- result ---------------------------------------------------------------------------

    def finish(self) -> Trajectory:
        """Relate the last frame, compose every frame's pose from its keyframe's, and normalise the scale."""
        if (
            self.active is not None
            and self.times
            and self.active.frame != len(self.times) - 1
            and self.states[-1] == OK
        ):
            self._relate(len(self.times) - 1, last=True)
        count = len(self.times)
        rotations = np.repeat(np.eye(3)[None], count, axis=0)
        positions = np.zeros((count, 3))
        valid = np.zeros(count, bool)
        translation_known = np.zeros(count, bool)
        states = list(self.states)
        for first, second in zip(self.keyframes, self.keyframes[1:], strict=False):
            if first.segment != second.segment:
                continue
            frames = np.arange(first.frame, second.frame + 1)
            times = np.array(self.times)[frames]
            fraction = (times - times[0]) / max(times[-1] - times[0], 1e-9)
            positions[frames] = first.centre + fraction[:, None] * (second.centre - first.centre)
            translation_known[frames[1:]] = not second.rotation_only
            translation_known[frames[0]] |= not second.rotation_only
            for index in frames[1:]:
                states[index] = ROTATION_ONLY if second.rotation_only else OK
        keyframe_frames = {k.frame for k in self.keyframes}
        for keyframe in self.keyframes:
            rotations[keyframe.frame], positions[keyframe.frame] = keyframe.rotation.T, keyframe.centre
        for frame, (keyframe, relative, shift) in self.relative.items():
            if frame in keyframe_frames:
                continue
            rotation = relative @ keyframe.rotation
            rotations[frame], valid[frame] = rotation.T, True
            if shift is not None:
                positions[frame] = -rotation.T @ (relative @ keyframe.translation + shift)
                translation_known[frame] = True
            elif (
                states[frame] == LOST or not translation_known[frame]
            ):  # after the segment's last keyframe: position unknown
                positions[frame] = keyframe.centre
        segment_sizes = Counter(k.segment for k in self.keyframes)
        referenced = {id(k) for k, _, _ in self.relative.values()}
        for (
            keyframe
        ) in self.keyframes:  # a keyframe alone in its segment, with nothing tracked from it, relates to nothing
            valid[keyframe.frame] = segment_sizes[keyframe.segment] > 1 or id(keyframe) in referenced
        for index in range(count):
            if not valid[index] and states[index] in (OK, ROTATION_ONLY):
                states[index] = (
                    LOST  # tracked after its segment's last keyframe, or a segment that never got a second keyframe
                )
        depth = self._median_depth()
        if depth > 0:
            positions /= depth
        return Trajectory(
            np.array(self.times),
            rotations,
            positions,
            valid,
            translation_known,
            states,
            [k.frame for k in self.keyframes],
            self.segment + 1,
        )

    def _median_depth(self) -> float:
        depths = []
        for keyframe in self.keyframes:
            seen = [self.map[int(i)] for i in keyframe.ids if int(i) in self.map]
            if seen:
                depth = (np.array(seen) @ keyframe.rotation.T + keyframe.translation)[:, 2]
                depths.append(depth[depth > 0])
        joined = np.concatenate(depths) if depths else np.zeros(0)
        return float(np.median(joined)) if len(joined) else 0.0


@dataclass
class _BundleWindow:
    """What one windowed bundle adjustment works on: keyframes and their observations of mapped points."""

    fixed: list[_Keyframe]  # held as they are: they pin the window to the trajectory before it
    free: list[_Keyframe]  # refined
    point_ids: np.ndarray  # (p,) map ids of the refined points
    view_index: np.ndarray  # (n,) per observation: its keyframe, an index into fixed + free
    point_index: np.ndarray  # (n,) per observation: its point, an index into point_ids
    observed: np.ndarray  # (n, 2) per observation: where the keyframe saw the point (px)


def _observations_in_window(
    fixed: list[_Keyframe], free: list[_Keyframe], mapped: dict[int, np.ndarray]
) -> _BundleWindow | None:
    """Where the window's keyframes saw the mapped points that at least two of them see (a point seen once constrains
    nothing); None when nothing is free or fewer than 10 such points remain."""
    point_rows: dict[int, int] = {}  # map point id -> its row among the points seen in the window
    obs_view, obs_point, obs_xy = [], [], []
    for view, keyframe in enumerate(fixed + free):
        for point_id, xy in zip(keyframe.ids, keyframe.points, strict=True):
            position = mapped.get(int(point_id))
            if position is None:
                continue
            point_rows.setdefault(int(point_id), len(point_rows))
            obs_view.append(view)
            obs_point.append(point_rows[int(point_id)])
            obs_xy.append(xy)
    if not point_rows or not free:
        return None
    view_index, point_index = np.array(obs_view), np.array(obs_point)
    counts = np.bincount(point_index, minlength=len(point_rows))
    keep = counts[point_index] >= 2
    view_index, point_index, observed = view_index[keep], point_index[keep], np.array(obs_xy, np.float64)[keep]
    used = np.unique(point_index)
    if len(used) < 10:
        return None
    remap = -np.ones(len(point_rows), np.int64)
    remap[used] = np.arange(len(used))
    return _BundleWindow(fixed, free, np.array(list(point_rows))[used], view_index, remap[point_index], observed)


class _BundleProblem:
    """The window's reprojection error as a function of one parameter vector, and its analytic sparse Jacobian.

    Parameters: per free keyframe a rotation vector `d` and a translation (the rotation is
    refined as a small left update `exp(d) @ chained rotation`, so the start is `d = 0`), then
    every point's world position.
    """

    def __init__(self, window: _BundleWindow, inverse_camera: np.ndarray, focal: float) -> None:
        views = window.fixed + window.free
        self.n_fixed, self.n_free = len(window.fixed), len(window.free)
        self.base = np.array([k.rotation for k in views])
        self.translations0 = np.array([k.translation for k in views])
        self.view_index, self.point_index = window.view_index, window.point_index
        self.normalised = (np.column_stack([window.observed, np.ones(len(window.observed))]) @ inverse_camera.T)[:, :2]
        self.focal = focal
        self.size = 6 * self.n_free + 3 * len(window.point_ids)
        count = len(window.observed)
        self.moving = self.view_index >= self.n_fixed  # observations by a free keyframe
        self.pose_columns = 6 * (self.view_index[self.moving] - self.n_fixed)[:, None] + np.arange(6)
        self.point_columns = 6 * self.n_free + 3 * self.point_index[:, None] + np.arange(3)
        self.residual_rows = np.arange(2 * count).reshape(count, 2)

    def pack(self, free: list[_Keyframe], positions: list[np.ndarray]) -> np.ndarray:
        """The start: no rotation update and the chained translation per free keyframe, then the mapped positions."""
        return np.concatenate(
            [np.concatenate([np.zeros(3), k.translation]) for k in free] + [np.concatenate(positions)]
        )

    def unpack(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World-to-camera rotations and translations of every window keyframe, and the point positions."""
        poses = params[: 6 * self.n_free].reshape(self.n_free, 6)
        rotations = self.base.copy()
        rotations[self.n_fixed :] = Rotation.from_rotvec(poses[:, :3]).as_matrix() @ self.base[self.n_fixed :]
        translations = self.translations0.copy()
        translations[self.n_fixed :] = poses[:, 3:]
        return rotations, translations, params[6 * self.n_free :].reshape(-1, 3)

    def project(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per observation: the point rotated into its keyframe's axes, and its position in that camera."""
        rotations, translations, points = self.unpack(params)
        rotated = np.einsum("nij,nj->ni", rotations[self.view_index], points[self.point_index])
        return rotated, rotated + translations[self.view_index]

    def residuals(self, params: np.ndarray) -> np.ndarray:
        """Reprojection errors (px, x and y per observation)."""
        _, in_camera = self.project(params)
        return (self.focal * (in_camera[:, :2] / np.maximum(in_camera[:, 2:], 1e-6) - self.normalised)).ravel()

    def jacobian(self, params: np.ndarray) -> csr_matrix:
        """d residuals / d params: each observation depends on its keyframe's 6 pose parameters and its point's 3."""
        rotations, _, _ = self.unpack(params)
        rotated, in_camera = self.project(params)
        focal, count = self.focal, len(in_camera)
        z = np.maximum(in_camera[:, 2], 1e-6)
        d_project = np.zeros((count, 2, 3))  # d residual / d camera point
        d_project[:, 0, 0] = d_project[:, 1, 1] = focal / z
        d_project[:, :, 2] = -focal * in_camera[:, :2] / z[:, None] ** 2
        d_rotation = -np.einsum("nij,njk->nik", d_project, _skew(rotated))  # left update of the rotation
        d_pose = np.concatenate([d_rotation, d_project], axis=2)[self.moving]  # (m, 2, 6)
        d_point = np.einsum("nij,njk->nik", d_project, rotations[self.view_index])  # (n, 2, 3)
        data = np.concatenate([d_pose.ravel(), d_point.ravel()])
        rows = self.residual_rows
        row_index = np.concatenate(
            [np.repeat(rows[self.moving], 6, axis=1).ravel(), np.repeat(rows, 3, axis=1).ravel()]
        )
        column_index = np.concatenate(
            [np.tile(self.pose_columns, (1, 2)).ravel(), np.tile(self.point_columns, (1, 2)).ravel()]
        )
        return csr_matrix((data, (row_index, column_index)), shape=(2 * count, self.size))

    def solve(self, start: np.ndarray, iterations: int) -> OptimizeResult | None:
        """Robust (Huber) trust-region least squares from `start`; None for a degenerate window: chained poses stay."""
        try:
            return least_squares(
                self.residuals,
                start,
                jac=self.jacobian,
                method="trf",
                loss="huber",
                f_scale=1.5,
                max_nfev=iterations,
                x_scale="jac",
                tr_solver="lsmr",
            )
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.debug("bundle adjustment skipped: %s", exc)
            return None


def _well_triangulated(
    points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, min_angle_deg: float = 0.5
) -> np.ndarray:
    """In front of both cameras and seen under enough parallax to have a usable depth."""
    second = points @ rotation.T + translation
    centre = -rotation.T @ translation
    to_first = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    to_second = points - centre
    to_second /= np.maximum(np.linalg.norm(to_second, axis=1, keepdims=True), 1e-12)
    angle = np.degrees(np.arccos(np.clip((to_first * to_second).sum(axis=1), -1, 1)))
    return (points[:, 2] > 0) & (second[:, 2] > 0) & (angle >= min_angle_deg)


def _skew(vectors: np.ndarray) -> np.ndarray:
    """(n, 3, 3) cross-product matrices: skew(v) @ w == cross(v, w)."""
    x, y, z = vectors.T
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], axis=1)
