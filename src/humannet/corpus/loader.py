"""Stream a corpus into training: decoded frames at a chosen rate and size, keypoints at those frames, captions and
labels.

    from humannet.corpus.loader import ClipLoader
    for sample in ClipLoader("corpus/", fps=8, size=(112, 112), num_frames=16, where="viewpoint = 'ego'"):
        sample["frames"]          # (T, H, W, 3) uint8 RGB
        sample["keypoints"]       # {"body_image": (T, 33, 4), "hand_image": (T, 2, 21, 3), ...} at the frame times

With PyTorch (imported only when asked for):

    from humannet.corpus.loader import ClipDataset, collate_clips
    loader = torch.utils.data.DataLoader(ClipDataset("corpus/", fps=8, size=(112, 112), num_frames=16),
                                         batch_size=8, num_workers=4, collate_fn=collate_clips)

Work is split between consumers (distributed ranks x DataLoader workers) so that every selected
clip is read by exactly one of them: whole shards when there are at least as many shards as
consumers (each consumer opens only its own shards), single clips otherwise. Clips are selected
from the index, so a DuckDB predicate over the `clips` view filters them before any shard is opened.
Several corpora (the parts of a corpus curated in batches, local or on a store) are read as one:
`ClipLoader(["part-1/", "s3://bucket/part-2"])`.
"""

from __future__ import annotations

import io
import json
import logging
import random
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from humannet import HumannetError
from humannet.corpus.reader import Corpus, open_corpus, select_problem

log = logging.getLogger(__name__)

INDEX_ONLY = frozenset(
    {"clip_id", "video_id", "shard", "start_s", "end_s", "duration_s", "start_frame", "end_frame", "scene_index"}
)


class LoaderError(HumannetError, ValueError):
    """The loader cannot start: bad corpus, bad predicate or bad options; the message says which."""


@dataclass(frozen=True)
class ClipRef:
    clip_id: str
    shard: str
    row: dict[str, Any]  # the clip's index row
    part: int = 0  # which of the loader's corpora holds it

    @property
    def shard_key(self) -> tuple[int, str]:
        """The shard, told apart from same-named shards of the other corpora."""
        return self.part, self.shard


@dataclass
class Skipped:
    """What one pass of a loader could not read: training goes on past a few bad shards, but says so."""

    clips: int = 0  # selected clips not read (in unreadable shards, or failing on their own)
    shards: dict[str, str] = field(default_factory=dict)  # unreadable shard -> why

    def describe(self, of: int) -> str:
        where = "; ".join(f"{shard} ({why})" for shard, why in self.shards.items())
        return f"skipped {self.clips} of {of} clips" + (
            f", {len(self.shards)} unreadable shards: {where}" if where else ""
        )


def select_clips(corpus: Corpus, where: str | None = None, part: int = 0) -> list[ClipRef]:
    """Materialised clips of the index matching the DuckDB predicate, in (shard, clip_id) order."""
    import duckdb

    predicate = f"({where})" if where and where.strip() else "true"
    sql = f"SELECT * FROM clips WHERE shard IS NOT NULL AND {predicate} ORDER BY shard, clip_id"
    try:
        problem = select_problem(sql)
        if problem is not None:
            raise LoaderError(f"where {where!r}: not a predicate ({problem})")
        table = corpus.connect().sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise LoaderError(f"where {where!r}: {exc}") from None
    return [ClipRef(row["clip_id"], row["shard"], row, part) for row in table.to_pylist()]


def assign(clips: list[ClipRef], consumer: int, consumers: int) -> list[ClipRef]:
    """This consumer's share: every clip goes to exactly one of `consumers` (whole shards when there are enough)."""
    if not 0 <= consumer < consumers:
        raise LoaderError(f"consumer {consumer} is outside 0..{consumers - 1}")
    shards = sorted({c.shard_key for c in clips})
    if len(shards) >= consumers:
        mine = set(shards[consumer::consumers])
        return [c for c in clips if c.shard_key in mine]
    return clips[consumer::consumers]


