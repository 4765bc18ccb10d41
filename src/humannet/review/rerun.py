"""`humannet review CORPUS`: rerun the review stages alone over a curated corpus.

The review stages (unsafe content, on-screen text, licences) are kept out of the analysis
fingerprint and stamp each video they fill (`review/stamps.py`). After their version or
settings change, this command recomputes only their columns: it reads the written clips back
from the shards (the source videos may be gone by then), samples them as the analysis pass
would, reruns the stage, and rewrites the index from the ledger, so every other column keeps its
exact values and the shards are not touched.

What a rerun cannot do: bring back a clip the review dropped earlier (it has no file and no
quality scores; rebuild the corpus for that), or revisit the screen filter's use of the text
area (an analysis decision). It sees the written pixels: faces and flagged text hidden at write
time stay hidden, so a pii rerun over clips with text hiding on finds less than the first run.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from humannet.config import Config
from humannet.engine.stage import FrameStage, Stage
from humannet.engine.state import Ledger
from humannet.media.frames import DecodeStats, iter_frames
from humannet.media.probe import probe_video
from humannet.records import ItemError, Status, Video
from humannet.review.stamps import stamp
from humannet.storage import atomic_write_bytes

log = logging.getLogger(__name__)


class ReviewError(RuntimeError):
    """The corpus cannot be reviewed again as asked; the message says why and what to do."""


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
                f"{run.stage} ({run.stamp}): {run.videos} videos, {run.clips} clips reviewed again; newly dropped: {dropped}; not reviewed: {run.not_reviewed}"
            )
        if self.up_to_date:
            lines.append(f"up to date, not rerun: {', '.join(self.up_to_date)}")
        if not self.stages:
            lines.append("nothing to rerun: every review stage is up to date (use --stage NAME to force one)")
        return "\n".join(lines)


def current_stamp(stage: Stage) -> str:
    config = getattr(stage, "config", None)
    return stamp(stage.version, {section: config for section in stage.config_sections} if config is not None else {})


def review_stages(config: Config) -> list[Stage]:
    from humannet.curate import analysis_stages

    return [stage for stage in analysis_stages(config) if stage.rerunnable]


def rerun_review(corpus_dir: Path, config: Config, names: list[str] | None = None) -> ReviewRun:
    """Rerun the named review stages (default: those whose stamps are out of date) and rewrite the index."""
    from humannet.curate import analysis_fingerprint, settle_clips

    ledger = Ledger(corpus_dir)
    if not (corpus_dir / "state" / "videos").is_dir():
        raise ReviewError(
            f"{corpus_dir}: no curation ledger (state/videos); review works on a corpus written by `humannet curate`"
        )
    fingerprint = analysis_fingerprint(config)
    done, stale = ledger.load_videos(fingerprint)
    if stale:
        raise ReviewError(
            f"{corpus_dir}: {stale} videos were analysed with other analysis settings than the ones given; "
            "only the [review] settings may differ for a review rerun (pass the corpus's own config, or rebuild it)"
        )
    available = {stage.name: stage for stage in review_stages(config)}
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ReviewError(
                f"unknown or disabled review stage(s): {', '.join(unknown)} (enabled: {', '.join(available)})"
            )
        chosen = [available[n] for n in names]
    else:
        chosen = [
            s
            for s in available.values()
            if any(v.stamps.get(s.name) != current_stamp(s) for v in done.values() if v.status is Status.KEPT)
        ]
    videos = [done[uri] for uri in sorted(done)]
    shards = ledger.load_shards()
    shard_of = {clip_id: f"shards/{name}.tar" for name, record in shards.items() for clip_id in record["clips"]}
    runs = [StageRerun(stage.name, current_stamp(stage)) for stage in chosen]
    for stage in chosen:
        stage.setup()
    frame_stages = [s for s in chosen if isinstance(s, FrameStage)]
    with _ShardReader(corpus_dir) as reader:
        for video in videos:
            if video.status is not Status.KEPT:
                continue
            before = {c.clip_id: c.status for c in video.clips}
            if frame_stages:
                _feed_frames(video, frame_stages, reader, shard_of, config)
            for stage, run in zip(chosen, runs, strict=True):
                try:
                    stage.process(video)
                except Exception as exc:  # one video's failure is recorded on it, the rerun goes on
                    log.debug("review rerun of %s failed on %s", stage.name, video.uri, exc_info=True)
                    video.errors.append(
                        ItemError(stage=stage.name, type=type(exc).__name__, message=f"review rerun: {exc}")
                    )
                run.videos += 1
                run.clips += sum(1 for c in video.clips if before[c.clip_id] is Status.KEPT)
                for clip in video.clips:
                    if (
                        before[clip.clip_id] is Status.KEPT
                        and clip.status is not Status.KEPT
                        and (clip.reason or "").find(f"{stage.name}:") >= 0
                    ):
                        run.newly_dropped[(clip.reason or "").split(":", 1)[0]] += 1
                    if any(issue.startswith(f"{stage.name}:") for issue in clip.labels.get("review_issues", [])):
                        run.not_reviewed += 1
            video.frame_results.clear()
            settle_clips(video)
            ledger.commit_video(video, fingerprint)
    _rewrite_index(corpus_dir, config, videos, shard_of)
    return ReviewRun(runs, sorted(set(available) - {s.name for s in chosen}))


def _feed_frames(
    video: Video, stages: list[FrameStage], reader: _ShardReader, shard_of: dict[str, str], config: Config
) -> None:
    """The written clips of one video, sampled as the analysis pass samples its source, into each stage's accumulator."""
    accumulators = [stage.accumulator(video) for stage in stages]
    for clip in sorted(video.kept_clips, key=lambda c: c.start_s):
        shard = shard_of.get(clip.clip_id)
        if shard is None:
            continue  # no file (curated with --no-materialize): the stage records the clip as not reviewed
        try:
            with reader.extract(shard, f"{clip.clip_id}.mp4") as path:
                probe = probe_video(str(path))
                for frame in iter_frames(str(path), probe, config.decode, DecodeStats()):
                    shifted = type(frame)(
                        index=frame.index,
                        time_s=clip.start_s + frame.time_s,
                        small=frame.small,
                        analysis=frame.analysis,
                    )
                    for accumulator in accumulators:
                        accumulator.add(shifted)
        except Exception as exc:  # an unreadable clip file: recorded, the clip counts as not reviewed
            video.errors.append(
                ItemError(
                    stage="review",
                    type=type(exc).__name__,
                    message=f"{clip.clip_id}: cannot read the written clip: {exc}",
                )
            )
    for stage, accumulator in zip(stages, accumulators, strict=True):
        video.frame_results[stage.name] = accumulator.finish()


