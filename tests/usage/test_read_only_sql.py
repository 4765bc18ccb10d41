"""SQL that users write (`humannet query`, the loader's `where=`, `--where`, mixture predicates) can only read the
corpus: no file outside it is read or written, no database attached, no extension loaded, no setting changed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from humannet.cli import main
from humannet.corpus.loader import ClipLoader, LoaderError
from humannet.corpus.reader import open_corpus
from tests.usage.conftest import synthetic_index, write_synthetic_corpus

READ_PASSWD = "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Path:
    """The synthetic index with a shard named on every clip, so the loader selects them (no shard is opened: the
    loader reads shards only when iterated, and subsets here are written with --reference)."""
    clips, videos = synthetic_index()
    clips = [dict(clip, shard="shards/shard-000000.tar") for clip in clips]
    return write_synthetic_corpus(tmp_path_factory.mktemp("readonly") / "corpus", clips, videos)


def statements(scratch: Path) -> dict[str, str]:
    """Statements that change state outside the query, each leaving a trace in `scratch` had it run."""
    return {
        "copy": f"COPY (SELECT 1) TO '{scratch}/copied.csv'",
        "set": "SET enable_external_access = true",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "attach": f"ATTACH '{scratch}/attached.db' AS other",
    }


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_connection_reads_the_corpus_and_nothing_else(indexed, tmp_path):
    con = open_corpus(indexed).connect()
    assert con.sql("SELECT count(*) FROM clips WHERE viewpoint = 'ego'").fetchall() == [(200,)]
    for sql in [*statements(tmp_path).values(), f"SELECT {READ_PASSWD}", "SET lock_configuration = false"]:
        with pytest.raises(duckdb.Error, match="Permission Error|configuration has been locked"):
            con.execute(sql)
    assert list(tmp_path.iterdir()) == []


def test_query_runs_one_select_and_refuses_every_other_statement(indexed, tmp_path):
    ok = run("query", indexed, "WITH e AS (SELECT * FROM clips WHERE viewpoint = 'ego') SELECT count(*) FROM e")
    assert ok.exit_code == 0 and "200" in ok.stdout
    cases = {**statements(tmp_path), "two": "SELECT 1; SELECT 2"}
    for name, sql in cases.items():
        result = run("query", indexed, sql)
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
        assert "only SELECT statements are run" in result.stderr or "expected one SQL statement" in result.stderr
    passwd = run("query", indexed, f"SELECT {READ_PASSWD}")
    assert passwd.exit_code == 2 and "Permission Error" in passwd.stderr and "root" not in passwd.stdout
    assert list(tmp_path.iterdir()) == []


def test_loader_where_cannot_reach_outside_the_corpus(indexed, tmp_path):
    assert len(ClipLoader(indexed, where="viewpoint = 'ego'").clips) == 200
    for sql in statements(tmp_path).values():
        with pytest.raises(LoaderError, match="not a predicate"):
            ClipLoader(indexed, where=f"TRUE); {sql}; SELECT (1")
    with pytest.raises(LoaderError, match="Permission Error"):
        ClipLoader(indexed, where=READ_PASSWD)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where_from", ["option", "mixture"])
def test_subset_predicates_cannot_reach_outside_the_corpus(indexed, tmp_path, where_from):
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def subset(predicate: str, out: str):
        if where_from == "option":
            return run("export", "subset", indexed, "--reference", "--where", predicate, "-o", tmp_path / out)
        mixture = tmp_path / f"{out}.yaml"
        mixture.write_text(f"components:\n  - where: {predicate!r}\n    weight: 1\n")
        return run("export", "subset", indexed, "--reference", "--mixture", mixture, "-o", tmp_path / out)

    ok = subset("viewpoint = 'ego'", "ok")
    assert ok.exit_code == 0, ok.output
    assert open_corpus(tmp_path / "ok").connect().sql("SELECT count(*) FROM clips").fetchall() == [(200,)]
    for name, sql in statements(scratch).items():
        result = subset(f"TRUE; {sql}", name)
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr.startswith("error: ") and "not a predicate" in result.stderr
    passwd = subset(READ_PASSWD, "passwd")
    assert passwd.exit_code == 2 and "Permission Error" in passwd.stderr
    assert list(scratch.iterdir()) == []
