"""`humannet export ...`: write part of a corpus in another shape. Each format adds its command to this group."""

from __future__ import annotations

from pathlib import Path

import click

from humannet.commands.common import open_corpus_and_warn


@click.group()
def export() -> None:
    """Write a corpus, or part of it, as a new corpus or another dataset format."""


@export.command("subset")
@click.argument("corpus", type=click.Path())
@click.option(
    "--where",
    "where",
    default=None,
    metavar="SQL",
    help="Keep only clips matching this DuckDB predicate over `clips` (e.g. \"viewpoint = 'ego'\").",
)
@click.option(
    "--mixture",
    "mixture_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Mixture YAML: weighted components and caps (docs/using-the-corpus.md).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Random seed (default: the mixture's `seed`, else 0); the same seed gives the same clips.",
)
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=None, help="Target total clip hours.")
@click.option("--clips", "clip_count", type=click.IntRange(min=1), default=None, help="Target number of clips.")
@click.option(
    "--copy/--reference",
    "copy",
    default=True,
    show_default=True,
    help="Write new shards with the chosen clips, or point at the source shards.",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New corpus folder (must not exist or be empty).",
)
def subset(
    corpus: str,
    where: str | None,
    mixture_path: Path | None,
    seed: int | None,
    hours: float | None,
    clip_count: int | None,
    copy: bool,
    out_dir: Path,
) -> None:
    """Write a new corpus with the clips of CORPUS selected by --where and sampled by --mixture.

    Without --mixture, --hours or --clips every matching clip is kept. The output is itself a
    corpus: `humannet stats`, `query` and the loader open it.
    """
    from humannet.corpus.export.subset import load_mixture, write_subset

    source = open_corpus_and_warn(corpus)
    if hours is not None and clip_count is not None:
        raise click.UsageError("give --hours or --clips, not both")
    mixture = load_mixture(mixture_path) if mixture_path else None
    result = write_subset(
        source, out_dir, where=where, mixture=mixture, seed=seed, hours=hours, clips=clip_count, copy=copy
    )
    click.echo(result.describe())


@export.command("action100m")
@click.argument("corpus", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet file to write.",
)
def action100m(corpus: Path, out_path: Path) -> None:
    """Write the caption trees of CORPUS as Action100M-format Parquet (video_uid, metadata, nodes).

    One row per video: its tree of captions (video > scenes > clips > sub-actions) as Action100M
    nodes (docs/captions.md). Needs `captions/trees.parquet` (curated with captions on).
    """
    from humannet.corpus.export.action100m import export_corpus

    videos = export_corpus(corpus, out_path)
    click.echo(f"wrote {videos} video(s) to {out_path}")


@export.command("lerobot")
@click.argument("corpus", type=click.Path())
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder to write (must not exist or be empty).",
)
@click.option(
    "--where",
    "where",
    default=None,
    metavar="SQL",
    help="Export only robot-ready clips matching this DuckDB predicate over the `clips` view.",
)
@click.option(
    "--fps",
    type=click.IntRange(min=1),
    default=None,
    help="Frame rate of the dataset (default: the rate of the retargeted poses).",
)
@click.option(
    "--size",
    default=None,
    metavar="WxH",
    help="Video frame size (default: the first episode's size; other clips are scaled to it).",
)
@click.option(
    "--min-seconds",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Shortest stretch of valid retargeted pose that makes an episode.",
)
@click.option(
    "--lerobot-version",
    type=click.Choice(["0.4", "0.6"]),
    default="0.4",
    show_default=True,
    help="Write the details LeRobot releases disagree on as this one does, so its merge takes the dataset "
    "(0.4: the newest LeRobot for humannet's Python; 0.6: LeRobot 0.6, checked with 0.6.1).",
)
def lerobot(
    corpus: str,
    out_dir: Path,
    where: str | None,
    fps: int | None,
    size: str | None,
    min_seconds: float,
    lerobot_version: str,
) -> None:
    """Write the robot-ready segments of CORPUS as a LeRobotDataset (v3.0 layout).

    Retargeted joint trajectories become `observation.state` and `action` (the next state), the
    clip becomes the episode video and its caption the task (docs/viewer.md).
    """
    from humannet.corpus.export.lerobot import export_lerobot

    frame_size = None
    if size is not None:
        width, _, height = size.lower().partition("x")
        if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
            raise click.BadParameter(f"expected WIDTHxHEIGHT, e.g. 320x240, got {size!r}", param_hint="--size")
        frame_size = (int(width), int(height))
    source = open_corpus_and_warn(corpus)
    result = export_lerobot(
        source,
        out_dir,
        where=where,
        fps=fps,
        size=frame_size,
        min_seconds=min_seconds,
        lerobot_version=lerobot_version,
    )
    click.echo(result.describe())