def _rewrite_index(corpus_dir: Path, config: Config, videos: list[Video], shard_of: dict[str, str]) -> None:
    from humannet.corpus.writer import write_index
    from humannet.review.provenance import write_provenance

    for video in videos:
        for clip in video.clips:
            clip.shard = shard_of.get(clip.clip_id)
    write_index(corpus_dir, videos)
    write_provenance(corpus_dir, config, videos)
    manifest_path = corpus_dir / "manifest.json"
    if manifest_path.exists():  # the review settings that now stand behind the review columns
        manifest = json.loads(manifest_path.read_text())
        manifest.setdefault("config", {})["review"] = config.review.model_dump(mode="json")
        atomic_write_bytes(manifest_path, json.dumps(manifest, indent=2).encode())


class _ShardReader:
    """Extracts single members of the corpus's tar shards into a scratch folder, one at a time."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self.tars: dict[str, tarfile.TarFile] = {}

    def __enter__(self) -> _ShardReader:
        self.scratch = Path(tempfile.mkdtemp(prefix="humannet-review-"))
        return self

    def __exit__(self, *exc: object) -> None:
        for tar in self.tars.values():
            tar.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def extract(self, shard: str, member: str) -> _Extracted:
        if shard not in self.tars:
            self.tars[shard] = tarfile.open(self.corpus_dir / shard)  # noqa: SIM115 - closed in __exit__
        handle = self.tars[shard].extractfile(member)
        if handle is None:
            raise FileNotFoundError(f"{shard} has no member {member}")
        path = self.scratch / member
        path.write_bytes(handle.read())
        return _Extracted(path)


class _Extracted:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)
