"""`humannet curate`: videos in, a sharded clip corpus out."""

from __future__ import annotations

import shlex
import sys

import click
from rich.console import Console

from humannet.commands.common import config_option, set_option
from humannet.config import load_config

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Corpus folder (created if missing; reruns resume).",
)
@config_option()
@set_option()
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
@click.option(
    "--allow-non-empty",
    is_flag=True,
    help="Write the corpus into --out even though it holds files that are not a humannet corpus.",
)
@click.option(
    "--force-unlock",
    is_flag=True,
    help="Take the corpus lock from another humannet run that holds it (only when that run is gone).",
)
@click.pass_context
def curate(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out_dir: str,
    config_path: str | None,
    overrides: tuple[str, ...],
    workers: int | None,
    runner: str | None,
    ray_address: str | None,
    no_materialize: bool,
    rebuild: bool,
    allow_non_empty: bool,
    force_unlock: bool,
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

    config = load_config(config_path, overrides)
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
    try:
        summary = curator.run(*inputs, rebuild=rebuild, allow_non_empty=allow_non_empty, force_unlock=force_unlock)
    except KeyboardInterrupt:
        console.print(
            f"interrupted: {curator.committed} of {curator.total} videos committed; "
            f"resume with: {resume_command(sys.argv[1:])}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        ctx.exit(EXIT_INTERRUPTED)
    summary.render(console)


def resume_command(arguments: list[str]) -> str:
    """The command that was run, shell-quoted, without the flags a rerun must not repeat (`--rebuild` would discard
    what was committed; `--force-unlock` would break the lock of whoever runs by then)."""
    kept = [argument for argument in arguments if argument not in ("--rebuild", "--force-unlock")]
    return shlex.join(["humannet", *kept])
