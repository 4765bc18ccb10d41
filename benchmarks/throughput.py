"""Throughput, memory and cut-accuracy benchmark: humannet against reference tools, same files, one run.

python -m benchmarks throughput VIDEOS [--labels labels.json] [--long-video] [--repeat N] [--json out.json] [--keep DIR]

Every number is a ratio against a reference measured in the same run on the same files, so
the figures travel between machines better than absolute times do:

- plain FFmpeg decode (`ffmpeg -threads 1 ... -f null -`): the floor any decoder-based tool pays;
- PySceneDetect's `AdaptiveDetector` with default settings: the tool humannet's cut detection
  replaces (target: humannet analysis >= 0.8x its speed, while doing more per frame);
- `humannet curate --no-materialize` (analysis), then materialisation of the kept clips alone.

Each measurement is pinned to one core (`taskset` for subprocesses, `sched_setaffinity` in this
process) when the platform allows it; otherwise it counts every core this process may use.
Realtime factor per core = video seconds / wall seconds / cores used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psutil
import pyarrow.parquet as pq

from benchmarks.cut_scoring import load_cut_labels, match_events, precision_recall_f1
from humannet.collect.inputs import resolve_inputs
from humannet.config import Config, ConfigError, load_config
from humannet.media.cut import output_geometry
from humannet.media.probe import ProbeError, probe_video
from humannet.records import Video

log = logging.getLogger(__name__)

MB = 1024 * 1024
RSS_SAMPLE_HZ = 20.0
LONG_VIDEO_SEGMENT_S = 15.0
LONG_VIDEO_SOURCES = (  # one shot per source; repeating them by stream copy makes a cut every segment
    "testsrc2=size={size}:rate={rate}",
    "gradients=size={size}:rate={rate}:speed=0.02",
    "life=size={small}:rate={rate}:mold=10:ratio=0.2:death_color=#203040:life_color=#e0c080,scale={size}:flags=neighbor",
    "testsrc=size={size}:rate={rate},hue=H=t",
)


@dataclass
class BenchOptions:
    videos: Path
    labels: Path | None = None  # default: videos/labels.json when it exists
    long_video: bool = False
    long_video_s: float = 600.0
    long_video_size: tuple[int, int] = (1920, 1080)
    long_video_fps: int = 30
    keep: Path | None = None  # keep the corpora written here; default: a temporary folder, removed
    cache_dir: Path | None = None  # where the generated long video is kept between runs
    config_path: Path | None = None
    overrides: tuple[str, ...] = ()
    tolerance_s: float = 0.5
    scenedetect_backend: str = "opencv"  # PySceneDetect's own default backend
    repeat: int = 1  # run decode, PySceneDetect and analysis this many times each and keep the fastest


@dataclass
class Pinning:
    """Which core each measurement runs on, and how many cores a measurement is charged for."""

    core: int | None
    cores_used: int
    method: str

    @classmethod
    def detect(cls) -> Pinning:
        allowed = (
            sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        )
        if shutil.which("taskset") and hasattr(os, "sched_setaffinity"):
            return cls(core=allowed[0], cores_used=1, method=f"taskset -c {allowed[0]} / sched_setaffinity")
        return cls(core=None, cores_used=len(allowed), method="not pinned (no taskset); charged for every allowed core")

    def prefix(self) -> list[str]:
        return ["taskset", "-c", str(self.core)] if self.core is not None else []

    @contextmanager
    def this_thread(self) -> Iterator[None]:
        """Pin the calling thread (threads it starts inherit the mask) for the duration of the block."""
        if self.core is None:
            yield
            return
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.core})
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)


@dataclass
class Throughput:
    wall_s: float
    video_s: float
    cores: int

    @property
    def realtime_per_core(self) -> float:
        return self.video_s / self.wall_s / self.cores if self.wall_s > 0 else 0.0


@dataclass
class Accuracy:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: list[float], truth: list[float], tolerance_s: float) -> tuple[int, int, int]:
        tp, fp, fn = match_events(predicted, truth, tolerance_s)
        self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn
        return tp, fp, fn

    def as_dict(self) -> dict[str, float]:
        precision, recall, f1 = precision_recall_f1(self.tp, self.fp, self.fn)
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": precision, "recall": recall, "f1": f1}


class TreeMemorySampler:
    """Peak resident memory of a process and each of its descendants, sampled on a thread.

    Sampling (rather than `getrusage(RUSAGE_CHILDREN)`) attributes peaks to individual worker
    processes and excludes earlier children of this process (ffmpeg runs, other corpora).
    A peak shorter than the sampling period can be missed.
    """

    def __init__(self, pid: int, hz: float = RSS_SAMPLE_HZ) -> None:
        self.root = psutil.Process(pid)
        self.period = 1.0 / hz
        self.peaks: dict[int, int] = {}
        self.roles: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                processes = []
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    if process.pid not in self.roles:
                        self.roles[process.pid] = self._role(process)
                except psutil.Error:
                    continue
                self.peaks[process.pid] = max(rss, self.peaks.get(process.pid, 0))
            self._stop.wait(self.period)

    def _role(self, process: psutil.Process) -> str:
        if process.pid == self.root.pid:
            return "main"
        command = " ".join(process.cmdline())
        return "helper" if "resource_tracker" in command or "forkserver" in command else "worker"

    def peak_mb(self, role: str) -> float:
        values = [rss for pid, rss in self.peaks.items() if self.roles.get(pid) == role]
        return max(values, default=0) / MB


@dataclass
class CurateRun:
    wall_s: float
    peak_main_mb: float
    peak_worker_mb: float
    workers_seen: int


@dataclass
class AnalysisResult:
    """One `humannet curate --no-materialize` over a set of inputs, with its fixed overhead measured."""

    video_s: float
    cores: int
    run: CurateRun
    resume_wall_s: float  # the same command again on the finished corpus: start-up, ledger, index, no analysis
    in_worker_by_step: dict[str, float]  # per-video pipeline timings recorded in the ledger, summed per step
    videos: int

    @property
    def in_worker_s(self) -> float:
        """The steps' sum; a dotted step ("unsafe.detector") is a part of another step's time, not added again."""
        return sum(seconds for step, seconds in self.in_worker_by_step.items() if "." not in step)

    @property
    def gross(self) -> Throughput:
        return Throughput(self.run.wall_s, self.video_s, self.cores)

    @property
    def net(self) -> Throughput:
        return Throughput(max(self.run.wall_s - self.resume_wall_s, 1e-9), self.video_s, self.cores)

    @property
    def in_worker(self) -> Throughput:
        return Throughput(self.in_worker_s, self.video_s, self.cores)

    def as_dict(self) -> dict[str, object]:
        return {
            "videos": self.videos,
            "video_s": self.video_s,
            "cores": self.cores,
            "wall_s": self.run.wall_s,
            "resume_wall_s": self.resume_wall_s,
            "net_wall_s": self.net.wall_s,
            "in_worker_s": self.in_worker_s,
            "in_worker_by_step_s": self.in_worker_by_step,
            "worker_overhead_s": self.net.wall_s - self.in_worker_s,
            "realtime_per_core_gross": self.gross.realtime_per_core,
            "realtime_per_core_net": self.net.realtime_per_core,
            "realtime_per_core_in_worker": self.in_worker.realtime_per_core,
            "peak_worker_rss_mb": self.run.peak_worker_mb,
            "peak_main_rss_mb": self.run.peak_main_mb,
            "workers_seen": self.run.workers_seen,
        }


@dataclass
class BenchReport:
    measured_at: str
    machine: dict[str, object]
    inputs: dict[str, object]
    ffmpeg_decode: dict[str, object]
    pyscenedetect: dict[str, object]
    humannet_analysis: dict[
        str, object
    ]  # the processing stages only (probe, dedup, scenes, clips, quality): PySceneDetect's ground
    humannet_with_humans: dict[str, object]  # default settings: plus people, hands, faces, viewpoint and motion
    materialize: dict[str, object]
    accuracy: dict[str, object] | None = None
    long_video: dict[str, object] | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


class BenchError(RuntimeError):
    """A measured command failed; the message carries the end of its error output."""


@dataclass(frozen=True)
class BenchFile:
    path: Path
    key: str  # path relative to the videos folder: how labels and reports name it
    duration_s: float


def list_files(videos: Path) -> list[BenchFile]:
    """The inputs `humannet curate DIR` would take, with their durations (unprobeable ones left out)."""
    files = []
    for video in resolve_inputs(str(videos)):
        path = Path(video.uri)
        try:
            duration = probe_video(str(path)).duration_s
        except ProbeError as exc:
            log.warning("left out of the benchmark (cannot probe): %s: %s", path, exc)
            continue
        key = str(path.relative_to(videos)) if path.is_relative_to(videos) else path.name
        files.append(BenchFile(path, key, duration))
    return files


def time_ffmpeg_decode(files: Sequence[BenchFile], pinning: Pinning) -> Throughput:
    """Plain single-threaded FFmpeg decode of the video stream (audio skipped: humannet does not decode it)."""
    wall = 0.0
    for item in files:
        command = [
            *pinning.prefix(),
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-threads",
            "1",
            "-i",
            str(item.path),
            "-an",
            "-sn",
            "-f",
            "null",
            "-",
        ]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall += time.perf_counter() - started
        if result.returncode != 0:
            raise BenchError(f"ffmpeg failed on {item.path}: {result.stderr[-2000:]}")
    return Throughput(wall, sum(f.duration_s for f in files), pinning.cores_used)


def run_pyscenedetect(
    files: Sequence[BenchFile], pinning: Pinning, backend: str
) -> tuple[Throughput, dict[str, list[float]]]:
    """PySceneDetect's AdaptiveDetector with defaults, through its own API, in this process on one core."""
    from scenedetect import AdaptiveDetector, detect

    cuts: dict[str, list[float]] = {}
    wall = 0.0
    with pinning.this_thread(), _quiet("pyscenedetect"):
        for item in files:
            started = time.perf_counter()
            scenes = detect(str(item.path), AdaptiveDetector(), backend=backend)
            wall += time.perf_counter() - started
            cuts[item.key] = [start.seconds for start, _ in scenes[1:]]
    return Throughput(wall, sum(f.duration_s for f in files), pinning.cores_used), cuts


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a library's per-file INFO lines unless we are debugging."""
    logger = logging.getLogger(logger_name)
    before = logger.level
    if not log.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def run_curate(inputs: str, out_dir: Path, pinning: Pinning, options: BenchOptions, materialize: bool) -> CurateRun:
    """`humannet curate` as a user runs it (a fresh interpreter, one worker), timed and memory-sampled."""
    command = [
        *pinning.prefix(),
        sys.executable,
        "-m",
        "humannet.cli",
        "curate",
        inputs,
        "--out",
        str(out_dir),
        "--workers",
        "1",
    ]
    if not materialize:
        command.append("--no-materialize")
    if options.config_path is not None:
        command += ["--config", str(options.config_path)]
    for override in options.overrides:
        command += ["--set", override]
    log.info("running %s", " ".join(command))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(mode="w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, stdin=subprocess.DEVNULL)
        with TreeMemorySampler(process.pid) as sampler:
            returncode = process.wait()
        wall = time.perf_counter() - started
        if returncode != 0:
            errors.seek(0)
            raise BenchError(f"humannet curate exited with {returncode}: {errors.read()[-3000:]}")
    workers = sum(1 for role in sampler.roles.values() if role == "worker")
    return CurateRun(wall, sampler.peak_mb("main"), sampler.peak_mb("worker"), workers)


# timings the release review's detectors record (review/unsafe.py, review/pii.py)
REVIEW_DETECTOR_STEPS = (
    "unsafe.",
    "pii.",
)


def _ledger_videos(corpus: Path, config: Config) -> dict[str, Video]:
    """The corpus's finished videos whose analysis matches `config`, by URI."""
    from humannet.engine.state import Ledger
    from humannet.stages import analysis_fingerprint

    return Ledger(corpus).load_videos(analysis_fingerprint(config))[0]


def ledger_stage_seconds(out_dir: Path, config: Config) -> tuple[dict[str, float], int]:
    """Seconds the worker spent in each pipeline step, summed over videos ("decode" includes the per-frame analysis).

    Also how many ledger entries match the current analysis settings (all of them, unless something changed).
    """
    videos = _ledger_videos(out_dir, config)
    return _stage_seconds(videos), len(videos)


def _stage_seconds(videos: dict[str, Video]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for video in videos.values():
        for step, seconds in video.timings.items():
            totals[step] = totals.get(step, 0.0) + seconds
    return totals


def analyse(
    inputs: str, video_s: float, out_dir: Path, pinning: Pinning, options: BenchOptions, config: Config
) -> AnalysisResult:
    """A fresh analysis (any earlier corpus in `out_dir` is removed, or it would just resume), then the no-op rerun."""
    shutil.rmtree(out_dir, ignore_errors=True)
    run = run_curate(inputs, out_dir, pinning, options, materialize=False)
    committed = _ledger_snapshot(out_dir)
    resumed = run_curate(inputs, out_dir, pinning, options, materialize=False)
    videos = pq.read_table(out_dir / "videos.parquet", columns=["uri"]).num_rows
    steps, matched = ledger_stage_seconds(out_dir, config)
    if _ledger_snapshot(out_dir) != committed or matched != videos:
        raise BenchError(
            f"the rerun on the finished corpus {out_dir} did not simply resume (or the ledger does not match this "
            "configuration): was humannet's code or config changed during the benchmark? Run it again."
        )
    return AnalysisResult(video_s, pinning.cores_used, run, resumed.wall_s, steps, videos)


def _ledger_snapshot(out_dir: Path) -> dict[str, int]:
    """Modification time of every ledger entry: a resumed run that analyses nothing leaves them all untouched."""
    return {path.name: path.stat().st_mtime_ns for path in (out_dir / "state").rglob("*.json")}


def humannet_cuts(corpus: Path, files: Sequence[BenchFile]) -> dict[str, list[float]]:
    """humannet's hard cuts and dissolves: the labels scored here count fades as events, not cuts."""
    keys = {str(f.path): f.key for f in files}
    table = pq.read_table(corpus / "videos.parquet", columns=["uri", "cut_times", "cut_kinds"]).to_pylist()
    return {
        keys[row["uri"]]: [t for t, kind in zip(row["cut_times"], row["cut_kinds"], strict=True) if kind != "fade"]
        for row in table
        if row["uri"] in keys
    }


def written_clips(corpus: Path) -> dict[str, float]:
    """Clip ID -> seconds, of the clips that are in a shard, i.e. were written as files."""
    return {
        row["clip_id"]: row["duration_s"]
        for part in sorted((corpus / "clips").glob("*.parquet"))
        for row in pq.read_table(part, columns=["clip_id", "duration_s", "shard"]).to_pylist()
        if row["shard"]
    }


def written_frames(videos: dict[str, Video], written: dict[str, float], config: Config) -> int:
    """Frames of the `written` clips: each clip's length on its video's output frame grid."""
    frames = 0
    for video in videos.values():
        if video.probe is None:
            continue
        rate = float(output_geometry(video.probe, config.materialize).rate)
        frames += sum(round(clip.duration_s * rate) for clip in video.kept_clips if clip.clip_id in written)
    return frames


def score_cuts(
    labels: dict[str, list[float]], predictions: dict[str, dict[str, list[float]]], tolerance_s: float
) -> dict[str, object]:
    """Micro-averaged precision/recall/F1 per detector over the labelled files, plus every disagreement."""
    totals = {name: Accuracy() for name in predictions}
    per_file = []
    labelled = sorted(key for key in labels if all(key in cuts for cuts in predictions.values()))
    for key in labelled:
        row: dict[str, object] = {"file": key, "labels": labels[key]}
        for name, cuts in predictions.items():
            tp, fp, fn = totals[name].add(cuts[key], labels[key], tolerance_s)
            row[name] = {"cuts": [round(t, 2) for t in cuts[key]], "tp": tp, "fp": fp, "fn": fn}
        per_file.append(row)
    return {
        "tolerance_s": tolerance_s,
        "labelled_files": len(labelled),
        "labelled_cuts": sum(len(labels[k]) for k in labelled),
        "detectors": {name: total.as_dict() for name, total in totals.items()},
        "per_file": per_file,
    }


def make_long_video(path: Path, seconds: float, size: tuple[int, int], fps: int) -> Path:
    """A synthetic long video with a hard cut every segment: a few short shots, repeated by stream copy.

    Encoding each shot once and concatenating copies keeps generation to about a minute.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="long-", dir=path.parent))
    try:
        width, height = size
        segment_s = min(LONG_VIDEO_SEGMENT_S, seconds)
        segments = []
        for number, source in enumerate(LONG_VIDEO_SOURCES):
            segment = work / f"shot{number}.mp4"
            lavfi = source.format(
                size=f"{width}x{height}", small=f"{max(width // 8, 16)}x{max(height // 8, 16)}", rate=fps
            )
            _ffmpeg(
                "-f",
                "lavfi",
                "-i",
                lavfi,
                "-t",
                f"{segment_s}",
                "-pix_fmt",
                "yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-crf",
                "28",
                "-g",
                str(2 * fps),
                str(segment),
            )
            segments.append(segment)
        repeats = max(1, round(seconds / segment_s))
        listing = work / "list.txt"
        listing.write_text("".join(f"file '{segments[i % len(segments)]}'\n" for i in range(repeats)))
        partial = work / "long.mp4"
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(partial))
        os.replace(partial, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def _ffmpeg(*args: str) -> None:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"ffmpeg {' '.join(args)} failed: {result.stderr[-2000:]}")


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "humannet-bench-cache"


def _tool_versions() -> dict[str, str]:
    import scenedetect

    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    return {"python": platform.python_version(), "ffmpeg": ffmpeg, "scenedetect": scenedetect.__version__}


def run_benchmark(options: BenchOptions) -> BenchReport:
    videos = options.videos.resolve()
    config = load_config(options.config_path, list(options.overrides))
    pinning = Pinning.detect()
    files = list_files(videos)
    if not files:
        raise BenchError(f"no readable videos in {videos}")
    video_s = sum(f.duration_s for f in files)
    repeats = max(1, options.repeat)
    # The PySceneDetect comparison is for the processing stages; the human stages are measured on their own line.
    # PySceneDetect's work, no more
    comparable = (
        "humans.enabled=false",
        "review.unsafe.enabled=false",
        "review.pii.enabled=false",
    )
    core_options = replace(options, overrides=(*options.overrides, *comparable))
    core_config = load_config(options.config_path, list(core_options.overrides))
    labels_path = options.labels or (videos / "labels.json")
    work = options.keep or Path(tempfile.mkdtemp(prefix="humannet-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        analysis_dir = work / "analysis"
        full_dir = work / "analysis-with-humans"
        decodes, detections, analyses, full_analyses = [], [], [], []
        for round_number in range(1, repeats + 1):  # rounds interleave the three, so a busy spell hits them alike
            log.info(
                "round %d/%d: %d files, %.1f s of video: FFmpeg decode", round_number, repeats, len(files), video_s
            )
            decodes.append(time_ffmpeg_decode(files, pinning))
            log.info("PySceneDetect AdaptiveDetector")
            detections.append(run_pyscenedetect(files, pinning, options.scenedetect_backend))
            log.info("humannet analysis")
            analyses.append(analyse(str(videos), video_s, analysis_dir, pinning, core_options, core_config))
            log.info("humannet analysis with the human stages")
            full_analyses.append(analyse(str(videos), video_s, full_dir, pinning, options, config))
        decode = min(decodes, key=lambda t: t.wall_s)
        detector, detector_cuts = min(detections, key=lambda result: result[0].wall_s)
        analysis = min(analyses, key=lambda result: result.run.wall_s)
        full = min(full_analyses, key=lambda result: result.run.wall_s)
        log.info("humannet materialisation")
        materialize = measure_materialize(full_dir, work / "materialized", str(videos), full, pinning, options, config)
        report = BenchReport(
            measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            machine={
                "cpus": os.cpu_count(),
                "pinning": pinning.method,
                "cores_per_measurement": pinning.cores_used,
                "repeat": repeats,
                **_tool_versions(),
            },
            inputs={
                "videos": str(videos),
                "files": len(files),
                "video_s": video_s,
                "analysed_by_humannet": analysis.videos,
            },
            ffmpeg_decode={
                "command": "ffmpeg -threads 1 -i FILE -an -sn -f null -",
                "wall_s": decode.wall_s,
                "realtime_per_core": decode.realtime_per_core,
            },
            pyscenedetect={
                "detector": "AdaptiveDetector() defaults",
                "backend": options.scenedetect_backend,
                "wall_s": detector.wall_s,
                "realtime_per_core": detector.realtime_per_core,
            },
            humannet_analysis={
                **analysis.as_dict(),
                "ratio_vs_pyscenedetect_net": analysis.net.realtime_per_core / detector.realtime_per_core,
                "ratio_vs_pyscenedetect_in_worker": analysis.in_worker.realtime_per_core / detector.realtime_per_core,
                "ratio_target": 0.8,
                "rss_method": f"psutil RSS of the process tree sampled at {RSS_SAMPLE_HZ:g} Hz",
            },
            humannet_with_humans={**full.as_dict(), **_without_review(full), "realtime_target": 5.0},
            materialize=materialize,
            notes=[
                "humannet analysis = probe, dedup signature, scenes, clips, quality (humans, review.unsafe and "
                "review.pii disabled), the stages comparable with PySceneDetect; 'with human stages' is the default "
                "settings: it adds people/hand/face detection, content filter, camera motion, viewpoint and motion "
                "categories, and the release review's unsafe-content detector and on-screen text reading",
                "gross = the whole `humannet curate` command: interpreter start-up, imports, worker spawn, ledger, "
                "index",
                "net = gross minus the wall time of the same command re-run on the finished corpus (it resumes and "
                "analyses nothing); worker spawn and its imports stay in net, because a resumed run starts no worker",
                "in_worker = sum of per-video pipeline timings from the ledger (decode + every stage), no start-up; "
                "'decode' includes the per-frame analysis (cut detection, quality features, signature) fed by the "
                "decoder; dotted steps (unsafe.detector, pii.ocr) are the part of decode spent in that detector",
                "PySceneDetect is timed around its detect() calls only (its import excluded), like in_worker",
            ],
        )
        if labels_path.is_file():
            labels = load_cut_labels(labels_path)
            report.accuracy = {
                "labels": str(labels_path),
                **score_cuts(
                    labels,
                    {"pyscenedetect": detector_cuts, "humannet": humannet_cuts(analysis_dir, files)},
                    options.tolerance_s,
                ),
            }
        if options.long_video:
            report.long_video = measure_long_video(options, pinning, config, work / "long")
        return report
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _without_review(analysis: AnalysisResult) -> dict[str, object]:
    """The review detectors' share of an analysis: their time is measured inside the decode pass (steps `unsafe.*`,
    `pii.*`)."""
    steps = {
        step: seconds for step, seconds in analysis.in_worker_by_step.items() if step.startswith(REVIEW_DETECTOR_STEPS)
    }
    remaining = max(analysis.in_worker_s - sum(steps.values()), 1e-9)
    return {
        "review_detector_steps": sorted(steps),
        "review_detectors_s": sum(steps.values()),
        "realtime_per_core_in_worker_without_review": Throughput(
            remaining, analysis.video_s, analysis.cores
        ).realtime_per_core,
    }


def measure_materialize(
    analysis_dir: Path,
    out_dir: Path,
    inputs: str,
    analysis: AnalysisResult,
    pinning: Pinning,
    options: BenchOptions,
    config: Config,
) -> dict[str, object]:
    """Materialise a copy of the analysed corpus: analysis resumes (nothing to do), so the run is the write phase."""
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(analysis_dir, out_dir)
    run = run_curate(inputs, out_dir, pinning, options, materialize=True)
    written = written_clips(out_dir)
    clips, clip_s = len(written), sum(written.values())
    net_wall = max(run.wall_s - analysis.resume_wall_s, 1e-9)
    settings = config.materialize
    videos = _ledger_videos(out_dir, config)
    timings = _stage_seconds(videos)
    in_worker = timings.get("materialize", 0.0)
    frames = written_frames(videos, written, config)
    return {
        "encoder": {
            "codec": "libx264",
            "crf": settings.crf,
            "preset": settings.preset,
            "max_fps": settings.fps,
            "max_short_side": settings.max_short_side,
        },
        "clips": clips,
        "clip_s": clip_s,
        "frames": frames,
        "wall_s": run.wall_s,
        "net_wall_s": net_wall,
        "clip_s_per_wall_s_per_core": clip_s / net_wall / pinning.cores_used,
        "in_worker_s": in_worker,
        "clip_s_per_worker_s": clip_s / max(in_worker, 1e-9),
        "in_worker_by_step": {
            step.split(".", 1)[1]: {
                "seconds": seconds,
                "ms_per_frame": 1000 * seconds / max(frames, 1),
                "realtime_per_core": clip_s / max(seconds, 1e-9),
            }
            for step, seconds in timings.items()
            if step.startswith(("materialize.", "annotate."))
        },
        "peak_worker_rss_mb": run.peak_worker_mb,
        "method": (
            "curate with materialisation on a copy of the analysed corpus; net = wall minus the resumed no-op run"
        ),
        "captions": _caption_throughput(out_dir, config),
        "motion3d_retarget": _motion_throughput(out_dir, config),
        "camera_trajectory": _camera_throughput(out_dir, config),
    }


def _motion_throughput(corpus: Path, config: Config) -> dict[str, object] | None:
    """3D motion and retargeting re-timed on the written clips' keypoint tracks, one core (retarget.py)."""
    if not (config.pose_tracks.enabled and config.motion3d.enabled):
        return None
    from benchmarks.retarget import measure

    return measure(corpus, config.motion3d, config.retarget).summary


def _camera_throughput(corpus: Path, config: Config) -> dict[str, object] | None:
    """Visual odometry re-timed on the written ego clips, one core (camera_throughput.py)."""
    if not config.camera_trajectory.enabled:
        return None
    from benchmarks.camera_throughput import measure_camera_throughput

    return measure_camera_throughput(corpus, config.camera_trajectory)


def _caption_throughput(corpus: Path, config: Config) -> dict[str, object] | None:
    """The default (template) captioner and the taxonomy labeller, ms per clip (captions.py)."""
    if not config.captions.enabled:
        return None
    from benchmarks.captions import measure_caption_throughput

    return measure_caption_throughput(corpus, config.captions)


def measure_long_video(options: BenchOptions, pinning: Pinning, config: Config, out_dir: Path) -> dict[str, object]:
    width, height = options.long_video_size
    name = f"long_{options.long_video_s:g}s_{width}x{height}_{options.long_video_fps}fps.mp4"
    path = make_long_video(
        (options.cache_dir or default_cache_dir()) / name,
        options.long_video_s,
        options.long_video_size,
        options.long_video_fps,
    )
    probe = probe_video(str(path))
    log.info("humannet analysis of the long video %s (%.0f s)", path, probe.duration_s)
    item = BenchFile(path, path.name, probe.duration_s)
    decode = time_ffmpeg_decode([item], pinning)
    detector, _ = run_pyscenedetect([item], pinning, options.scenedetect_backend)
    result = analyse(str(path), probe.duration_s, out_dir, pinning, options, config)
    return {
        "path": str(path),
        "width": probe.width,
        "height": probe.height,
        "fps": probe.fps,
        "ffmpeg_decode_realtime_per_core": decode.realtime_per_core,
        "pyscenedetect_realtime_per_core": detector.realtime_per_core,
        **result.as_dict(),
        "ratio_vs_pyscenedetect_net": result.net.realtime_per_core / detector.realtime_per_core,
        "rss_target_mb": 1024,
    }


def _steps_text(steps: dict[str, float]) -> str:
    """Steps with their seconds; dotted parts of a step ("pii.ocr" inside "decode") in brackets after the step they are
    part of."""
    parts = [name for name in steps if "." in name]
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps.items() if "." not in name) + (
        " (of which " + ", ".join(f"{name} {steps[name]:.2f} s" for name in parts) + ")" if parts else ""
    )


