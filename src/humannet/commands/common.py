"""Helpers shared by the commands that read a corpus."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from humannet.corpus.reader import Corpus

EXIT_USAGE = 2  # same code `humannet` uses for every usage or input error


def open_corpus_or_exit(path: str) -> Corpus:
    """Open a corpus for a command: a bad folder prints one `error:` line and exits 2; warnings go to stderr."""
    from humannet.corpus.reader import CorpusReadError, open_corpus

    try:
        corpus = open_corpus(path)
    except CorpusReadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    for warning in corpus.warnings:
        click.echo(f"warning: {corpus.location}: {warning}", err=True)
    return corpus
