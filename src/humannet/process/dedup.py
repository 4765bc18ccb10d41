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
import os
from array import array
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field, field_validator

from humannet.engine.stage import FrameStage
from humannet.process.probe import file_sha256
from humannet.records import Frame, Status, Video
from humannet.storage import is_remote

log = logging.getLogger(__name__)

HASH_BITS = 64
_THUMB = 32  # side of the grey thumbnail the DCT is taken of
_LOW = 8  # the 8x8 lowest frequencies give the 64 bits
_BAR_MAX_LEVEL = 40  # a row/column with no pixel brighter than this (of 255) is part of a black bar
_BAR_MAX_FRACTION = 0.3  # never trim more than this from one side (bars of 16:9 in 4:3 are 12.5 %)
_SLOT_BITS = 24  # index entries pack (position, sample slot); 2**24 slots at 4/s is 48 days
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_OFFSET_BITS = _SLOT_BITS + 2  # a slot difference, biased to be non-negative, with room for the +-1 spread
_OFFSET_BIAS = 1 << (_SLOT_BITS + 1)
# A matching copy this much shorter than another holds only part of it (a sub-clip): never the one to keep.
# Whole copies of one video differ by a few frames of container duration.
SUBCLIP_MARGIN_S = 1.0
# The hash bits of the odd horizontal frequencies: flipping a frame left-right flips exactly these (`frame_hash`).
MIRROR_MASK = int.from_bytes(np.packbits(np.tile([False, True], _LOW * _LOW // 2)).tobytes(), "big")


class DedupConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(True, description="Compute signatures and drop exact and near-duplicate videos.")
    samples_per_second: float = Field(
        4.0, gt=0, le=30, description="Rate at which frames are hashed for the signature (samples/s)."
    )
    min_frame_std: float = Field(
        6.0,
        ge=0,
        description="Frames whose grey 32x32 thumbnail varies less than this are uninformative, skipped (grey levels).",
    )
    hamming_threshold: int = Field(
        16,
        ge=0,
        le=32,
        description="Largest Hamming distance at which two sampled frames show the same picture (bits of 64).",
    )
    min_matched_fraction: float = Field(
        0.7, gt=0, le=1, description="Share of the shorter video's informative samples that must match (0-1)."
    )
    min_overlap_s: float = Field(
        1.0, ge=0, description="Matched content a near-duplicate needs: matched samples / samples_per_second (s)."
    )
    still_max_distance: float = Field(
        4.0,
        ge=0,
        le=64,
        description="Largest mean distance of a match whose shorter video changes less than that over time (bits).",
    )
    lsh_bands: int = Field(
        4, ge=1, le=16, description="Bands the 64-bit hash is split into for the index; one shared band value is a hit."
    )
    lsh_permutations: int = Field(
        2, ge=1, le=8, description="Bit orders the bands are cut from; more tables find noisier copies (tables)."
    )
    lsh_min_votes: int = Field(
        2,
        ge=1,
        description="Fewest query samples that must hit a stored video at one time offset before it is aligned.",
    )
    lsh_min_vote_fraction: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Also needed: this share of the shorter video's samples hitting at one offset (0-1).",
    )
    max_offset_candidates: int = Field(
        16, ge=1, description="Time offsets, most voted first, that alignment checks per pair."
    )

    @field_validator("lsh_bands")
    @classmethod
    def _divides_hash(cls, bands: int) -> int:
        if HASH_BITS % bands:
            raise ValueError(f"lsh_bands must divide {HASH_BITS} (got {bands})")
        return bands


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
    low = cv2.dct(thumb)[:_LOW, :_LOW]
    even, odd = low[:, 0::2], low[:, 1::2]
    bits = np.empty(low.shape, dtype=bool)
    bits[:, 0::2] = even > np.median(even.ravel()[1:])
    bits[:, 1::2] = odd > 0  # mirror-antisymmetric: a horizontal flip negates these, and only these
    bits[0, 0] = False
    return int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big")


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
    version: ClassVar[str] = "2"
    config_sections: ClassVar[tuple[str, ...]] = ("dedup",)
    writes: ClassVar[tuple[str, ...]] = ("signature", "signature_times")

    def __init__(self, config: DedupConfig) -> None:
        self.config = config

    def accumulator(self, video: Video) -> SignatureAccumulator:
        return SignatureAccumulator(self.config)

    def process(self, video: Video) -> Video:
        signature: Signature = video.frame_results[self.name]
        video.signature = list(signature.hashes)
        video.signature_times = list(signature.times)
        if signature.samples and not signature.hashes:
            log.info(
                "%s: no informative frame in %d samples; only exact duplicates can be found",
                video.uri,
                signature.samples,
            )
        return video


# ---------------------------------------------------------------------------------------------
# Alignment


@dataclass(frozen=True)
class Match:
    """The shorter video (`a` when `swapped` is False) found inside the longer at `offset_s`, maybe mirrored."""

    offset_s: float  # time in the longer video = time in the shorter + offset_s
    matched_fraction: float  # matched informative samples of the shorter / all of them
    mean_distance: float  # mean Hamming distance of the matched samples (bits)
    overlap_s: float  # matched samples / samples_per_second
    matched_samples: int
    swapped: bool  # True when b is the shorter video
    mirrored: bool = False  # True when one is the left-right mirror image of the other


def _as_hashes(values: Sequence[int]) -> np.ndarray:
    return np.asarray([v & 0xFFFFFFFFFFFFFFFF for v in values], dtype=np.uint64)


def _span(times: np.ndarray) -> float:
    return float(times[-1] - times[0]) if len(times) else 0.0


def _offset_votes(
    short_h: np.ndarray, short_t: np.ndarray, long_h: np.ndarray, long_t: np.ndarray, config: DedupConfig
) -> list[float]:
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


def _score_offset(
    short_h: np.ndarray, short_t: np.ndarray, long_h: np.ndarray, long_t: np.ndarray, offset: float, period: float
) -> np.ndarray:
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


def _content_spread(hashes: np.ndarray) -> float:
    """Median distance between a video's own samples (up to 64 of them, evenly spaced): how much its picture changes."""
    picked = hashes[np.unique(np.linspace(0, len(hashes) - 1, min(len(hashes), 64)).round().astype(int))]
    if len(picked) < 2:
        return 0.0
    distances = np.bitwise_count(picked[:, None] ^ picked[None, :])
    return float(np.median(distances[np.triu_indices(len(picked), 1)]))


def match_signatures(
    a_hashes: Sequence[int],
    a_times: Sequence[float],
    b_hashes: Sequence[int],
    b_times: Sequence[float],
    config: DedupConfig,
) -> Match | None:
    """Whether the shorter signature is (mostly) contained in the longer one at some time offset.

    Offsets are proposed by pairs of samples within `hamming_threshold`; each is checked by
    comparing every informative sample of the shorter video with the longer video's samples
    around its aligned time. The shorter video is tried as it is and mirrored left-right
    (`MIRROR_MASK`). A match needs `min_matched_fraction` of the shorter video's
    informative samples to agree and `min_overlap_s` of matched content.

    A still video (a slide, a UI, a fixed empty view) matches any other take of the same
    picture at every offset, so time alignment proves nothing for it: its samples must then be
    as close to the other video's as they are to each other, or within `still_max_distance`.
    """
    ah, at = _as_hashes(a_hashes), np.asarray(a_times, dtype=np.float64)
    bh, bt = _as_hashes(b_hashes), np.asarray(b_times, dtype=np.float64)
    if not len(ah) or not len(bh):
        return None
    swapped = (_span(bt), len(bt)) < (_span(at), len(at))
    (sh, st), (lh, lt) = ((bh, bt), (ah, at)) if swapped else ((ah, at), (bh, bt))
    period = 1.0 / config.samples_per_second
    best: Match | None = None
    for mirrored in (False, True):
        oriented = sh ^ np.uint64(MIRROR_MASK) if mirrored else sh
        for offset in _offset_votes(oriented, st, lh, lt, config):
            distances = _score_offset(oriented, st, lh, lt, offset, period)
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
                mirrored=mirrored,
            )
            if best is None or (candidate.matched_samples, -candidate.mean_distance) > (
                best.matched_samples,
                -best.mean_distance,
            ):
                best = candidate
    if (
        best is None
        or best.matched_fraction < config.min_matched_fraction
        or best.overlap_s + 1e-9 < config.min_overlap_s
        or best.mean_distance > max(config.still_max_distance, _content_spread(sh))
    ):
        return None
    return best


# ---------------------------------------------------------------------------------------------
# Index and resolution


@dataclass(frozen=True)
class DedupEntry:
    """What deduplication needs to know about one video; `uri` is its key."""

    uri: str
    sha256: str | None
    signature: Sequence[int] = ()
    signature_times: Sequence[float] = ()
    duration_s: float = 0.0
    pixels: int = 0  # width * height
    fps: float = 0.0
    fps_variable: bool = False
    bit_rate: int | None = None
    video_id: str | None = None

    @classmethod
    def from_video(cls, video: Video) -> DedupEntry:
        probe = video.probe
        return cls(
            uri=video.uri,
            sha256=video.sha256,
            signature=tuple(video.signature),
            signature_times=tuple(video.signature_times),
            duration_s=probe.duration_s if probe else 0.0,
            pixels=probe.width * probe.height if probe else 0,
            fps=probe.fps if probe else 0.0,
            fps_variable=probe.fps_variable if probe else False,
            bit_rate=probe.bit_rate if probe else None,
            video_id=video.video_id,
        )

    @property
    def keep_priority(self) -> tuple[int, int, bool, int, str]:
        """Sort key among whole copies: the copy to keep comes first.

        More pixels, then a higher frame rate, a constant over a variable frame rate, a higher
        bit rate, and the smaller uri. Frame rates are compared in whole frames per second:
        29.97 is 30 fps, and must not outrank a constant rate. Sub-clips are decided before
        this (`resolve_duplicates`).
        """
        return (
            -self.pixels,
            -round(self.fps),
            self.fps_variable,
            -(self.bit_rate or 0),
            self.uri,
        )


def _band_keys(hashes: np.ndarray, config: DedupConfig) -> np.ndarray:
    """(samples, tables) band values; table t covers band t % bands of bit permutation t // bands."""
    bits = np.unpackbits(hashes.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
    width = HASH_BITS // config.lsh_bands
    weights = (1 << np.arange(width - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)
    columns = []
    for p in range(config.lsh_permutations):
        order = np.arange(HASH_BITS) if p == 0 else np.random.default_rng(p).permutation(HASH_BITS)
        permuted = bits[:, order]
        for band in range(config.lsh_bands):
            chunk = permuted[:, band * width : (band + 1) * width].astype(np.uint64)
            columns.append(chunk @ weights)
    return np.stack(columns, axis=1) if columns else np.zeros((len(hashes), 0), dtype=np.uint64)


class DuplicateIndex:
    """Finds exact (same sha256) and near duplicates of a video among the entries added so far.

    Candidates come from locality-sensitive hashing: every informative sample is filed under
    each band of its hash (over `lsh_permutations` bit orders); a stored video becomes a
    candidate when enough distinct query samples hit it at one time offset. Only
    candidates are aligned with `match_signatures`, so a query costs about its samples times
    the bucket sizes, not the corpus size. Load it with the entries of an existing corpus to
    deduplicate new inputs against earlier runs.
    """

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.entries: list[DedupEntry] = []
        self._informative: list[int] = []  # informative samples per stored entry
        self._by_sha: dict[str, list[int]] = defaultdict(list)
        # One table per (permutation, band): band value -> packed (position << _SLOT_BITS | sample slot).
        self._tables: list[dict[int, array]] = [{} for _ in range(config.lsh_bands * config.lsh_permutations)]

    def __len__(self) -> int:
        return len(self.entries)

    def _slots(self, times: Sequence[float]) -> np.ndarray:
        """Sample times on the sampling grid (non-negative ints), which is also the grid offsets are voted on."""
        return np.clip(
            np.round(np.asarray(times, dtype=np.float64) * self.config.samples_per_second), 0, _SLOT_MASK
        ).astype(np.int64)

    def add(self, entry: DedupEntry) -> None:
        position = len(self.entries)
        self.entries.append(entry)
        self._informative.append(len(entry.signature))
        if entry.sha256:
            self._by_sha[entry.sha256].append(position)
        if not entry.signature:
            return
        keys = _band_keys(_as_hashes(entry.signature), self.config).tolist()
        packed = ((position << _SLOT_BITS) | self._slots(entry.signature_times)).tolist()
        for sample_keys, value in zip(keys, packed, strict=True):
            for table, key in zip(self._tables, sample_keys, strict=True):
                bucket = table.get(key)
                if bucket is None:
                    table[key] = bucket = array("q")
                bucket.append(value)

    def candidates(self, entry: DedupEntry) -> list[int]:
        """Positions of stored entries hit by enough distinct query samples at one time offset (+-1 slot).

        The query is looked up as it is and mirrored left-right. Chance band collisions grow with
        both videos' lengths, true ones with the overlap, so the votes needed scale with the
        shorter video (`lsh_min_vote_fraction`, at least `lsh_min_votes`).
        """
        if not entry.signature:
            return []
        hashes = _as_hashes(entry.signature)
        slots = self._slots(entry.signature_times).tolist()
        found: set[int] = set()
        for oriented in (hashes, hashes ^ np.uint64(MIRROR_MASK)):
            found.update(self._voted(oriented, slots))
        return sorted(found)

    def _voted(self, hashes: np.ndarray, slots: list[int]) -> list[int]:
        keys = _band_keys(hashes, self.config).tolist()
        pair_keys, samples = [], []  # per band hit: (stored position, offset in slots) packed in one int, query sample
        for sample, (sample_keys, slot) in enumerate(zip(keys, slots, strict=True)):
            for table, key in zip(self._tables, sample_keys, strict=True):
                bucket = table.get(key)
                if bucket is not None:
                    packed = np.frombuffer(bucket, dtype=np.int64)
                    offsets = (packed & _SLOT_MASK) - slot + _OFFSET_BIAS
                    pair_keys.append(((packed >> _SLOT_BITS) << _OFFSET_BITS) | offsets)
                    samples.append(np.full(len(packed), sample, dtype=np.int64))
        if not pair_keys:
            return []
        # A sample a slot away from the voted offset still counts for it (sampling jitter, offsets between slots).
        key_column = np.concatenate([np.concatenate(pair_keys) + shift for shift in (-1, 0, 1)])
        sample_column = np.tile(np.concatenate(samples), 3)
        order = np.lexsort((sample_column, key_column))
        key_column, sample_column = key_column[order], sample_column[order]
        distinct = np.ones(len(key_column), dtype=bool)
        distinct[1:] = (np.diff(key_column) != 0) | (np.diff(sample_column) != 0)
        bins, votes = np.unique(key_column[distinct], return_counts=True)
        positions = bins >> _OFFSET_BITS
        stored_counts = np.asarray(self._informative, dtype=np.int64)[positions]
        shorter = np.minimum(stored_counts, len(hashes))
        needed = np.minimum(
            np.maximum(self.config.lsh_min_votes, np.ceil(self.config.lsh_min_vote_fraction * shorter)), shorter
        )
        return [int(p) for p in positions[votes >= needed]]

    def find(self, entry: DedupEntry) -> list[tuple[DedupEntry, Match | None]]:
        """Stored entries that `entry` duplicates: same sha256 (match None) or a verified near match."""
        exact = set(self._by_sha.get(entry.sha256, ())) if entry.sha256 else set()
        found: list[tuple[DedupEntry, Match | None]] = [(self.entries[p], None) for p in sorted(exact)]
        for position in self.candidates(entry):
            if position in exact:
                continue
            other = self.entries[position]
            match = match_signatures(
                entry.signature, entry.signature_times, other.signature, other.signature_times, self.config
            )
            if match is not None:
                found.append((other, match))
        return found


def _is_subclip(entry: DedupEntry, of: DedupEntry) -> bool:
    return of.duration_s - entry.duration_s > SUBCLIP_MARGIN_S


def resolve_duplicates(
    entries: Iterable[DedupEntry], existing: Iterable[DedupEntry] = (), config: DedupConfig | None = None
) -> dict[str, str]:
    """Map the uri of every duplicate input to the uri of the copy that is kept.

    Entries of `existing` (already in the corpus) are always kept. New entries are visited
    best copy first (`DedupEntry.keep_priority`). One that matches kept copies which are all
    sub-clips of it (shorter by more than `SUBCLIP_MARGIN_S`, and new) replaces them: it is
    kept, and they and their duplicates map to it. Otherwise it maps to the best kept copy
    it matches that is not a sub-clip of it (existing ones first), or is kept itself when it
    matches none. Every duplicate therefore points at a kept copy that it, or a sub-clip of that
    copy, really matches, and the result does not depend on the order of the inputs.
    """
    config = config or DedupConfig()
    index = DuplicateIndex(config)
    existing = sorted(existing, key=lambda e: e.keep_priority)
    rank: dict[str, int] = {}  # kept (or replaced) uri -> visiting order; existing ones first
    for entry in existing:
        index.add(entry)
        rank.setdefault(entry.uri, len(rank))
    always_kept = set(rank)
    new = sorted(entries, key=lambda e: e.keep_priority)
    if len({e.uri for e in new}) != len(new):
        raise ValueError("resolve_duplicates needs unique uris")
    by_uri = {e.uri: e for e in [*existing, *new]}
    duplicates: dict[str, str] = {}
    for entry in new:
        if entry.uri in rank:
            log.debug("%s is already in the corpus; not deduplicated again", entry.uri)
            continue
        found = {duplicates.get(hit.uri, hit.uri): match for hit, match in index.find(entry)}  # hits on replaced ones
        if not found:
            index.add(entry)
            rank[entry.uri] = len(rank)
            continue
        parts = {uri for uri in found if uri not in always_kept and _is_subclip(by_uri[uri], entry)}
        if parts == set(found):
            index.add(entry)
            rank[entry.uri] = len(rank)
            for uri, keeper in list(duplicates.items()):
                if keeper in parts:
                    duplicates[uri] = entry.uri
            for uri in sorted(parts):
                duplicates[uri] = entry.uri
                log.info("%s is a sub-clip of %s (%s)", uri, entry.uri, found[uri])
            continue
        keeper = min(set(found) - parts, key=rank.__getitem__)
        duplicates[entry.uri] = keeper
        match = found[keeper]
        log.info("%s duplicates %s (%s)", entry.uri, keeper, "same sha256" if match is None else match)
    return duplicates


def set_aside_exact_copies(todo: Sequence[Video], analysed: Iterable[Video]) -> tuple[list[Video], dict[str, str]]:
    """Split `todo` into the videos to analyse and the exact copies (same bytes) that need no decoding at all.

    A copy of a video already analysed (`analysed`, not failed) maps to it; among copies within
    `todo`, the smallest uri is analysed (whole copies tie on every other part of `keep_priority`).
    Only local files whose size equals another's are hashed here: files of different sizes cannot
    hold the same bytes. Remote inputs are left to `drop_duplicates` after analysis. Returns the
    videos to analyse and, for each copy set aside (its `sha256` filled in), the uri of its keeper.
    """
    known = [v for v in analysed if v.sha256 and v.status is not Status.FAILED and v.duplicate_of is None]
    sizes = Counter(v.probe.size_bytes for v in known if v.probe is not None)
    local_sizes = {v.uri: os.stat(_local_path(v.uri)).st_size for v in todo if _is_local_file(v.uri)}
    sizes.update(local_sizes.values())
    keeper_of = {v.sha256: v.uri for v in sorted(known, key=lambda v: v.uri)[::-1]}  # the smallest uri wins a tie
    copies: dict[str, str] = {}
    for video in sorted(todo, key=lambda v: v.uri):
        if sizes[local_sizes.get(video.uri, -1)] < 2:
            continue
        video.sha256 = file_sha256(_local_path(video.uri))
        keeper = keeper_of.setdefault(video.sha256, video.uri)
        if keeper != video.uri:
            copies[video.uri] = keeper
    return [v for v in todo if v.uri not in copies], copies


def mark_exact_copy(copy: Video, keeper: Video) -> None:
    """Drop a copy set aside by `set_aside_exact_copies`; it takes the keeper's probe (the bytes are the same)."""
    assert copy.sha256 is not None
    copy.probe = keeper.probe
    copy.video_id = copy.sha256[:16]
    copy.duplicate_of = keeper.video_id or copy.video_id
    copy.drop(f"exact_duplicate: of {keeper.uri}")


def _is_local_file(uri: str) -> bool:
    return not is_remote(uri) and os.path.isfile(_local_path(uri))


def _local_path(uri: str) -> str:
    return uri.removeprefix("file://")


def drop_duplicates(
    videos: Sequence[Video], existing_uris: Collection[str] = (), config: DedupConfig | None = None
) -> int:
    """Mark each video that duplicates another as dropped (`exact_duplicate` / `near_duplicate`), with `duplicate_of`.

    Videos whose uri is in `existing_uris` (already in the corpus's shards) are always kept.
    Videos dropped by a filter take part: a copy that is too short or blurry is still a copy,
    and its record should say of what. Failed videos take no part, nor do copies already set
    aside before decoding (`set_aside_exact_copies`: `duplicate_of` set). Returns how many were dropped.
    """
    analysed = {
        v.uri: v for v in videos if v.status is not Status.FAILED and v.probe is not None and v.duplicate_of is None
    }
    entries = [DedupEntry.from_video(v) for v in analysed.values()]
    existing = [e for e in entries if e.uri in existing_uris]
    duplicates = resolve_duplicates([e for e in entries if e.uri not in existing_uris], existing, config)
    for uri, keeper_uri in duplicates.items():
        video, keeper = analysed[uri], analysed[keeper_uri]
        kind = "exact_duplicate" if video.sha256 and video.sha256 == keeper.sha256 else "near_duplicate"
        video.status = Status.KEPT  # the duplicate reason replaces any filter reason
        video.duplicate_of = keeper.video_id
        video.drop(f"{kind}: of {keeper.uri}")
    return len(duplicates)