def _step_row(step: str, step_time: dict[str, float]) -> str:
    return (
        f"    {step:<22}{step_time['seconds']:>8.2f} s{step_time['ms_per_frame']:>8.2f} "
        f"ms{step_time['realtime_per_core']:>9.1f}x"
    )


def format_report(report: BenchReport) -> str:
    """The report as a plain-text table for a terminal or a Markdown code block."""
    ana, psd, dec, mat = report.humannet_analysis, report.pyscenedetect, report.ffmpeg_decode, report.materialize
    hum = report.humannet_with_humans
    inputs = report.inputs
    lines = [
        f"humannet bench: {inputs['files']} files, {inputs['video_s']:.1f} s of video in {inputs['videos']}",
        f"measured {report.measured_at}; {report.machine['cpus']} CPUs; {report.machine['pinning']}; "
        f"best of {report.machine['repeat']} for decode, PySceneDetect and analysis",
        "",
        "Throughput (realtime factor per core = video s / wall s / cores)",
        f"  {'measurement':<44}{'wall s':>9}{'RT/core':>10}",
        _row("FFmpeg decode, -threads 1", dec["wall_s"], dec["realtime_per_core"]),
        _row(f"PySceneDetect AdaptiveDetector ({psd['backend']})", psd["wall_s"], psd["realtime_per_core"]),
        _row("humannet analysis, whole command (gross)", ana["wall_s"], ana["realtime_per_core_gross"]),
        _row("humannet analysis, net of start-up", ana["net_wall_s"], ana["realtime_per_core_net"])
        + f"   (resumed no-op run: {ana['resume_wall_s']:.2f} s)",
        _row("humannet analysis, inside the worker", ana["in_worker_s"], ana["realtime_per_core_in_worker"]),
        "    worker time by step: " + _steps_text(ana["in_worker_by_step_s"]),
        f"    worker start-up and per-video bookkeeping (net - in worker): {ana['worker_overhead_s']:.2f} s",
        f"  humannet / PySceneDetect: {ana['ratio_vs_pyscenedetect_net']:.2f} (net), "
        f"{ana['ratio_vs_pyscenedetect_in_worker']:.2f} (in worker); target >= {ana['ratio_target']}",
        f"  peak RSS: worker {ana['peak_worker_rss_mb']:.0f} MB, main process {ana['peak_main_rss_mb']:.0f} MB",
        f"  ({ana['rss_method']})",
        "",
        "With the human stages (people, hands, faces, content filter, viewpoint, motion; default settings)",
        _row("humannet analysis, whole command (gross)", hum["wall_s"], hum["realtime_per_core_gross"]),
        _row("humannet analysis, net of start-up", hum["net_wall_s"], hum["realtime_per_core_net"]),
        _row("humannet analysis, inside the worker", hum["in_worker_s"], hum["realtime_per_core_in_worker"]),
        "    worker time by step: " + _steps_text(hum["in_worker_by_step_s"]),
        f"  the release review's detectors ({', '.join(hum['review_detector_steps'])}) took "
        f"{hum['review_detectors_s']:.2f} s of that; without them, inside the worker: "
        f"{hum['realtime_per_core_in_worker_without_review']:.1f}x",
        f"  target >= {hum['realtime_target']:g}x per core (human stages); peak RSS: worker "
        f"{hum['peak_worker_rss_mb']:.0f} MB",
        "",
    ]
    enc = mat["encoder"]
    lines += [
        f"Materialisation (libx264 crf {enc['crf']} preset {enc['preset']}, <= {enc['max_fps']:g} fps, short side <= "
        f"{enc['max_short_side']} px)",
        f"  {mat['clips']} clips, {mat['clip_s']:.1f} clip-s written in {mat['net_wall_s']:.2f} s net "
        f"({mat['wall_s']:.2f} s gross): {mat['clip_s_per_wall_s_per_core']:.2f} clip-s per wall-s per core; "
        f"peak worker RSS {mat['peak_worker_rss_mb']:.0f} MB",
        f"  inside the worker: {mat['in_worker_s']:.2f} s, {mat['clip_s_per_worker_s']:.2f} clip-s per worker-s; by "
        f"step (ms per written frame, {mat['frames']} frames; realtime factor per core):",
        *(_step_row(step, step_time) for step, step_time in mat["in_worker_by_step"].items()),
        "",
    ]
    if mat.get("captions") and mat["captions"]["clips"]:
        cap = mat["captions"]
        lines[-1:-1] = [
            f"  captions (taxonomy + template caption): {cap['ms_per_clip']:.1f} ms per clip over {cap['clips']} clips "
            f"(max {cap['ms_per_clip_max']:.1f} ms; MiniLM load {cap['model_load_s']:.1f} s once per worker)"
        ]
    if mat.get("motion3d_retarget") and mat["motion3d_retarget"]["clips"]:
        mot = mat["motion3d_retarget"]
        errors = mot["error_mm_quantiles"]
        lines[-1:-1] = [
            f"  motion3d: {mot['motion3d_ms_per_frame']:.2f} ms per keypoint frame "
            f"({mot['motion3d_realtime_per_core']:.0f}x realtime per core); retarget: "
            f"{mot['retarget_ms_per_frame']:.2f} ms per keypoint frame ({mot['retarget_realtime_per_core']:.1f}x "
            "realtime per core)",
            f"  retargeting error (mm, clips with full-body frames, n={mot['clips_with_error']}): "
            + (f"median {errors['median']:.1f}, p75 {errors['p75']:.1f}, max {errors['max']:.1f}" if errors else "none")
            + f"; robot-ready {mot['robot_ready_clips']} of {mot['clips']} clips",
        ]
    if mat.get("camera_trajectory") and mat["camera_trajectory"]["clips"]:
        cam = mat["camera_trajectory"]
        lines[-1:-1] = [
            f"  camera trajectory (ego clips, VO at {cam['tracked_fps']:g} fps, {cam['width']} px): "
            f"{cam['ms_per_frame']:.1f} ms per tracked frame, {cam['realtime_per_core']:.1f}x realtime per core (CPU "
            f"time: {cam['cpu_ms_per_frame']:.1f} ms, {cam['cpu_realtime_per_core']:.1f}x) over {cam['clips']} clips "
            f"({cam['clip_s']:.1f} s); median valid share {cam['valid_fraction_median']:.2f}"
        ]
    if report.accuracy:
        acc = report.accuracy
        lines += [
            f"Cut accuracy vs {acc['labels']} (hard + dissolve, +-{acc['tolerance_s']} s, micro-averaged over "
            f"{acc['labelled_files']} files, {acc['labelled_cuts']} labelled cuts)",
            f"  {'detector':<16}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}{'F1':>7}",
        ]
        for name, score in acc["detectors"].items():
            lines.append(
                f"  {name:<16}{score['tp']:>5}{score['fp']:>5}{score['fn']:>5}"
                f"{score['precision']:>11.2f}{score['recall']:>8.2f}{score['f1']:>7.2f}"
            )
        disagreements = [row for row in acc["per_file"] if any(row[n]["fp"] or row[n]["fn"] for n in acc["detectors"])]
        if disagreements:
            lines.append("  files with an error (labels | " + " | ".join(acc["detectors"]) + "):")
        for row in disagreements:
            cuts = " | ".join(_times(row[name]["cuts"]) for name in acc["detectors"])
            lines.append(f"    {row['file']}: {_times(row['labels'])} | {cuts}")
        lines.append("")
    if report.long_video:
        lv = report.long_video
        lines += [
            f"Long video ({lv['video_s']:.0f} s, {lv['width']}x{lv['height']} @ {lv['fps']:g} fps, one worker)",
            f"  RT per core: FFmpeg decode {lv['ffmpeg_decode_realtime_per_core']:.1f}x, PySceneDetect "
            f"{lv['pyscenedetect_realtime_per_core']:.1f}x",
            f"  humannet analysis at default settings (with the human stages) {lv['realtime_per_core_gross']:.1f}x "
            f"gross / {lv['realtime_per_core_net']:.1f}x net / {lv['realtime_per_core_in_worker']:.1f}x in worker "
            f"(wall {lv['wall_s']:.1f} s)",
            f"  peak RSS per worker {lv['peak_worker_rss_mb']:.0f} MB (target < {lv['rss_target_mb']} MB), main "
            f"process {lv['peak_main_rss_mb']:.0f} MB",
            "",
        ]
    return "\n".join(lines)


