"""`humannet stats`, `report`, `query` and `audit`: look into a finished corpus."""

from __future__ import annotations

from pathlib import Path

import click

from humannet.commands.common import open_corpus_and_warn

QUERY_FORMATS = ("table", "csv", "json", "parquet")


@click.command()
@click.argument("corpus", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def stats(corpus: str, as_json: bool) -> None:
    """Counts, hours, annotation coverage, label distributions and the drop funnel of CORPUS."""
    from rich.console import Console

    from humannet.corpus.stats import compute_stats, render_stats

    result = compute_stats(open_corpus_and_warn(corpus))
    if as_json:
        click.echo(result.to_json())
    else:
        render_stats(result, Console())


@click.command()
@click.argument("corpus", type=click.Path())
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write.",
)
@click.option(
    "--thumbnails",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Sample thumbnails per category (0: none).",
)
def report(corpus: str, out_path: Path, thumbnails: int) -> None:
    """Write one self-contained HTML report of CORPUS (plots and sample thumbnails; opens offline)."""
    from humannet.report.html import write_report

    write_report(open_corpus_and_warn(corpus), out_path, thumbnails_per_category=thumbnails)
    click.echo(f"wrote {out_path}")


@click.command()
@click.argument("corpus", type=click.Path())
@click.argument("sql")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(QUERY_FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (needed for parquet).",
)
def query(corpus: str, sql: str, output_format: str, out_path: Path | None) -> None:
    """Run SQL over CORPUS with DuckDB: views videos, clips, dropped_clips, errors and any annotation tables.

    Example: humannet query corpus/ "SELECT viewpoint, count(*) FROM clips GROUP BY 1"
    """
    from humannet.corpus.query import run_query

    run_query(open_corpus_and_warn(corpus), sql, output_format, out_path)


@click.command()
@click.argument("corpus", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON.")
def audit(corpus: str, as_json: bool) -> None:
    """List a corpus's clips and clip-hours by licence; flag unknown, non-commercial and restricted ones."""
    from humannet.corpus.reader import CorpusReadError
    from humannet.review.audit import audit as run_audit

    missing = [name for name in ("videos.parquet", "clips") if not (Path(corpus) / name).exists()]
    if missing:  # the audit reads a folder as it is, so say here what makes it no corpus
        raise CorpusReadError(
            f"{corpus}: not a humannet corpus (no {', '.join(missing)}); create one with `humannet curate VIDEOS --out "
            f"{corpus}`"
        )
    report = run_audit(corpus)
    click.echo(report.to_json() if as_json else report.format_table())
