"""`humannet query`: every output format against a direct read, and DuckDB's own message on bad SQL."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from humannet.cli import main

SQL = "SELECT clip_id, viewpoint, motion_categories, duration_s FROM clips ORDER BY clip_id"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def expected_rows(corpus) -> list[dict]:
    table = pq.read_table(corpus / "clips", columns=["clip_id", "viewpoint", "motion_categories", "duration_s"])
    return sorted(table.to_pylist(), key=lambda r: r["clip_id"])


def test_table_csv_and_json_print_the_rows(corpus):
    rows = expected_rows(corpus)
    table = run("query", str(corpus), SQL)
    assert table.exit_code == 0
    for row in rows:
        assert row["clip_id"] in table.stdout
    as_csv = run("query", str(corpus), SQL, "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["clip_id"] for r in parsed] == [r["clip_id"] for r in rows]
    assert [float(r["duration_s"]) for r in parsed] == [r["duration_s"] for r in rows]
    as_json = json.loads(run("query", str(corpus), SQL, "--format", "json").stdout)
    assert as_json == rows


def test_parquet_and_files(corpus, tmp_path):
    out = tmp_path / "result.parquet"
    result = run("query", str(corpus), SQL, "--format", "parquet", "-o", str(out))
    assert result.exit_code == 0
    assert pq.read_table(out).to_pylist() == expected_rows(corpus)
    out_json = tmp_path / "result.json"
    assert run("query", str(corpus), SQL, "--format", "json", "-o", str(out_json)).exit_code == 0
    assert json.loads(out_json.read_text()) == expected_rows(corpus)
    missing_out = run("query", str(corpus), SQL, "--format", "parquet")
    assert missing_out.exit_code == 2 and "give -o FILE" in missing_out.stderr


def test_joins_across_views_and_nan_becomes_null_in_json(corpus):
    sql = (
        "SELECT v.status, count(*) AS n, CAST('NaN' AS DOUBLE) AS nothing FROM clips c JOIN videos v USING (video_id) "
        "GROUP BY 1"
    )
    rows = json.loads(run("query", str(corpus), sql, "--format", "json").stdout)
    assert rows == [{"status": "kept", "n": len(expected_rows(corpus)), "nothing": None}]
    errors = run("query", str(corpus), "SELECT count(*) AS n FROM errors", "--format", "json")
    assert json.loads(errors.stdout) == [{"n": pq.read_table(corpus / "errors.parquet").num_rows}]


def test_sql_errors_print_duckdbs_message_and_exit_2(corpus):
    cases = (
        ("SELECT nope FROM clips", 'Referenced column "nope" not found'),
        ("SELEC 1", "Parser Error"),
        ("SELECT * FROM missing_table", "missing_table"),
    )
    for sql, message in cases:
        result = run("query", str(corpus), sql)
        assert result.exit_code == 2
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert "Traceback" not in result.output
