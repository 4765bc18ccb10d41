"""What several command modules share: the `--config` and `--set` options, and opening a corpus."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from humannet.corpus.reader import Corpus

Command = TypeVar("Command", bound=Callable[..., object])


def config_option(
    help_text: str = "TOML configuration file (see `humannet config show` for every key).",
) -> Callable[[Command], Command]:
    """`--config FILE` for `load_config`; a command family may word the help for the settings it reads."""
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help=help_text)


def set_option(
    help_text: str = "Override one setting, e.g. --set clips.target_s=4 (repeatable).",
) -> Callable[[Command], Command]:
    """`--set SECTION.KEY=VALUE`, repeatable: the overrides `load_config` applies after the file."""
    return click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help=help_text)


def open_corpus_and_warn(path: str) -> Corpus:
    """Open a corpus for a command, its warnings on stderr (a folder that is no corpus raises CorpusReadError)."""
    from humannet.corpus.reader import open_corpus

    corpus = open_corpus(path)
    for warning in corpus.warnings:
        click.echo(f"warning: {corpus.location}: {warning}", err=True)
    return corpus
