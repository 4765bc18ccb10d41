"""Absolute trajectory error after a similarity (Sim(3)) alignment, relative to the path length.

Monocular odometry recovers a trajectory only up to rotation, translation and scale, so the
estimate is first aligned to the truth with Umeyama's closed form (least squares over rotation,
translation and scale), then the RMS of the remaining position errors is divided by the true
path length: a scale-free figure that can be compared across paths.
"""

from __future__ import annotations

import numpy as np


def umeyama(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale s, rotation R and translation t minimising sum |target - (s R source + t)|^2 (Umeyama 1991)."""
    mean_source, mean_target = source.mean(axis=0), target.mean(axis=0)
    centred_source, centred_target = source - mean_source, target - mean_target
    covariance = centred_target.T @ centred_source / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ sign @ vt
    variance = (centred_source**2).sum() / len(source)
    scale = float((singular * np.diag(sign)).sum() / variance) if variance > 0 else 1.0
    return scale, rotation, mean_target - scale * rotation @ mean_source


def ate_relative(estimate: np.ndarray, truth: np.ndarray) -> float:
    """RMS position error after Sim(3) alignment, divided by the length of the true path."""
    scale, rotation, translation = umeyama(estimate, truth)
    aligned = scale * estimate @ rotation.T + translation
    rms = float(np.sqrt(((aligned - truth) ** 2).sum(axis=1).mean()))
    length = float(np.linalg.norm(np.diff(truth, axis=0), axis=1).sum())
    return rms / length if length > 0 else float("nan")


def rotation_error_deg(estimate: np.ndarray, truth: np.ndarray) -> float:
    """RMS angle (degrees) between estimated and true camera orientations after aligning the first frames' difference
    away."""
    offset = truth[0] @ estimate[0].T
    relative = np.einsum("nij,njk->nik", np.transpose(truth, (0, 2, 1)), offset @ estimate)
    cos = np.clip((np.trace(relative, axis1=1, axis2=2) - 1) / 2, -1, 1)
    return float(np.degrees(np.sqrt((np.arccos(cos) ** 2).mean())))
