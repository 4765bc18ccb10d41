"""Exact and near-duplicate detection: per-video perceptual signatures, alignment, and a scalable index.

A video's signature is a sequence of 64-bit perceptual hashes (pHash: the signs of the
low-frequency DCT coefficients of a 32x32 grey thumbnail, against their median), sampled at a
fixed rate in *time*, so frame rate, codec, bit rate and resolution do not change it. Black
letterbox/pillarbox bars are trimmed before hashing, and frames with no structure (black,
uniform, fully faded) are left out: they would make any two videos look alike.

Two signatures match when the shorter video is mostly contained in the longer one at one
time offset (`match_signatures`). `DuplicateIndex` finds candidate pairs without comparing
every pair (locality-sensitive hashing on bands of the hash bits, with votes per time
offset) and verifies them with `match_signatures`; `resolve_duplicates` turns that into
"which copy to keep" with a rule that does not depend on input order.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from humannet.engine.stage import FrameStage
from humannet.records import Frame, Video

log = logging.getLogger(__name__)

HASH_BITS = 64
_THUMB = 32  # side of the grey thumbnail the DCT is taken of
_LOW = 8  # the 8x8 lowest frequencies give the 64 bits
_BAR_MAX_LEVEL = 40  # a row/column with no pixel brighter than this (of 255) is part of a black bar
_BAR_MAX_FRACTION = 0.3  # never trim more than this from one side (bars of 16:9 in 4:3 are 12.5 %)


class DedupConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(True, description="Compute signatures and drop exact and near-duplicate videos.")
    samples_per_second: float = Field(4.0, gt=0, le=30, description="Rate at which frames are hashed for the signature (samples/s).")
    min_frame_std: float = Field(
        6.0, ge=0, description="Frames whose grey thumbnail has a lower standard deviation are uninformative and skipped (grey levels)."
    )
    hamming_threshold: int = Field(
        16, ge=0, le=32, description="Largest Hamming distance (of 64 bits) at which two sampled frames count as the same picture (bits)."
    )
    min_matched_fraction: float = Field(
        0.7, gt=0, le=1, description="Share of the shorter video's informative samples that must match for a near-duplicate (0-1)."
    )
    min_overlap_s: float = Field(1.0, ge=0, description="Matched content needed for a near-duplicate: matched samples / samples_per_second (s).")
    lsh_bands: int = Field(4, ge=1, le=16, description="The 64-bit hash is split into this many bands; sharing one band value makes a candidate.")
    lsh_permutations: int = Field(
        2, ge=1, le=8, description="Band tables built over this many fixed bit permutations; more raises recall of noisy copies (tables)."
    )
    lsh_min_votes: int = Field(
        2, ge=1, description="Distinct query samples that must hit a video at one time offset to verify it (capped at the query's samples)."
    )
    max_offset_candidates: int = Field(16, ge=1, description="Time offsets, best voted first, that alignment verifies per pair (offsets).")


# ---------------------------------------------------------------------------------------------
# Signature


def _leading_run(flags: np.ndarray, limit: int) -> int:
    """How many of the first `limit` flags are set before the first unset one."""
    unset = np.flatnonzero(~flags[:limit])
    return int(unset[0]) if len(unset) else limit


def _trim_dark_bars(grey: np.ndarray) -> np.ndarray:
    """Cut black letterbox/pillarbox bars, so padding a video does not change its hashes."""
    h, w = grey.shape
    rows_dark = cv2.reduce(grey, 1, cv2.REDUCE_MAX).ravel() <= _BAR_MAX_LEVEL
    cols_dark = cv2.reduce(grey, 0, cv2.REDUCE_MAX).ravel() <= _BAR_MAX_LEVEL
    if rows_dark.all():
        return grey  # the whole frame is dark: the uniformity test decides
    row_limit, col_limit = int(h * _BAR_MAX_FRACTION), int(w * _BAR_MAX_FRACTION)
    top, bottom = _leading_run(rows_dark, row_limit), _leading_run(rows_dark[::-1], row_limit)
    left, right = _leading_run(cols_dark, col_limit), _leading_run(cols_dark[::-1], col_limit)
    return grey[top : h - bottom, left : w - right]


def frame_hash(bgr: np.ndarray, min_std: float) -> int | None:
    """64-bit pHash of a frame, or None when the frame is uninformative (uniform, black).

    Bit order puts the DC coefficient first (most significant); its bit is always 0, so every
    hash is in [0, 2**63) and fits a signed 64-bit integer column as is.
    """
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    grey = _trim_dark_bars(grey)
    thumb = cv2.resize(grey, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    if float(cv2.meanStdDev(thumb)[1][0, 0]) < min_std:
        return None
    low = cv2.dct(thumb)[:_LOW, :_LOW].ravel()
    bits = low > np.median(low[1:])
    bits[0] = False
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


@dataclass
class Signature:
    hashes: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    samples: int = 0  # sampled frames, informative or not


class SignatureAccumulator:
    """Hashes the first frame at or after each sampling instant k / samples_per_second."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.period = 1.0 / config.samples_per_second
        self.next_time = 0.0
        self.signature = Signature()

    def add(self, frame: Frame) -> None:
        if frame.time_s + 1e-6 < self.next_time:
            return
        self.signature.samples += 1
        value = frame_hash(frame.small, self.config.min_frame_std)
        if value is not None:
            self.signature.hashes.append(value)
            self.signature.times.append(round(frame.time_s, 4))
        while self.next_time <= frame.time_s + 1e-6:
            self.next_time += self.period

    def finish(self) -> Signature:
        return self.signature