def _row(name: str, wall_s: object, realtime: object) -> str:
    return f"  {name:<44}{wall_s:>9.2f}{realtime:>9.1f}x"


def _times(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks throughput", description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path, help="folder of videos (labels.json inside is used for cut accuracy)")
    parser.add_argument(
        "--labels", type=Path, default=None, help="cut labels JSON (default: VIDEOS/labels.json if present)"
    )
    parser.add_argument("--long-video", action="store_true", help="also measure a generated 10-min 1080p video")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="write the full report as JSON here")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the corpora written by the benchmark in this folder"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run each timed measurement N times and keep the fastest")
    parser.add_argument(
        "--config", dest="config_path", type=Path, default=None, help="humannet TOML config passed to curate"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for logger in ("humannet", "benchmarks"):
        logging.getLogger(logger).setLevel(logging.INFO if args.verbose else logging.WARNING)
    options = BenchOptions(
        videos=args.videos,
        labels=args.labels,
        long_video=args.long_video,
        keep=args.keep,
        repeat=args.repeat,
        config_path=args.config_path,
        overrides=tuple(args.overrides),
    )
    try:
        report = run_benchmark(options)
    except (BenchError, ConfigError) as exc:
        logging.error("%s", exc)
        return 1
    sys.stdout.write(format_report(report) + "\n")
    if args.json_path:
        args.json_path.write_text(report.to_json())
    return 0
