"""`humannet review CORPUS`: rerun the review stages alone over a curated corpus.

The review stages (unsafe content, on-screen text, licences) are kept out of the analysis
fingerprint and stamp each video they fill (`PipelineUnit.stamp`). After their version or
settings change, this command recomputes only their columns: it replays the written clips from
the shards (the source videos may be gone by then) through the ordinary pipeline, sampled as the
analysis pass samples its source, and rewrites the index from the ledger, so every other column
keeps its exact values and the shards are not touched.

What a rerun cannot do: bring back a clip the review dropped earlier (it has no file and no
quality scores; rebuild the corpus for that), or revisit the screen filter's use of the text
area (an analysis decision). It sees the written pixels: faces and flagged text hidden at write
time stay hidden, so a pii rerun over clips with text hiding on finds less than the first run.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humannet import HumannetError
from humannet.corpus.provenance import Producer, write_provenance
from humannet.corpus.reader import Corpus, open_corpus
from humannet.corpus.writer import write_index
from humannet.engine.pipeline import Pipeline
from humannet.engine.stage import Stage
from humannet.engine.state import Ledger, uris_in_shards
from humannet.media.frames import DecodeConfig, DecodeStats, iter_frames
from humannet.media.probe import probe_video
from humannet.process.dedup import DedupConfig, drop_duplicates
from humannet.records import Frame, ItemError, Status, Video, settle_clips
from humannet.storage import atomic_write_bytes

log = logging.getLogger(__name__)


class ReviewError(HumannetError, RuntimeError):
    """The corpus cannot be reviewed again as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ReviewPlan:
    """What a rerun needs from the catalogue (`stages.review_plan`): the enabled review stages and their stamps,
    the analysis fingerprint the corpus's ledger must carry, and the producers for provenance."""

    stages: list[Stage]
    stamps: dict[str, str]
    analysis_fingerprint: str
    producers: list[Producer]
    available: tuple[str, ...]  # the record keys an analysed video carries


@dataclass
class StageRerun:
    stage: str
    stamp: str
    videos: int = 0
    clips: int = 0
    newly_dropped: Counter[str] = field(default_factory=Counter)  # reason key -> clips
    not_reviewed: int = 0


@dataclass
class ReviewRun:
    stages: list[StageRerun]
    up_to_date: list[str]  # stages left alone because every video already carries their current stamp

    def format(self) -> str:
        lines = []
        for run in self.stages:
            dropped = ", ".join(f"{key} {n}" for key, n in run.newly_dropped.most_common()) or "none"
            lines.append(
                f"{run.stage} ({run.stamp}): {run.videos} videos, {run.clips} clips reviewed again; "
                f"newly dropped: {dropped}; not reviewed: {run.not_reviewed}"
            )
        if self.up_to_date:
            lines.append(f"up to date, not rerun: {', '.join(self.up_to_date)}")
        if not self.stages:
            lines.append("nothing to rerun: every review stage is up to date (use --stage NAME to force one)")
        return "\n".join(lines)


def rerun_review(corpus_dir: Path, config: Any, plan: ReviewPlan, names: list[str] | None = None) -> ReviewRun:
    """Rerun the named review stages (default: those whose stamps are out of date) and rewrite the index."""
    ledger = Ledger(corpus_dir)
    done = analysed_videos(corpus_dir, ledger, plan.analysis_fingerprint, config.dedup)
    chosen = _chosen_stages(plan, done, names)
    videos = [done[uri] for uri in sorted(done)]
    shard_of = {
        clip_id: f"shards/{name}.tar" for name, record in ledger.load_shards().items() for clip_id in record["clips"]
    }
    runs = [StageRerun(stage.name, plan.stamps[stage.name]) for stage in chosen]
    if chosen:
        frames = WrittenClipFrames(open_corpus(corpus_dir), shard_of)
        pipeline = Pipeline(
            chosen,
            config.decode,
            stamps=plan.stamps,
            frame_source=frames,
            fail_on_error=False,
            available=plan.available,
        )
        pipeline.setup()
        for video in videos:
            if video.status is Status.KEPT:
                _review_video(pipeline, video, runs)
                settle_clips(video)
                ledger.commit_video(video, plan.analysis_fingerprint)
    rewrite_index(corpus_dir, videos, shard_of, plan.producers)
    _record_review_settings(corpus_dir, config)
    available = {stage.name for stage in plan.stages}
    return ReviewRun(runs, sorted(available - {s.name for s in chosen}))


