"""`humannet query`: one SELECT statement over a corpus's views, printed or written in a chosen format.

The corpus is only read: any other statement (COPY, SET, ATTACH, CREATE ...) is refused before it runs, and the
connection itself can open no file outside the corpus (`Corpus.connect`). DuckDB does the work; this module only
turns its result into a table, CSV, JSON or Parquet, and turns a DuckDB error into its own message (the user wrote
the SQL, so a traceback into humannet would only hide what DuckDB said).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from humannet import HumannetError
from humannet.corpus.reader import Corpus, select_problem

UNWRAPPED_WIDTH = 10_000  # a table is only as wide as its content; this just stops rich from folding it
TABLE_ROW_LIMIT = 1000  # a terminal table longer than this is not read; CSV/JSON/Parquet carry every row


class QueryError(HumannetError, RuntimeError):
    """The SQL failed (DuckDB's message) or the output could not be written."""


def run_query(corpus: Corpus, sql: str, output_format: str = "table", out_path: Path | None = None) -> None:
    """Run `sql` against `corpus` and print it (table, csv, json) or write it to `out_path`."""
    if output_format == "parquet" and out_path is None:
        raise QueryError("--format parquet writes a file: give -o FILE")
    con = corpus.connect()
    try:
        problem = select_problem(sql)
        if problem is not None:
            raise QueryError(problem)
        relation = con.sql(sql)
        if output_format == "table":
            _print_table(relation, out_path)
        elif output_format == "json":
            _write_text(_json_text(relation), out_path)
        else:
            _write_with_duckdb(relation, output_format, out_path)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    except OSError as exc:
        raise QueryError(f"{out_path}: cannot write ({exc.strerror or exc})") from exc
    finally:
        con.close()


def _print_table(relation: duckdb.DuckDBPyRelation, out_path: Path | None) -> None:
    rows = relation.limit(TABLE_ROW_LIMIT + 1).fetchall()
    table = Table()
    for name in relation.columns:
        table.add_column(name, overflow="fold")
    for row in rows[:TABLE_ROW_LIMIT]:
        table.add_row(*(_cell(value) for value in row))
    if out_path is None:
        console = Console()
        if not console.is_terminal:  # piped or redirected: rows stay whole instead of wrapping at 80 columns
            console = Console(width=UNWRAPPED_WIDTH)
        console.print(table)
    else:
        with open(out_path, "w") as handle:
            Console(file=handle, width=UNWRAPPED_WIDTH).print(table)
    if len(rows) > TABLE_ROW_LIMIT:
        print(
            f"(more than {TABLE_ROW_LIMIT} rows; showing the first {TABLE_ROW_LIMIT}: use --format csv, json or "
            "parquet for all)",
            file=sys.stderr,
        )


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _json_text(relation: duckdb.DuckDBPyRelation) -> str:
    """A JSON array of row objects, one per line; NaN (unmeasured scores) becomes null so any JSON reader accepts it."""
    names = relation.columns
    lines = [
        json.dumps({name: _json_value(value) for name, value in zip(names, row, strict=True)}, default=str)
        for row in relation.fetchall()
    ]
    return "[\n" + ",\n".join(lines) + ("\n]\n" if lines else "]\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _write_with_duckdb(relation: duckdb.DuckDBPyRelation, output_format: str, out_path: Path | None) -> None:
    """CSV or Parquet written by DuckDB's own writers, on a connection of its own: the corpus's may write no file.

    The rows stream across as Arrow batches, so a large result is never held whole.
    """
    with tempfile.TemporaryDirectory() as scratch, duckdb.connect() as writer:
        target = out_path if out_path is not None else Path(scratch) / f"result.{output_format}"
        rows = writer.from_arrow(relation.to_arrow_reader())
        if output_format == "csv":
            rows.write_csv(str(target), header=True)
        else:
            rows.write_parquet(str(target), compression="zstd")
        if out_path is None:
            with open(target, "rb") as handle:
                shutil.copyfileobj(handle, sys.stdout.buffer)
            sys.stdout.flush()


def _write_text(text: str, out_path: Path | None) -> None:
    if out_path is None:
        sys.stdout.write(text)
    else:
        out_path.write_text(text)
