"""The `humannet` command line.

Exit codes: 0 when a run finished (even if some inputs failed: they are recorded in
errors.parquet and named in the summary); 2 for a problem the user can fix: a usage,
configuration or input-list error, or a corpus that cannot be used as asked (any
`HumannetError`, printed as one `error:` line; click's own option errors print the usage
line first); 1 for an unexpected internal error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from humannet import HumannetError
from humannet.commands import collect, common, config, curate, explore, export, preview, review, view
from humannet.config import load_config

EXIT_USAGE = 2


class HumannetGroup(click.Group):
    """The top-level group: a HumannetError from any command becomes one `error:` line and exit 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except HumannetError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)


@click.group(cls=HumannetGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="More log output (-v: per video, -vv: debug).")
@click.version_option(package_name="humannet")
def main(verbose: int) -> None:
    """Turn raw videos into a curated, human-centric clip corpus.

    Start with `humannet curate VIDEOS --out corpus/`. Every setting has a default;
    `humannet config show` prints them all with their help.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


COMMANDS = (  # in the order of work: find videos, curate them, look into the corpus, review, ship
    collect.collect,
    collect.pool,
    curate.curate,
    config.config,
    explore.stats,
    explore.report,
    explore.query,
    explore.audit,
    view.view,
    preview.preview,
    export.export,
    review.review,
    review.release,
)
for _command in COMMANDS:
    main.add_command(_command)


# `bench` (below) is being removed; until then it keeps its own names for the shared options and config loading.
config_option, set_option, _load = common.config_option(), common.set_option(), load_config


@main.command()
@click.argument("videos", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Cut labels JSON for accuracy (default: VIDEOS/labels.json when present).",
)
@click.option(
    "--long-video", is_flag=True, help="Also measure speed and peak memory on a generated 10-minute 1080p video."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the full report as JSON here.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the corpora the benchmark writes in this folder (default: a temporary folder, removed).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run each timed measurement N times and keep the fastest (steadier on a busy machine).",
)
@config_option
@set_option
def bench(
    videos: Path,
    labels: Path | None,
    long_video: bool,
    json_path: Path | None,
    keep: Path | None,
    repeat: int,
    config_path: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Measure speed, memory and cut accuracy on VIDEOS against FFmpeg decode and PySceneDetect.

    Every measurement runs on one core; docs/benchmarks.md explains each number.
    """
    from humannet.bench import BenchError, BenchOptions, format_report, run_benchmark

    _load(config_path, overrides)  # report a configuration mistake before minutes of measuring
    options = BenchOptions(
        videos=videos,
        labels=labels,
        long_video=long_video,
        keep=keep,
        repeat=repeat,
        config_path=Path(config_path) if config_path else None,
        overrides=overrides,
    )
    try:
        report = run_benchmark(options)
    except BenchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_report(report))
    if json_path is not None:
        json_path.write_text(report.to_json())


if __name__ == "__main__":
    main()
