"""Helpers shared by the commands that read a corpus."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from humannet.corpus.reader import Corpus


def open_corpus_and_warn(path: str) -> Corpus:
    """Open a corpus for a command, its warnings on stderr (a folder that is no corpus raises CorpusReadError)."""
    from humannet.corpus.reader import open_corpus

    corpus = open_corpus(path)
    for warning in corpus.warnings:
        click.echo(f"warning: {corpus.location}: {warning}", err=True)
    return corpus
