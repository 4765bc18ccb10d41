"""Progress display and the end-of-run summary, on stderr, quiet when not a terminal."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

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
        table.add_row("hours in / out", f"{self.hours_in:.3f} / {self.hours_out:.3f}")
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
