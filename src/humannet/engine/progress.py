"""Progress display and the end-of-run summary, on stderr: a bar on a terminal, a plain line now and then elsewhere."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from humannet.records import Status, Video, reason_key


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def format_duration(seconds: float) -> str:
    """Video or wall time for a person: `38 s`, `4.3 min`, `1.25 h`; never `0.00 h` for a short input."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


class PhaseProgress:
    """One phase of a run, counted in what it counts (videos analysed, clips written) with the video time done.

    On a terminal it is a rich bar. Elsewhere (nohup, cron, Slurm: stderr is a log file) a bar prints nothing until
    the end, so every `interval_s` seconds, and when the phase ends, one plain line goes to the log instead:
    `progress: analysed 12/40 videos (0.31 h), 57 clips kept, ETA 6.0 min`.
    """

    def __init__(
        self,
        console: Console,
        verb: str,
        unit: str,
        total: int,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.verb, self.unit, self.total = verb, unit, total
        self.interval_s, self.clock = interval_s, clock
        self.done, self.video_s, self.extra = 0, 0.0, ""
        self.bar = make_progress(console) if console.is_terminal else None

    def __enter__(self) -> PhaseProgress:
        self.started = self.last_line = self.clock()
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task(f"{self.unit} {self.verb}", total=self.total, detail="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.__exit__(kind, error, trace)

    def advance(self, count: int, video_s: float, extra: str = "") -> None:
        """`count` more done, covering `video_s` seconds of video; `extra` is said after them (`57 clips kept`)."""
        self.done += count
        self.video_s += video_s
        self.extra = extra
        if self.bar is not None:
            detail = f"{format_duration(self.video_s)} video" + (f", {extra}" if extra else "")
            self.bar.update(self.task, advance=count, detail=detail)
            return
        now = self.clock()
        if self.done >= self.total or now - self.last_line >= self.interval_s:
            self.last_line = now
            self.console.print(self.line(now), soft_wrap=True, markup=False, highlight=False)

    def line(self, now: float) -> str:
        elapsed = now - self.started
        if self.done >= self.total:
            when = f"done in {format_duration(elapsed)}"
        else:
            when = f"ETA {format_duration(elapsed / self.done * (self.total - self.done))}" if self.done else "ETA ?"
        counted = f"{self.verb} {self.done}/{self.total} {self.unit} ({format_duration(self.video_s)})"
        return f"progress: {counted}{f', {self.extra}' if self.extra else ''}, {when}"


@dataclass
class RunSummary:
    inputs: int = 0
    analysed: int = 0
    resumed: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failed_inputs: list[tuple[str, str]] = field(default_factory=list)
    clips_dropped: Counter[str] = field(default_factory=Counter)
    hours_in: float = 0.0
    hours_out: float = 0.0
    clips_out: int = 0
    shards_written: int = 0
    analysed_video_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 1
    corpus: str = ""
    warnings: list[str] = field(default_factory=list)  # said after the table: nothing failed, but the user should know

    @property
    def realtime_factor(self) -> float:
        return self.analysed_video_s / self.wall_s if self.wall_s > 0 else 0.0

    def add(self, video: Video) -> None:
        self.hours_in += video.duration_s / 3600
        for clip in video.clips:
            if clip.status is not Status.KEPT:
                self.clips_dropped[reason_key(clip.reason)] += 1
        if video.status is Status.KEPT:
            self.kept += 1
            self.clips_out += len(video.kept_clips)
            self.hours_out += sum(c.duration_s for c in video.kept_clips) / 3600
        elif video.status is Status.DROPPED:
            self.dropped[reason_key(video.reason)] += 1
        else:
            key = video.errors[-1].type if video.errors else reason_key(video.reason)
            stage = video.errors[-1].stage if video.errors else "?"
            self.failed[f"{stage}: {key}"] += 1
            self.failed_inputs.append((video.uri, video.reason or "unknown"))

    def render(self, console: Console) -> None:
        table = Table(title=f"humannet curate: {self.corpus}", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        table.add_row("inputs", f"{self.inputs} ({self.analysed} analysed now, {self.resumed} already done)")
        table.add_row("kept videos", str(self.kept))
        table.add_row("dropped videos", _counts(self.dropped))
        table.add_row("failed videos", _counts(self.failed))
        table.add_row("clips out", f"{self.clips_out} in {self.shards_written} new shard(s)")
        table.add_row("clips dropped", _counts(self.clips_dropped))
        table.add_row(
            "video in / out", f"{format_duration(self.hours_in * 3600)} / {format_duration(self.hours_out * 3600)}"
        )
        table.add_row("wall time", f"{self.wall_s:.1f} s on {self.workers} worker(s)")
        table.add_row("realtime factor", f"{self.realtime_factor:.1f}x (video seconds analysed per wall second)")
        console.print(table)
        for uri, reason in self.failed_inputs:
            console.print(f"[red]failed[/red] {uri}: {reason}")
        for warning in self.warnings:
            console.print(f"[yellow]warning[/yellow] {warning}")


def _counts(counter: Counter[str]) -> str:
    if not counter:
        return "0"
    parts = ", ".join(f"{key} {n}" for key, n in counter.most_common())
    return f"{sum(counter.values())} ({parts})"
