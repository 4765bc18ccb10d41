"""Opening a corpus: the views it offers, and one clear message for every folder that is not a whole, readable
corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from humannet.cli import main
from humannet.corpus.reader import FORMAT_VERSION, CorpusReadError, open_corpus
from humannet.corpus.writer import write_shard
from humannet.engine.state import uri_key


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def copy_corpus(corpus: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(corpus, target)
    return target


def test_curate_records_the_format_version_and_views_cover_every_table(corpus, tmp_path):
    assert json.loads((corpus / "manifest.json").read_text())["format_version"] == FORMAT_VERSION
    copy = copy_corpus(corpus, tmp_path)
    (copy / "hands").mkdir()
    pq.write_table(pa.table({"video_id": ["a"], "node_id": ["n0"]}), copy / "hands" / "trees.parquet")
    (copy / "grasps").mkdir()
    for part in range(2):
        pq.write_table(pa.table({"clip_id": [f"c{part}"]}), copy / "grasps" / f"part-{part:05d}.parquet")
    pq.write_table(pa.table({"column": ["viewpoint"], "stage": ["viewpoint"]}), copy / "lineage.parquet")
    opened = open_corpus(copy)
    assert list(opened.tables)[:4] == ["videos", "clips", "dropped_clips", "errors"]
    assert {"hands_trees", "grasps", "lineage"} <= set(opened.tables)
    if (corpus / "captions" / "trees.parquet").exists():  # written by the caption annotator
        assert "captions_trees" in opened.tables
    con = opened.connect()
    assert con.sql("SELECT count(*) FROM clips").fetchall()[0][0] == pq.read_table(corpus / "clips").num_rows
    assert con.sql("SELECT node_id FROM hands_trees").fetchall() == [("n0",)]
    assert con.sql("SELECT clip_id FROM grasps ORDER BY 1").fetchall() == [("c0",), ("c1",)]
    assert con.sql("SELECT stage FROM lineage").fetchall() == [("viewpoint",)]
    assert opened.warnings == []


def test_read_member_returns_shard_files_and_none_for_missing_ones(corpus):
    opened = open_corpus(corpus)
    clip_id, shard = opened.connect().sql("SELECT clip_id, shard FROM clips ORDER BY clip_id LIMIT 1").fetchall()[0]
    assert json.loads(opened.read_member(shard, f"{clip_id}.json"))["clip_id"] == clip_id
    assert opened.read_member(shard, "nope.mp4") is None
    assert opened.read_member("shards/shard-999999.tar", f"{clip_id}.mp4") is None


def test_clip_files_come_whole_and_a_rewritten_shard_is_read_again(corpus, tmp_path):
    opened = open_corpus(copy_corpus(corpus, tmp_path))
    rows = opened.connect().sql("SELECT clip_id, shard FROM clips WHERE shard IS NOT NULL ORDER BY clip_id").fetchall()
    clip_id, shard = rows[0]
    assert opened.shards() == sorted({s for _, s in rows})
    files = opened.clip_members(shard, clip_id)
    assert list(files)[:2] == [f"{clip_id}.mp4", f"{clip_id}.json"] and all(n.startswith(f"{clip_id}.") for n in files)
    with opened.member_file(shard, f"{clip_id}.mp4") as path:  # for decoders that want a local file
        assert path.suffix == ".mp4" and path.read_bytes() == files[f"{clip_id}.mp4"]
    assert not path.exists()
    with pytest.raises(FileNotFoundError, match="nope.mp4"), opened.member_file(shard, "nope.mp4"):
        pass
    write_shard(opened.root / shard, [("other", {"other.mp4": b"x", "other.json": b"{}"})])  # rewritten in place
    assert list(opened.shard_members(shard)) == ["other.mp4", "other.json"]
    assert opened.read_member(shard, f"{clip_id}.mp4") is None


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.write_text("x"), "is a file, not a corpus folder"),
        (lambda root: root.mkdir(), "not a humannet corpus"),
    ],
    ids=["missing", "file", "empty"],
)
def test_not_a_corpus_gets_one_clear_line(tmp_path, prepare, expected):
    root = tmp_path / "corpus"
    prepare(root)
    for command in (
        ["stats", str(root)],
        ["query", str(root), "SELECT 1"],
        ["report", str(root), "-o", str(tmp_path / "r.html")],
    ):
        result = run(*command)
        assert result.exit_code == 2
        assert expected in result.stderr
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_run_killed_before_the_index_is_a_partial_corpus(corpus, tmp_path):
    copy = copy_corpus(corpus, tmp_path)
    for name in ("manifest.json", "videos.parquet"):
        (copy / name).unlink()
    shutil.rmtree(copy / "clips")
    with pytest.raises(CorpusReadError, match="partial corpus.*ledger holds 3 finished videos.*Rerun"):
        open_corpus(copy)
    result = run("stats", str(copy))
    assert result.exit_code == 2 and "partial corpus" in result.stderr


def test_ledger_newer_than_the_index_is_read_with_a_warning(corpus, tmp_path):
    copy = copy_corpus(corpus, tmp_path)
    fingerprint = json.loads((copy / "manifest.json").read_text())["analysis_fingerprint"]
    ledger = copy / "state" / "videos"
    template = json.loads(next(ledger.glob("*.json")).read_text())
    template["video"]["uri"] = "/videos/analysed_after_the_index.mp4"
    (ledger / f"{uri_key(template['video']['uri'])}.json").write_text(json.dumps(template))
    (ledger / f"{uri_key('/videos/other_settings.mp4')}.json").write_text(
        json.dumps({"analysis_hash": "other", "video": {}})
    )
    assert template["analysis_hash"] == fingerprint
    opened = open_corpus(copy)
    assert len(opened.warnings) == 1 and "1 videos were analysed after the index" in opened.warnings[0]
    result = run("stats", str(copy), "--json")
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "stopped part-way" in result.stderr
    assert json.loads(result.stdout)["clips"] == pq.read_table(corpus / "clips").num_rows


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (0, "not readable by this humannet"),
        (FORMAT_VERSION + 1, "newer than this humannet reads"),
        ("x", "not readable"),
    ],
)
def test_other_format_versions_are_refused(corpus, tmp_path, version, expected):
    copy = copy_corpus(corpus, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = version
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = run("query", str(copy), "SELECT 1")
    assert result.exit_code == 2 and expected in result.stderr and "Traceback" not in result.output


def test_manifest_without_a_version_reads_as_version_1_and_a_broken_one_is_named(corpus, tmp_path):
    copy = copy_corpus(corpus, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["format_version"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert open_corpus(copy).format_version == 1
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(CorpusReadError, match="manifest.json: unreadable manifest"):
        open_corpus(copy)
