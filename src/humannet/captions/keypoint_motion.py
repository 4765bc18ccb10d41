"""What a clip's keypoint tracks (`{clip_id}.pose.npz`) say for captions: body parts in view,
sub-actions found by segmenting hand motion, which hand moved, and whether the motion repeats.

Sub-actions are spans of hand motion between pauses: the wrist speed (the faster hand, in
frame short sides per second, median-smoothed over 3 samples) is above `move_speed`; pauses
shorter than `min_pause_s` are bridged, spans shorter than `min_action_s` dropped, and a span is
split at a dip where the speed falls below `split_ratio` of the smaller of the peaks on either
side (a change point between two strokes of activity). Speeds are relative to the frame, so a
camera that moves (ego) adds to them; the clip's viewpoint is recorded beside them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

VISIBLE = 0.5
PART_KEYPOINTS = {
    "face": list(range(0, 11)),
    "upper_body": [11, 12],
    "arms": [13, 14],
    "lower_body": [23, 24],
    "legs": [25, 26],
    "feet": [27, 28, 29, 30, 31, 32],
}
BODY_WRISTS = (15, 16)  # left, right


class KeypointMotionConfig(BaseModel, extra="forbid"):
    move_speed: float = Field(
        0.15, gt=0, description="Wrist speed above which a hand counts as moving (frame short sides per second)."
    )
    min_pause_s: float = Field(
        0.4, ge=0, description="Pauses in hand motion shorter than this do not end a sub-action (s)."
    )
    min_action_s: float = Field(0.4, gt=0, description="Shortest sub-action kept (s).")
    split_ratio: float = Field(
        0.35,
        gt=0,
        lt=1,
        description="A sub-action is split where the speed dips below this fraction of the peaks on both sides.",
    )
    part_fraction: float = Field(
        0.2,
        gt=0,
        le=1,
        description="A body part is 'in view' when its keypoints are visible in at least this fraction of samples.",
    )
    repeat_correlation: float = Field(
        0.5, gt=0, le=1, description="Autocorrelation of hand speed at which motion counts as repetitive."
    )


@dataclass(frozen=True, slots=True)
class SubAction:
    start_s: float  # clip-relative
    end_s: float
    hands: str  # left | right | both | unknown
    peak_speed: float


@dataclass(frozen=True)
class KeypointMotion:
    samples: int
    body_parts: list[str]
    hand_samples: int
    sub_actions: list[SubAction]
    repetitive: bool
    period_s: float | None
    repeat_correlation: float | None


def load_pose(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def wrist_tracks(pose: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 2, 2) wrist positions in frame short sides: hand landmark 0 where a hand was found,
    else the body wrist when visible; NaN when neither."""
    width, height = (float(v) for v in pose["frame_size"])
    scale = np.array([width, height]) / min(width, height)
    wrists = pose["hand_image"][:, :, 0, :2].astype(np.float64)
    body = pose["body_image"]
    for slot, keypoint in enumerate(BODY_WRISTS):
        fallback = body[:, keypoint, :2].astype(np.float64)
        ok = np.isnan(wrists[:, slot, 0]) & (np.nan_to_num(body[:, keypoint, 3]) >= VISIBLE)
        wrists[ok, slot] = fallback[ok]
    return wrists * scale


def hand_speeds(times: np.ndarray, wrists: np.ndarray) -> np.ndarray:
    """(T, 2) speed of each wrist at each sample (NaN where not measurable)."""
    speeds = np.full((len(times), 2), np.nan)
    if len(times) < 2:
        return speeds
    dt = np.diff(times)[:, None]
    step = np.linalg.norm(np.diff(wrists, axis=0), axis=2) / np.where(dt > 0, dt, np.nan)
    speeds[1:] = step
    return speeds


