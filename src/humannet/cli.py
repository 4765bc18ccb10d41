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
from rich.console import Console

from humannet import HumannetError
from humannet.config import load_config, render_config

EXIT_USAGE = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML configuration file (see `humannet config show` for every key).",
)
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one setting, e.g. --set clips.target_s=4 (repeatable).",
)


def _load(config_path: str | None, overrides: tuple[str, ...]):
    return load_config(config_path, overrides)


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


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Corpus folder (created if missing; reruns resume).",
)
@config_option
@set_option
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes (default: run.workers, 0 = one per core).",
)
@click.option(
    "--runner", type=click.Choice(["local", "ray"]), default=None, help="Where stages run (default: run.runner)."
)
@click.option(
    "--ray-address",
    default=None,
    help="Ray cluster for --runner ray ('auto', HOST:PORT; default: run.ray_address, unset = a private local Ray).",
)
@click.option("--no-materialize", is_flag=True, help="Keep clip spans only: write the index, no clip files or shards.")
@click.option("--rebuild", is_flag=True, help="Discard the existing corpus state in --out and start over.")
def curate(
    inputs: tuple[str, ...],
    out_dir: str,
    config_path: str | None,
    overrides: tuple[str, ...],
    workers: int | None,
    runner: str | None,
    ray_address: str | None,
    no_materialize: bool,
    rebuild: bool,
) -> None:
    """Curate INPUTS into a sharded clip corpus.

    Each of INPUTS is a folder (searched recursively), a glob, a video file, or a list
    file (.txt one path per line; .csv/.jsonl/.parquet with a `uri` column and optional
    `license`, `title`, `source` columns carried into the records). Rerunning the same
    command resumes; adding inputs extends the corpus.
    """
    from humannet.curate import Curator
    from humannet.engine.local import LocalRunner
    from humannet.engine.runner import Runner

    config = _load(config_path, overrides)
    if workers is not None:
        config.run.workers = workers
    if runner is not None:
        config.run.runner = runner
    if ray_address is not None:
        config.run.runner, config.run.ray_address = "ray", ray_address
    console = Console(stderr=True)
    engine: Runner
    if config.run.runner == "ray":
        from humannet.engine.ray import RayRunner

        engine = RayRunner(
            address=config.run.ray_address, workers=config.run.workers, retries=config.run.worker_retries
        )
    else:
        engine = LocalRunner(workers=config.run.workers, retries=config.run.worker_retries)
    curator = Curator(config, out_dir, engine, console, materialize=not no_materialize)
    curator.run(*inputs, rebuild=rebuild).render(console)


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


@main.command()
@click.argument("corpus", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON.")
def audit(corpus: str, as_json: bool) -> None:
    """List a corpus's clips and clip-hours by licence; flag unknown, non-commercial and restricted ones."""
    from humannet.corpus.audit import audit as run_audit

    report = run_audit(corpus)
    click.echo(report.to_json() if as_json else report.format_table())


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@config_option
@set_option
def config_show(config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Print the effective configuration: every key with its value, default and help, as TOML."""
    click.echo(render_config(_load(config_path, overrides)), nl=False)


from humannet.commands import collect as collect_commands  # noqa: E402
from humannet.commands import explore, export, view  # noqa: E402  (after `main`, so command modules can import this one)

for _command in (explore.stats, explore.report, explore.query, export.export, view.view):
    main.add_command(_command)
main.add_command(collect_commands.collect)
main.add_command(collect_commands.pool)

from humannet.commands import preview as _preview  # noqa: E402

main.add_command(_preview.preview)

from humannet.commands import review as _review  # noqa: E402

main.add_command(_review.review)
main.add_command(_review.release)


if __name__ == "__main__":
    main()