def decode_frames(mp4: bytes, fps: float, size: int | tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames at `fps` (the source frame nearest each time k/fps) as (T, H, W, 3) uint8 RGB, and their times.

    `size` is (width, height), or an int for the short side (aspect kept, even sizes), or None (as stored).
    """
    import av

    frames: list[np.ndarray] = []
    times: list[float] = []
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or fps)
        half = 0.5 / rate
        target = 0
        for frame in container.decode(stream):
            shown = float(frame.time or 0.0)
            picture = None
            while target / fps < shown + half:
                if picture is None:
                    width, height = _output_size(frame.width, frame.height, size)
                    picture = frame.reformat(width=width, height=height, format="rgb24", threads=1).to_ndarray()
                frames.append(picture)
                times.append(target / fps)
                target += 1
    if not frames:
        raise ValueError("no decodable frame")
    return np.stack(frames), np.asarray(times)


def _output_size(width: int, height: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        return width, height
    if isinstance(size, int):
        scale = size / min(width, height)
        return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    return int(size[0]), int(size[1])


def resample(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of per-sample arrays to the times `at`; clamped at the ends; NaN stays NaN.

    A value between a measured sample and a missing one (NaN) is NaN: the loader never invents a
    keypoint where the detector saw none.
    """
    if len(times) == 0:
        return np.full((len(at), *values.shape[1:]), np.nan, dtype=np.float32)
    if len(times) == 1:
        return np.repeat(values[:1].astype(np.float32), len(at), axis=0)
    right = np.clip(np.searchsorted(times, at, side="right"), 1, len(times) - 1)
    left = right - 1
    span = times[right] - times[left]
    weight = np.clip((at - times[left]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    weight = weight.reshape(-1, *([1] * (values.ndim - 1)))
    before, after = values[left], values[right]
    with np.errstate(invalid="ignore"):
        mixed = np.where(
            weight <= 0.0, before, np.where(weight >= 1.0, after, before * (1.0 - weight) + after * weight)
        )
    return mixed.astype(np.float32)


def keypoints_at(pose_npz: bytes, at: np.ndarray) -> dict[str, np.ndarray]:
    """Every per-sample array of a `{clip_id}.pose.npz` (body_image, hand_image, ...) resampled to the times `at`."""
    with np.load(io.BytesIO(pose_npz), allow_pickle=False) as data:
        times = np.asarray(data["times"], dtype=np.float64)
        return {
            name: resample(times, np.asarray(data[name], dtype=np.float32), at)
            for name in data.files
            if name != "times"
            and data[name].ndim >= 1
            and len(data[name]) == len(times)
            and np.issubdtype(data[name].dtype, np.number)
        }


class ClipLoader:
    """Iterate over a corpus's clips as decoded training samples (no PyTorch needed).

    `rank`/`world_size` and `worker_id`/`num_workers` say which share of the clips this iterator
    reads; the defaults read everything. `num_frames` cuts each clip into consecutive windows of
    that many frames (a clip shorter than one window gives one window padded with its last frame,
    `frame_mask` marks the real frames); without it each clip is one sample of all its frames.

    A clip that cannot be read (its shard is missing or corrupt, its video does not decode) is skipped with a warning
    and counted in `skipped`; once more than `max_skipped` (a share of this iterator's clips) are skipped, iteration
    stops with LoaderError, so a corpus that is mostly unreadable never trains quietly on what is left.
    """

    def __init__(
        self,
        corpus: str | Path | Corpus | Sequence[str | Path | Corpus],
        *,
        fps: float = 8.0,
        size: int | tuple[int, int] | None = None,
        num_frames: int | None = None,
        where: str | None = None,
        keypoints: bool = True,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        worker_id: int = 0,
        num_workers: int = 1,
        max_skipped: float = 0.05,
    ) -> None:
        if fps <= 0:
            raise LoaderError(f"fps must be positive, got {fps}")
        if num_frames is not None and num_frames < 1:
            raise LoaderError(f"num_frames must be at least 1, got {num_frames}")
        if world_size < 1 or num_workers < 1:
            raise LoaderError(f"world_size and num_workers must be at least 1, got {world_size} and {num_workers}")
        if not 0 <= max_skipped <= 1:
            raise LoaderError(f"max_skipped is a share of the clips, 0-1, got {max_skipped}")
        self.max_skipped = max_skipped
        self.skipped = Skipped()  # of the current (or last) pass
        self.corpora = open_corpora(corpus)
        self.fps, self.size, self.num_frames, self.keypoints = fps, size, num_frames, keypoints
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.rank, self.world_size, self.worker_id, self.num_workers = rank, world_size, worker_id, num_workers
        self.clips = [clip for part, opened in enumerate(self.corpora) for clip in select_clips(opened, where, part)]
        schema = pa.unify_schemas([opened.schema("clips") for opened in self.corpora], promote_options="permissive")
        self.label_columns = [f.name for f in schema if f.name not in INDEX_ONLY and _is_label(f.type)]
        self.score_columns = [f.name for f in schema if f.name not in INDEX_ONLY and pa.types.is_floating(f.type)]

    def set_epoch(self, epoch: int) -> None:
        """With shuffle, each epoch gets its own order (the same on every rank for the same seed)."""
        self.epoch = epoch

    def my_clips(self) -> list[ClipRef]:
        consumer = self.rank * self.num_workers + self.worker_id
        clips = assign(self.clips, consumer, self.world_size * self.num_workers)
        if self.shuffle:
            order = random.Random(self.seed * 1_000_003 + self.epoch)
            shards = sorted({c.shard_key for c in clips})
            order.shuffle(shards)
            by_shard = {s: [c for c in clips if c.shard_key == s] for s in shards}
            clips = []
            for shard in shards:
                order.shuffle(by_shard[shard])
                clips.extend(by_shard[shard])
        return clips

    def __iter__(self) -> Iterator[dict[str, Any]]:
        clips = self.my_clips()
        self.skipped = Skipped()
        current: tuple[int, str] | None = None
        readable = False
        for clip in clips:
            if clip.shard_key != current:
                current = clip.shard_key
                readable = self._readable(clip)
            if not readable:
                self._skip(len(clips))
                continue
            try:
                yield from self._samples(clip)
            except Exception as exc:  # one bad clip never stops training
                log.warning("skipping clip %s (%s): %s: %s", clip.clip_id, clip.shard, type(exc).__name__, exc)
                self._skip(len(clips))
        if self.skipped.clips:
            log.warning("%s", self.skipped.describe(len(clips)))

    def _skip(self, total: int) -> None:
        """Count one skipped clip; LoaderError once more than `max_skipped` of the `total` clips are."""
        self.skipped.clips += 1
        if self.skipped.clips > self.max_skipped * total:
            raise LoaderError(
                f"{self.skipped.describe(total)}: more than max_skipped={self.max_skipped:.0%} of the clips; "
                "check the corpus (or raise max_skipped)"
            )

    def _readable(self, clip: ClipRef) -> bool:
        """Whether the clip's shard can be read (the reader then keeps its member table); warns once if not."""
        corpus = self.corpora[clip.part]
        try:
            corpus.shard_members(clip.shard, strict=True)
            return True
        except (OSError, tarfile.TarError) as exc:
            log.warning("skipping shard %s/%s: %s", corpus.location, clip.shard, exc)
            self.skipped.shards[f"{corpus.location}/{clip.shard}"] = f"{type(exc).__name__}: {exc}"
            return False

    def _samples(self, clip: ClipRef) -> Iterator[dict[str, Any]]:
        suffixes = ("mp4", "json", "pose.npz") if self.keypoints else ("mp4", "json")
        found = self.corpora[clip.part].read_members(clip.shard, [f"{clip.clip_id}.{s}" for s in suffixes])
        mp4 = found.get(f"{clip.clip_id}.mp4")
        if mp4 is None:
            raise FileNotFoundError(f"{clip.clip_id}.mp4 is not in the shard")
        frames, times = decode_frames(mp4, self.fps, self.size)
        stored = json.loads(found.get(f"{clip.clip_id}.json") or b"{}")
        pose = found.get(f"{clip.clip_id}.pose.npz")
        keypoints = keypoints_at(pose, times) if pose is not None else {}
        row = clip.row
        labels = {**stored.get("labels", {}), **{c: row[c] for c in self.label_columns if row.get(c) is not None}}
        base = {
            "clip_id": clip.clip_id,
            "video_id": row["video_id"],
            "caption": row.get("caption_short") or _caption_text(stored.get("caption")),
            "labels": labels,
            "scores": {c: row[c] for c in self.score_columns if row.get(c) is not None},
            "metadata": stored,
        }
        for start, stop in self._windows(len(frames)):
            index = np.minimum(np.arange(start, stop), len(frames) - 1)
            yield {
                **base,
                "frames": frames[index],
                "frame_times": times[index],
                "frame_mask": np.arange(start, stop) < len(frames),
                "keypoints": {name: values[index] for name, values in keypoints.items()},
                "window_start_s": float(times[start]),
            }

    def _windows(self, count: int) -> list[tuple[int, int]]:
        if self.num_frames is None:
            return [(0, count)]
        if count <= self.num_frames:
            return [(0, self.num_frames)]
        return [(start, start + self.num_frames) for start in range(0, count - self.num_frames + 1, self.num_frames)]


def open_corpora(corpus: str | Path | Corpus | Sequence[str | Path | Corpus]) -> list[Corpus]:
    """One corpus or several, opened (LoaderError says which cannot be read, and why)."""
    from humannet.corpus.reader import CorpusReadError

    items = [corpus] if isinstance(corpus, str | Path | Corpus) else list(corpus)
    if not items:
        raise LoaderError("no corpus given")
    try:
        return [item if isinstance(item, Corpus) else open_corpus(item) for item in items]
    except CorpusReadError as exc:
        raise LoaderError(str(exc)) from None


def _is_label(kind: pa.DataType) -> bool:
    if pa.types.is_string(kind) or pa.types.is_boolean(kind):
        return True
    return pa.types.is_list(kind) and pa.types.is_string(kind.value_type)


def _caption_text(caption: Any) -> str | None:
    """A caption from the clip JSON: a string, or the shortest text field of a caption record."""
    if isinstance(caption, str):
        return caption
    if isinstance(caption, dict):
        texts = [v for k, v in caption.items() if isinstance(v, str) and k in ("short", "summary", "text", "caption")]
        return min(texts, key=len) if texts else None
    return None


def collate_clips(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples for PyTorch: arrays of equal shape are stacked into tensors, everything else stays a list."""
    import torch

    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [sample[key] for sample in batch]
        if key == "keypoints":
            names = set.intersection(*(set(v) for v in values)) if values else set()
            out[key] = {name: _stack(torch, [v[name] for v in values]) for name in sorted(names)}
        else:
            out[key] = _stack(torch, values)
    return out


def _stack(torch: Any, values: list[Any]) -> Any:
    if all(isinstance(v, np.ndarray) for v in values) and len({v.shape for v in values}) == 1:
        return torch.from_numpy(np.stack(values))
    if all(isinstance(v, float) for v in values):
        return torch.tensor(values, dtype=torch.float64)
    return values


def _dataset_class() -> type:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info

    class ClipDataset(IterableDataset):
        """`ClipLoader` as a PyTorch IterableDataset: splits clips over DataLoader workers and distributed ranks.

        Rank and world size come from `torch.distributed` when it is initialised, unless given.
        Samples hold numpy arrays (fast to pass between workers); `collate_clips` turns a batch into tensors.
        """

        def __init__(
            self,
            corpus: str | Path | Corpus | Sequence[str | Path | Corpus],
            *,
            rank: int | None = None,
            world_size: int | None = None,
            **options: Any,
        ) -> None:
            super().__init__()
            self.corpora = open_corpora(corpus)
            self.options = options
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            self.rank = rank if rank is not None else (torch.distributed.get_rank() if distributed else 0)
            self.world_size = (
                world_size if world_size is not None else (torch.distributed.get_world_size() if distributed else 1)
            )
            self.epoch = 0
            # check the options and predicate now, not in a worker
            ClipLoader(self.corpora, rank=self.rank, world_size=self.world_size, **options)

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

        def __iter__(self) -> Iterator[dict[str, Any]]:
            worker = get_worker_info()
            loader = ClipLoader(
                self.corpora,
                rank=self.rank,
                world_size=self.world_size,
                worker_id=worker.id if worker else 0,
                num_workers=worker.num_workers if worker else 1,
                **self.options,
            )
            loader.set_epoch(self.epoch)
            return iter(loader)

    ClipDataset.__qualname__ = (
        "ClipDataset"  # picklable by name (spawned DataLoader workers), found through __getattr__
    )
    return ClipDataset


_DATASET_CLASS: type | None = None


def __getattr__(name: str) -> Any:
    """`ClipDataset` is built on first use so that importing this module does not import torch."""
    global _DATASET_CLASS
    if name == "ClipDataset":
        if _DATASET_CLASS is None:
            _DATASET_CLASS = _dataset_class()
        return _DATASET_CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