class SignatureStage(FrameStage):
    """Stores `video.signature` (informative hashes, ints in [0, 2**63)) and `video.signature_times` (s)."""

    name: ClassVar[str] = "signature"
    version: ClassVar[str] = "1"

    def __init__(self, config: DedupConfig) -> None:
        self.config = config

    def accumulator(self, video: Video) -> SignatureAccumulator:
        return SignatureAccumulator(self.config)

    def process(self, video: Video) -> Video:
        signature: Signature = video.frame_results[self.name]
        video.signature = list(signature.hashes)
        video.signature_times = list(signature.times)
        if signature.samples and not signature.hashes:
            log.info("%s: no informative frame among %d samples; only exact duplicates can be found", video.uri, signature.samples)
        return video


# ---------------------------------------------------------------------------------------------
# Alignment


@dataclass(frozen=True)
class Match:
    """The shorter video (`a` when `swapped` is False) found inside the longer at `offset_s`."""

    offset_s: float  # time in the longer video = time in the shorter + offset_s
    matched_fraction: float  # matched informative samples of the shorter / all of them
    mean_distance: float  # mean Hamming distance of the matched samples (bits)
    overlap_s: float  # matched samples / samples_per_second
    matched_samples: int
    swapped: bool  # True when b is the shorter video


def _as_hashes(values: Sequence[int]) -> np.ndarray:
    return np.asarray([v & 0xFFFFFFFFFFFFFFFF for v in values], dtype=np.uint64)


def _span(times: np.ndarray) -> float:
    return float(times[-1] - times[0]) if len(times) else 0.0


def _offset_votes(short_h: np.ndarray, short_t: np.ndarray, long_h: np.ndarray, long_t: np.ndarray, config: DedupConfig) -> list[float]:
    """Time offsets proposed by sample pairs within the threshold, most voted first."""
    probes = np.linspace(0, len(short_h) - 1, min(len(short_h), 64)).round().astype(int)
    probes = np.unique(probes)
    distances = np.bitwise_count(short_h[probes, None] ^ long_h[None, :])
    i, j = np.nonzero(distances <= config.hamming_threshold)
    if not len(i):
        return []
    grid = 0.5 / config.samples_per_second
    offsets = np.round((long_t[j] - short_t[probes[i]]) / grid).astype(np.int64)
    # Count distinct probe samples per offset bin, so one static probe hitting many frames votes once.
    pairs = np.unique(np.stack([offsets, probes[i]], axis=1), axis=0)
    bins, votes = np.unique(pairs[:, 0], return_counts=True)
    order = np.lexsort((bins, -votes))[: config.max_offset_candidates]
    return [float(b) * grid for b in bins[order]]


def _score_offset(short_h: np.ndarray, short_t: np.ndarray, long_h: np.ndarray, long_t: np.ndarray, offset: float, period: float) -> np.ndarray:
    """Per short sample: smallest distance to a long sample within one period of its aligned time (65 if none)."""
    aligned = short_t + offset
    best = np.full(len(short_h), HASH_BITS + 1, dtype=np.int64)
    lo = np.searchsorted(long_t, aligned - period - 1e-6, side="left")
    hi = np.searchsorted(long_t, aligned + period + 1e-6, side="right")
    for k in range(int((hi - lo).max(initial=0))):
        idx = lo + k
        valid = idx < hi
        if not valid.any():
            break
        d = np.bitwise_count(short_h[valid] ^ long_h[idx[valid]]).astype(np.int64)
        best[valid] = np.minimum(best[valid], d)
    return best


def match_signatures(
    a_hashes: Sequence[int], a_times: Sequence[float], b_hashes: Sequence[int], b_times: Sequence[float], config: DedupConfig
) -> Match | None:
    """Whether the shorter signature is (mostly) contained in the longer one at some time offset.

    Offsets are proposed by pairs of samples within `hamming_threshold`; each is checked by
    comparing every informative sample of the shorter video with the longer video's samples
    around its aligned time. A match needs `min_matched_fraction` of the shorter video's
    informative samples to agree and `min_overlap_s` of matched content.
    """
    ah, at = _as_hashes(a_hashes), np.asarray(a_times, dtype=np.float64)
    bh, bt = _as_hashes(b_hashes), np.asarray(b_times, dtype=np.float64)
    if not len(ah) or not len(bh):
        return None
    swapped = (_span(bt), len(bt)) < (_span(at), len(at))
    (sh, st), (lh, lt) = ((bh, bt), (ah, at)) if swapped else ((ah, at), (bh, bt))
    period = 1.0 / config.samples_per_second
    best: Match | None = None
    for offset in _offset_votes(sh, st, lh, lt, config):
        distances = _score_offset(sh, st, lh, lt, offset, period)
        matched = distances <= config.hamming_threshold
        count = int(matched.sum())
        if not count:
            continue
        candidate = Match(
            offset_s=round(offset, 4),
            matched_fraction=count / len(sh),
            mean_distance=float(distances[matched].mean()),
            overlap_s=count / config.samples_per_second,
            matched_samples=count,
            swapped=swapped,
        )
        if best is None or (candidate.matched_samples, -candidate.mean_distance) > (best.matched_samples, -best.mean_distance):
            best = candidate
    if best is None or best.matched_fraction < config.min_matched_fraction or best.overlap_s + 1e-9 < config.min_overlap_s:
        return None
    return best