def _smooth(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    for i in range(len(values)):
        window = values[max(0, i - 1) : i + 2]
        window = window[~np.isnan(window)]
        out[i] = np.median(window) if window.size else np.nan
    return out


def segment_sub_actions(times: np.ndarray, speeds: np.ndarray, config: KeypointMotionConfig) -> list[SubAction]:
    if len(times) < 3:
        return []
    raw = np.max(np.where(np.isnan(speeds), -np.inf, speeds), axis=1)
    raw[np.isinf(raw)] = np.nan
    combined = _smooth(raw)
    active = np.nan_to_num(combined, nan=0.0) >= config.move_speed
    runs: list[list[int]] = []
    for index in np.flatnonzero(active):
        if runs and times[index] - times[runs[-1][1]] <= config.min_pause_s + 1e-9:
            runs[-1][1] = index
        elif not runs or index != runs[-1][1]:
            runs.append([index, index])
    spans: list[tuple[int, int]] = []
    for first, last in runs:
        spans.extend(_split_at_dips(combined, first, last, config.split_ratio))
    actions = []
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    for first, last in spans:
        start, end = float(times[first]) - step / 2, float(times[last]) + step / 2
        start, end = max(0.0, start), min(float(times[-1]) + step / 2, end)
        if end - start < config.min_action_s:
            continue
        part = speeds[first : last + 1]
        means = [float(np.nanmean(part[:, h])) if np.any(~np.isnan(part[:, h])) else 0.0 for h in (0, 1)]
        if max(means) <= 0:
            hands = "unknown"
        elif min(means) >= 0.5 * max(means):
            hands = "both"
        else:
            hands = "left" if means[0] > means[1] else "right"
        actions.append(
            SubAction(round(start, 3), round(end, 3), hands, round(float(np.nanmax(combined[first : last + 1])), 4))
        )
    return actions


def _split_at_dips(speed: np.ndarray, first: int, last: int, ratio: float) -> list[tuple[int, int]]:
    values = np.nan_to_num(speed[first : last + 1], nan=0.0)
    if len(values) < 5:
        return [(first, last)]
    inner = int(np.argmin(values[1:-1])) + 1
    left_peak, right_peak = values[:inner].max(), values[inner + 1 :].max()
    if values[inner] < ratio * min(left_peak, right_peak) and inner >= 2 and len(values) - inner - 1 >= 2:
        return _split_at_dips(speed, first, first + inner - 1, ratio) + _split_at_dips(
            speed, first + inner + 1, last, ratio
        )
    return [(first, last)]


def periodicity(times: np.ndarray, speeds: np.ndarray, threshold: float) -> tuple[float, float] | None:
    """(period s, autocorrelation) of repeated hand motion when the speed's autocorrelation peaks
    above `threshold` at a lag of 0.3-3 s with at least three periods in the clip; None otherwise."""
    combined = np.nanmax(np.where(np.isnan(speeds), -np.inf, speeds), axis=1) if len(times) else np.array([])
    valid = np.isfinite(combined)
    if valid.sum() < 12:
        return None
    step = float(np.median(np.diff(times)))
    grid = np.arange(times[0], times[-1], step)
    signal = np.interp(grid, times[valid], combined[valid])
    signal = signal - signal.mean()
    if not np.any(signal):
        return None
    full = np.correlate(signal, signal, mode="full")[len(signal) - 1 :]
    full = full / full[0]
    best = None
    for lag in range(max(1, int(0.3 / step)), min(len(full) - 1, int(3.0 / step) + 1)):
        if (
            full[lag] >= threshold
            and full[lag] >= full[lag - 1]
            and full[lag] >= full[lag + 1]
            and lag * step * 3 <= grid[-1] - grid[0] + step
        ):
            best = (lag * step, float(full[lag]))
            break
    return best


def body_parts_in_view(pose: dict[str, np.ndarray], fraction: float) -> list[str]:
    count = len(pose["times"])
    if not count:
        return []
    visibility = np.nan_to_num(pose["body_image"][:, :, 3], nan=0.0)
    parts = []
    for part, keypoints in PART_KEYPOINTS.items():
        if (visibility[:, keypoints] >= VISIBLE).any(axis=1).mean() >= fraction:
            parts.append(part)
    if (pose["hand_score"] > 0).any(axis=1).mean() >= fraction:
        parts.insert(2, "hands")
    order = ["face", "upper_body", "arms", "hands", "lower_body", "legs", "feet"]
    return sorted(parts, key=order.index)


def keypoint_motion(data: bytes, config: KeypointMotionConfig) -> KeypointMotion:
    pose = load_pose(data)
    times = pose["times"].astype(np.float64)
    speeds = hand_speeds(times, wrist_tracks(pose))
    period = periodicity(times, speeds, config.repeat_correlation)
    return KeypointMotion(
        samples=len(times),
        body_parts=body_parts_in_view(pose, config.part_fraction),
        hand_samples=int((pose["hand_score"] > 0).any(axis=1).sum()),
        sub_actions=segment_sub_actions(times, speeds, config),
        repetitive=period is not None,
        period_s=round(period[0], 3) if period else None,
        repeat_correlation=round(period[1], 3) if period else None,
    )