def analysed_videos(corpus_dir: Path, ledger: Ledger, fingerprint: str, dedup: DedupConfig) -> dict[str, Video]:
    """The ledger's finished videos by URI, duplicates dropped again as `curate` drops them (it keeps that decision
    out of the ledger and takes it again each run, so an index rewritten from the bare ledger would bring the
    duplicates back); refused when there is no ledger or it holds other analysis settings."""
    if not (corpus_dir / "state" / "videos").is_dir():
        raise ReviewError(
            f"{corpus_dir}: no curation ledger (state/videos); review works on a corpus written by `humannet curate`"
        )
    done, stale = ledger.load_videos(fingerprint)
    if stale:
        raise ReviewError(
            f"{corpus_dir}: {stale} videos were analysed with other analysis settings than the ones given; "
            "only the [review] settings may differ for a review rerun, and the [captions] settings for a recaption "
            "(pass the corpus's own config, or rebuild it)"
        )
    if dedup.enabled:
        drop_duplicates(list(done.values()), uris_in_shards(ledger.load_shards(), done), dedup)
    return done


def _chosen_stages(plan: ReviewPlan, done: dict[str, Video], names: list[str] | None) -> list[Stage]:
    """The named stages, or every stage some kept video carries an out-of-date stamp of."""
    available = {stage.name: stage for stage in plan.stages}
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ReviewError(
                f"unknown or disabled review stage(s): {', '.join(unknown)} (enabled: {', '.join(available)})"
            )
        return [available[n] for n in names]
    kept = [video for video in done.values() if video.status is Status.KEPT]
    return [stage for name, stage in available.items() if any(v.stamps.get(name) != plan.stamps[name] for v in kept)]


def _review_video(pipeline: Pipeline, video: Video, runs: list[StageRerun]) -> None:
    """The chosen stages on one video's written clips, and what they changed, counted per stage."""
    before = {c.clip_id: c.status for c in video.clips}
    timings = dict(video.timings)  # the curation's timings stay what they were
    try:
        pipeline.run_stages(video)
    finally:
        video.frame_results.clear()
        video.timings = timings
    for run in runs:
        run.videos += 1
        run.clips += sum(1 for c in video.clips if before[c.clip_id] is Status.KEPT)
        for clip in video.clips:
            reason = clip.reason or ""
            if before[clip.clip_id] is Status.KEPT and clip.status is not Status.KEPT and f"{run.stage}:" in reason:
                run.newly_dropped[reason.split(":", 1)[0]] += 1
            if any(issue.startswith(f"{run.stage}:") for issue in clip.labels.get("review_issues", [])):
                run.not_reviewed += 1


class WrittenClipFrames:
    """A frame source for the pipeline: a video's written clips, read back from the shards, on the source's timeline.

    A clip without a file (curated with --no-materialize) is skipped, and its stages record it as not
    reviewed; an unreadable clip file is recorded on the video and skipped.
    """

    def __init__(self, corpus: Corpus, shard_of: dict[str, str]) -> None:
        self.corpus = corpus
        self.shard_of = shard_of

    def __call__(self, video: Video, decode: DecodeConfig, stats: DecodeStats) -> Iterator[Frame]:
        for clip in sorted(video.kept_clips, key=lambda c: c.start_s):
            shard = self.shard_of.get(clip.clip_id)
            if shard is None:
                continue
            try:
                yield from self._clip_frames(shard, clip.clip_id, clip.start_s, decode, stats)
            except Exception as exc:  # an unreadable clip file: recorded, the clip counts as not reviewed
                message = f"{clip.clip_id}: cannot read the written clip: {exc}"
                video.errors.append(ItemError(stage="review", type=type(exc).__name__, message=message))

    def _clip_frames(
        self, shard: str, clip_id: str, start_s: float, decode: DecodeConfig, stats: DecodeStats
    ) -> Iterator[Frame]:
        with self.corpus.member_file(shard, f"{clip_id}.mp4") as path:
            for frame in iter_frames(str(path), probe_video(str(path)), decode, stats):
                yield Frame(frame.index, start_s + frame.time_s, frame.small, frame.analysis)


def rewrite_index(corpus_dir: Path, videos: list[Video], shard_of: dict[str, str], producers: list[Producer]) -> None:
    """The index and provenance.parquet from the ledger's records; shards and every column not changed stay as
    they were (`humannet recaption` uses it too)."""
    for video in videos:
        for clip in video.clips:
            clip.shard = shard_of.get(clip.clip_id)
    write_index(corpus_dir, videos)
    write_provenance(corpus_dir, producers, videos)


def _record_review_settings(corpus_dir: Path, config: Any) -> None:
    manifest_path = corpus_dir / "manifest.json"
    if manifest_path.exists():  # the review settings that now stand behind the review columns
        manifest = json.loads(manifest_path.read_text())
        manifest.setdefault("config", {})["review"] = config.review.model_dump(mode="json")
        atomic_write_bytes(manifest_path, json.dumps(manifest, indent=2).encode())
