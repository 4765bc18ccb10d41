"""The `humannet` command line.

Exit codes: 0 when a run finished (even if some inputs failed: they are recorded in
errors.parquet and named in the summary); 2 for a problem the user can fix: a usage,
configuration or input-list error, or a corpus that cannot be used as asked (any
`HumannetError`, printed as one `error:` line; click's own option errors print the usage
line first); 1 for an unexpected internal error; 130 for a `curate` stopped by Ctrl-C.
"""

from __future__ import annotations

import logging

import click

from humannet import HumannetError
from humannet.commands import collect, config, curate, explore, export, preview, review, view

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
    review.recaption,
    review.release,
)
for _command in COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":
    main()
