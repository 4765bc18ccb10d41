"""`humannet curate`: inputs -> analysed spans -> deduplicated -> materialised shards -> index.

The run has four phases, each resumable on its own:
1. analysis: every input not yet in the ledger goes through probe, the single decode pass
   (scenes, quality, signature) and clipping; each finished video is committed at once;
2. deduplication across everything analysed so far, in this run and earlier ones;
3. materialisation of kept clips into staging, then packing into tar shards in a fixed order;
4. the index, rewritten whole from the ledger.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console

from humannet import HumannetError, __version__
from humannet.annotate.clip_annotator import read_staged_meta
from humannet.captions.tree import TREES_FILE, remember_caption, write_caption_trees
from humannet.collect.inputs import resolve_inputs
from humannet.config import Config
from humannet.corpus.lock import LOCK_FILE, CorpusLock
from humannet.corpus.provenance import write_provenance
from humannet.corpus.reader import FORMAT_VERSION
from humannet.corpus.writer import (
    pack_shards,
    shard_name,
    staged_clip_files,
    track_count_scores,
    write_index,
    write_shard,
)
from humannet.engine.progress import PhaseProgress, RunSummary
from humannet.engine.runner import Runner
from humannet.engine.state import Ledger, uris_in_shards
from humannet.process.dedup import drop_duplicates, mark_exact_copy, set_aside_exact_copies
from humannet.process.probe import file_sha256
from humannet.records import ItemError, Status, Video, settle_clips
from humannet.stages import analysis_fingerprint, analysis_pipeline, materialize_pipeline, producers, write_fingerprint
from humannet.storage import (
    ABSENT,
    RemoteCorpus,
    atomic_write_bytes,
    file_stamps,
    filesystem,
    is_remote,
    scratch_root,
)

log = logging.getLogger(__name__)


WRITE_STEPS = ("materialize", "annotate.")  # timings of the write phase (the stage and its steps), kept in the ledger
INDEX_FILES = (
    "README.md",  # the dataset card
    "videos.parquet",
    "clips/part-00000.parquet",
    "dropped_clips.parquet",
    "errors.parquet",
    "provenance.parquet",
)


class CorpusError(HumannetError, RuntimeError):
    """The output folder holds a corpus this run cannot safely extend."""


def lost_with_its_worker(video: Video) -> bool:
    """A video whose worker died under it (a crash, the OOM killer, a lost node) is retried by the next run.

    The death may have nothing to do with the video, so it is not a final verdict; a video that
    kills every worker it meets costs each rerun `run.worker_retries` attempts.
    """
    return video.status is Status.FAILED and bool(video.errors) and video.errors[-1].type == "WorkerDied"


class Curator:
    """Runs the phases; `out` is a folder or a store URL (s3://bucket/corpus: see storage.py)."""

    def __init__(
        self, config: Config, out: Path | str, runner: Runner, console: Console, materialize: bool = True
    ) -> None:
        self.config = config
        self.out = str(out)
        self.remote = (
            RemoteCorpus(self.out, config.storage.options, scratch_root(config.storage))
            if is_remote(self.out)
            else None
        )
        self.out_dir = self.remote.local if self.remote else Path(out)
        self.runner = runner
        self.console = console
        self.materialize = materialize and config.materialize.enabled
        self.analysis_fingerprint = analysis_fingerprint(config)
        self.write_fingerprint = write_fingerprint(config)
        self.ledger = Ledger(self.out_dir, publish=self._publish)
        self.total = self.committed = 0  # inputs of the run, and those of them in the ledger (what Ctrl-C reports)

    def _publish(self, relative: str, delete_local: bool = False) -> None:
        if self.remote is not None:
            self.remote.push(relative, delete_local=delete_local)

    def run(
        self, *input_specs: str, rebuild: bool = False, allow_non_empty: bool = False, force_unlock: bool = False
    ) -> RunSummary:
        """Curate under the corpus lock: one writer per corpus (`corpus/lock.py`).

        `allow_non_empty`: write into a folder that holds other things than a corpus; `force_unlock`: take the lock
        even from a writer that looks alive (one that is gone is taken over without it).
        """
        options = self.config.storage.options
        if rebuild:
            refuse_to_clear_what_is_not_a_corpus(self.out, options)
        elif not allow_non_empty:
            refuse_to_write_into_what_is_not_a_corpus(self.out, options)
        with CorpusLock(self.out, "curate", self.config.run.lock_lease_s, options, force=force_unlock):
            return self._run(input_specs, rebuild)

    def _run(self, input_specs: tuple[str, ...], rebuild: bool) -> RunSummary:
        started = time.perf_counter()
        inputs = resolve_inputs(*input_specs, storage_options=self.config.storage.options)
        self.total = len(inputs)
        if rebuild:
            self._clear()
        if self.remote is not None:
            self.remote.pull_state()
        stamps = file_stamps([video.uri for video in inputs], self.config.storage.options)
        for video in inputs:
            video.file_stamp = stamps[video.uri]
        fingerprint = self.analysis_fingerprint
        done, stale = self.ledger.load_videos(fingerprint)
        shards = self.ledger.load_shards()
        if stale and shards:
            raise CorpusError(
                f"{self.out} was built with other analysis settings ({stale} videos differ); rerun with --rebuild to "
                "rebuild it, or write to a new --out"
            )
        summary = RunSummary(inputs=len(inputs), workers=self.runner.workers, corpus=self.out)
        written_otherwise = [
            name
            for name, record in shards.items()
            if record.get("write_fingerprint", self.write_fingerprint) != self.write_fingerprint
        ]
        if (
            self.materialize and written_otherwise
        ):  # the clips say which settings they had (`annotators` in their JSON); mixing is allowed, not silent
            summary.warnings.append(
                f"{len(written_otherwise)} existing shard(s) were written with other clip settings (materialize, "
                "privacy, pose_tracks, text blurring, or a clip annotator's settings or version); new clips use the "
                "current ones. Rebuild (--rebuild) for one setting throughout."
            )
        replaced = self._replaced_inputs(inputs, done, fingerprint)
        replaced_in_shards = replaced & {uri for record in shards.values() for uri in record["uris"]}
        if replaced_in_shards:
            summary.warnings.append(
                f"{len(replaced_in_shards)} input(s) were replaced in place after their clips were written into "
                "shards: analysed again, their new clips go into new shards; the old clips stay in their shards, out "
                "of the index. Rebuild (--rebuild) to drop them."
            )
        todo = [
            video
            for video in inputs
            if video.uri not in done or video.uri in replaced or lost_with_its_worker(done[video.uri])
        ]
        summary.resumed = self.committed = len(inputs) - len(todo)
        self._analyse(todo, done, summary)

        everything = done  # from here on, records may carry decisions the ledger does not (dedup, shards)
        if self.config.dedup.enabled:
            drop_duplicates(list(everything.values()), uris_in_shards(shards, everything), self.config.dedup)
        if self.materialize:
            summary.shards_written = self._materialize(everything, shards)
            shards = self.ledger.load_shards()
        shard_of = {clip_id: f"shards/{name}.tar" for name, record in shards.items() for clip_id in record["clips"]}
        for video in everything.values():
            for clip in video.clips:
                clip.shard = shard_of.get(clip.clip_id)
        write_index(self.out_dir, list(everything.values()))
        write_provenance(self.out_dir, producers(self.config), list(everything.values()))
        if write_caption_trees(self.out_dir, list(everything.values())):
            self._publish(TREES_FILE)
        for name in INDEX_FILES:
            self._publish(name)
        for video in inputs:
            summary.add(everything[video.uri])
        summary.wall_s = time.perf_counter() - started
        self._write_manifest(everything, summary)
        return summary

    def _clear(self) -> None:
        if self.remote is not None:
            self.remote.clear()
        for name in ("state", "shards", "clips", "captions"):
            shutil.rmtree(self.out_dir / name, ignore_errors=True)
        for name in (*INDEX_FILES, "manifest.json"):
            (self.out_dir / name).unlink(missing_ok=True)

    def _replaced_inputs(self, inputs: list[Video], done: dict[str, Video], fingerprint: str) -> set[str]:
        """The finished inputs whose file is not the one analysed (replaced in place), to analyse again.

        Told by the file stamps (size and modification time, or ETag), never by reading every file: a local
        file whose stamp changed but whose content did not (copied again, touched) is hashed once and resumed.
        A video analysed before stamps were recorded, or whose file is gone, is resumed too. A resumed video's
        new stamp goes into the ledger, so an unchanged file is never hashed twice.
        """
        replaced = set()
        for video in inputs:
            finished = done.get(video.uri)
            if finished is None or finished.file_stamp == video.file_stamp or video.file_stamp == ABSENT:
                continue
            if finished.file_stamp is not None and (
                is_remote(video.uri) or finished.sha256 is None or file_sha256(video.uri) != finished.sha256
            ):
                replaced.add(video.uri)
                continue
            finished.file_stamp = video.file_stamp
            self.ledger.commit_video(finished, fingerprint)
        return replaced

    def _analyse(self, todo: list[Video], done: dict[str, Video], summary: RunSummary) -> None:
        """Analyse `todo` into `done`; exact copies of a video in the corpus or in `todo` are set aside undecoded."""
        spec = analysis_pipeline(self.config)
        fingerprint = self.analysis_fingerprint
        to_analyse, copies = set_aside_exact_copies(todo, done.values()) if self.config.dedup.enabled else (todo, {})
        clips = 0
        with self._progress("analysed", "videos", len(to_analyse)) as progress:
            for video in self.runner.map(spec, to_analyse):
                settle_clips(video)
                self.ledger.commit_video(video, fingerprint)
                done[video.uri] = video
                self.committed += 1
                summary.analysed += 1
                summary.analysed_video_s += video.duration_s
                clips += len(video.kept_clips)
                progress.advance(1, video.duration_s, f"{clips} clip{'' if clips == 1 else 's'} kept")
                log.info("%s: %s%s", video.status.value, video.uri, f" ({video.reason})" if video.reason else "")
        for video in todo:
            if video.uri in copies:
                mark_exact_copy(video, done[copies[video.uri]])
                self.ledger.commit_video(video, fingerprint)
                done[video.uri] = video
                log.info("dropped: %s (%s, not decoded)", video.uri, video.reason)

    def _progress(self, verb: str, unit: str, total: int) -> PhaseProgress:
        return PhaseProgress(self.console, verb, unit, total, self.config.run.progress_interval_s)

    def _materialize(self, videos: dict[str, Video], shards: dict[str, dict]) -> int:
        """Stage clip files for kept videos not yet in a shard, then pack them into new shards."""
        sharded_clips = {clip_id for record in shards.values() for clip_id in record["clips"]}
        pending = [
            v
            for v in sorted(videos.values(), key=lambda v: v.uri)
            if v.status is Status.KEPT and any(c.clip_id not in sharded_clips for c in v.kept_clips)
        ]
        staging = f"{self.out.rstrip('/')}/state/staging" if self.remote else str(self.ledger.staging_dir)
        spec = materialize_pipeline(self.config, staging)
        to_write = sum(1 for v in pending for c in v.kept_clips if c.clip_id not in sharded_clips)
        with self._progress("written", "clips", to_write) as progress:
            for video in self.runner.map(spec, _without_clips_in(pending, sharded_clips)):
                original = videos[video.uri]
                if video.status is not Status.KEPT:
                    original.status, original.reason, original.errors = video.status, video.reason, video.errors
                # the write phase's step timings, for the throughput benchmark; committed with the video's packed clips
                original.timings.update(
                    {step: seconds for step, seconds in video.timings.items() if step.startswith(WRITE_STEPS)}
                )
                progress.advance(len(video.kept_clips), sum(c.duration_s for c in video.kept_clips))
        if self.remote is not None:
            for video in pending:
                self.remote.pull_staging(video.video_id or "")
        return self._pack(videos, sharded_clips, start=len(shards))

    def _pack(self, videos: dict[str, Video], sharded_clips: set[str], start: int) -> int:
        """Greedy packing in clip-ID order: the same clips always give the same shards."""
        members = []
        for video in videos.values():
            if video.status is not Status.KEPT:
                continue
            staging = self.ledger.staging_for(video.video_id or "")
            for clip in video.kept_clips:
                path = staging / f"{clip.clip_id}.mp4"
                if clip.clip_id not in sharded_clips and path.exists():
                    members.append((clip, video, path))
        members.sort(key=lambda m: m[0].clip_id)
        self._take_annotations(members)
        corpus = self.config.corpus
        groups = pack_shards(members, lambda m: m[2].stat().st_size, corpus.shard_max_clips, corpus.shard_max_mb * 1e6)
        for number, group in enumerate(groups, start=start):
            shard = shard_name(number)
            files = ((clip.clip_id, staged_clip_files(clip, video, path)) for clip, video, path in group)
            write_shard(self.out_dir / shard, files)  # each clip's files are read as it is written
            self._publish(shard, delete_local=True)  # a remote corpus keeps no local copy of its shards
            self.ledger.commit_shard(
                Path(shard).stem,
                [m[0].clip_id for m in group],
                sorted({m[1].uri for m in group}),
                self.write_fingerprint,
            )
            for clip, _, path in group:
                for staged in path.parent.glob(f"{clip.clip_id}.*"):  # the mp4 and its side files
                    staged.unlink(missing_ok=True)
        if self.remote is not None:
            packed = {clip.clip_id for group in groups for clip, _, _ in group} | sharded_clips
            for video in {m[1].video_id: m[1] for group in groups for m in group}.values():
                if all(c.clip_id in packed for c in video.kept_clips):
                    self.remote.remove(f"state/staging/{video.video_id}")
        return len(groups)

    def _take_annotations(self, members: list) -> None:
        """Carry the annotators' index columns and errors from staging into the records, and commit the packed
        videos."""
        packed: dict[str, Video] = {}
        for clip, video, path in members:
            staged = read_staged_meta(path, clip.clip_id)
            index = staged.get("index", {})
            clip.scores.update(index.get("scores", {}))
            clip.scores.update(track_count_scores(staged))
            clip.labels.update(index.get("labels", {}))
            for message in staged.get("annotation_errors", []):
                stage, _, detail = message.partition(": ")
                video.errors.append(ItemError(stage=stage, type="AnnotationError", message=f"{clip.clip_id}: {detail}"))
            kept_caption = remember_caption(self.out_dir, clip.clip_id, staged)
            if kept_caption:
                self._publish(kept_caption)
            packed[video.uri] = video
        fingerprint = self.analysis_fingerprint
        for video in packed.values():
            self.ledger.commit_video(video, fingerprint)

    def _write_manifest(self, videos: dict[str, Video], summary: RunSummary) -> None:
        kept = [v for v in videos.values() if v.status is Status.KEPT]
        manifest = {
            "format_version": FORMAT_VERSION,
            "humannet_version": __version__,
            "analysis_fingerprint": self.analysis_fingerprint,
            "config": _without_secrets(self.config.model_dump(mode="json")),
            "counts": {
                "videos": len(videos),
                "videos_kept": len(kept),
                "clips": sum(len(v.kept_clips) for v in kept),
                "hours_in": sum(v.duration_s for v in videos.values()) / 3600,
                "hours_out": sum(c.duration_s for v in kept for c in v.kept_clips) / 3600,
                "shards": len(self.ledger.load_shards()),
            },
            "materialized": self.materialize,
            "last_run": {"inputs": summary.inputs, "wall_s": round(summary.wall_s, 3), "workers": summary.workers},
        }
        atomic_write_bytes(self.out_dir / "manifest.json", json.dumps(manifest, indent=2).encode())
        self._publish("manifest.json")


def foreign_entries(out: str, options: dict) -> list[str]:
    """What `out` holds when it is neither missing, empty nor a corpus (sorted names); else nothing.

    A corpus is known by its manifest (`humannet_version`) or its ledger (`state/videos/`, there from the first
    finished video, before any manifest); the lock file and an empty `state/` are what a run leaves before that.
    """
    fs, root = filesystem(out, options)
    if not fs.exists(root) or fs.exists(f"{root}/state/videos"):
        return []
    names = sorted(str(name).rstrip("/").rsplit("/", 1)[-1] for name in fs.ls(root, detail=False))
    found = [name for name in names if name != LOCK_FILE and not (name == "state" and not fs.find(f"{root}/state"))]
    if not found:
        return []
    manifest = f"{root}/manifest.json"
    if fs.exists(manifest):
        try:
            if "humannet_version" in json.loads(fs.cat_file(manifest)):
                return []
        except (ValueError, TypeError):  # not JSON, or JSON but not an object
            pass
    return found


def _listed(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def refuse_to_clear_what_is_not_a_corpus(out: str, options: dict) -> None:
    """`--rebuild` deletes `clips/`, `shards/`, `state/` and `captions/` by name: only in a corpus or where nothing
    is."""
    found = foreign_entries(out, options)
    if found:
        raise CorpusError(
            f"{out}: --rebuild refused: it holds no humannet corpus (no manifest.json, no state/videos/) but "
            f"{_listed(found)}, and rebuilding deletes its clips/, shards/, state/ and captions/; pick an empty or "
            "new --out"
        )


def refuse_to_write_into_what_is_not_a_corpus(out: str, options: dict) -> None:
    """A corpus goes into a new or empty folder, or extends a corpus: never mixed into someone else's files unasked."""
    found = foreign_entries(out, options)
    if found:
        raise CorpusError(
            f"{out}: not empty and not a humannet corpus (no manifest.json, no state/videos/): it holds "
            f"{_listed(found)}; pick an empty or new --out, or pass --allow-non-empty to write the corpus beside them"
        )


def _without_secrets(config: dict) -> dict:
    """Storage options may hold credentials: the manifest names them but does not copy them."""
    options = config.get("storage", {}).get("options", {})
    config["storage"]["options"] = {key: "<set>" for key in options}
    return config


def _without_clips_in(videos: Iterable[Video], sharded_clips: set[str]) -> Iterable[Video]:
    for video in videos:
        trimmed = copy.copy(video)
        trimmed.clips = [c for c in video.clips if c.clip_id not in sharded_clips]
        yield trimmed
