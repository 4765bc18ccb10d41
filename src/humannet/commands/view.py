"""`humannet view CORPUS`: browse a corpus in a local web app."""

from __future__ import annotations

from pathlib import Path

import click

from humannet import HumannetError
from humannet.commands.common import open_corpus_and_warn


@click.command()
@click.argument("corpus", type=click.Path())
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 shares the viewer with your network (no login).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where thumbnails are kept (default: a folder per corpus in the system temp folder).",
)
def view(corpus: str, port: int, host: str, cache_dir: Path | None) -> None:
    """Serve a web app to browse CORPUS: filter clips, play them with keypoints, read labels and captions.

    Open the printed address in a browser; Ctrl+C stops the server. Nothing is loaded from
    the internet, so it works offline.
    """
    from humannet.viewer.server import make_server

    opened = open_corpus_and_warn(corpus)
    if opened.store is not None:  # it streams byte ranges of local shard files to the browser
        raise click.UsageError(
            f"the viewer reads a corpus from a local folder; copy {corpus} to one first (e.g. `aws s3 sync {corpus} "
            "corpus/`)"
        )
    try:
        server = make_server(opened, host=host, port=port, cache_dir=cache_dir)
    except OSError as exc:
        raise HumannetError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"humannet viewer for {opened.root}: http://{bound_host}:{bound_port}/  (Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
