"""The command line reports every HumannetError once: one `error:` line on stderr, exit 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from humannet.cli import main
from tests.sample_corpus import sample_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, examples_dir):
    return sample_corpus(tmp_path_factory, examples_dir)


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_a_folder_that_is_no_corpus_is_one_error_line_and_exit_2(tmp_path):
    missing = tmp_path / "nonexistent"
    result = run("stats", str(missing))
    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: no such folder\n"
    assert result.stdout == ""


def test_a_bad_setting_in_a_subcommand_is_one_error_line_and_exit_2(tmp_path):
    result = run("pool", "stats", "--pool", str(tmp_path / "pool.sqlite"), "--set", "collect.max_attempts=0")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: config: collect.max_attempts: ")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output


def test_a_malformed_override_is_the_same_one_line_and_exit_2():
    result = run("config", "show", "--set", "clips")
    assert (result.exit_code, result.stderr) == (2, "error: override 'clips': expected section.key=value\n")


def test_an_unexpected_error_is_not_dressed_up(tmp_path, monkeypatch):
    import humannet.corpus.reader

    def broken(path: str):
        raise RuntimeError("a bug")

    monkeypatch.setattr(humannet.corpus.reader, "open_corpus", broken)
    result = run("stats", str(tmp_path))
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    assert "error:" not in result.stderr


def one_error_line(result) -> str:
    """The single `error:` line of a run that exited 2, without its prefix."""
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return result.stderr.removeprefix("error: ").rstrip("\n")


def test_a_list_file_that_is_not_utf8_or_is_corrupt_is_one_error_line(tmp_path):
    text, table = tmp_path / "inputs.txt", tmp_path / "inputs.parquet"
    text.write_bytes(b"a.mp4\n\xff\xfe b.mp4\n")
    table.write_bytes(b"PAR1 not really parquet")
    assert one_error_line(run("curate", str(text), "--out", str(tmp_path / "c"))) == (
        f"{text}: not UTF-8 text (invalid start byte: byte 0xff)"
    )
    assert one_error_line(run("curate", str(table), "--out", str(tmp_path / "c"))).startswith(
        f"{table}: cannot read the list file: "
    )


def test_a_folder_or_glob_without_videos_is_one_error_line(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "stills").mkdir()
    for name in ("notes.txt", "a.jpg", "b.JPG", "README"):
        (tmp_path / "stills" / name).write_text("no video here")
    out = str(tmp_path / "c")
    empty, stills = str(tmp_path / "empty"), str(tmp_path / "stills")
    assert one_error_line(run("curate", empty, "--out", out)) == f"no video files under {empty} (the folder is empty)"
    assert one_error_line(run("curate", stills, "--out", out)).startswith(
        f"no video files under {stills} (4 file(s) skipped: suffixes .jpg 2, (none) 1, .txt 1; video suffixes are "
    )
    pattern = str(tmp_path / "stills" / "*.mp4")
    assert one_error_line(run("curate", pattern, "--out", out)) == (
        f"no video files under {pattern} (the pattern matches no file)"
    )
    everything = str(tmp_path / "stills" / "*")
    assert one_error_line(run("curate", everything, "--out", out)).startswith(
        f"no video files under {everything} (4 file(s) skipped: suffixes .jpg 2"
    )


def test_audit_of_a_folder_that_is_no_corpus_is_one_error_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not a corpus")
    assert one_error_line(run("audit", str(tmp_path))).startswith(
        f"{tmp_path}: not a humannet corpus (no videos.parquet, clips)"
    )


def test_a_report_written_where_no_folder_can_be_is_one_error_line(corpus, tmp_path):
    (tmp_path / "a_file").write_text("in the way")
    out = tmp_path / "a_file" / "report.html"
    assert one_error_line(run("report", str(corpus), "-o", str(out), "--thumbnails", "0")) == (
        f"{out}: cannot create its folder {out.parent}: File exists"
    )
    missing = tmp_path / "new" / "folder" / "report.html"  # a missing folder is created
    result = run("report", str(corpus), "-o", str(missing), "--thumbnails", "0")
    assert result.exit_code == 0 and missing.read_text().startswith("<!DOCTYPE html>")


def test_preview_of_a_damaged_shard_is_one_error_line(corpus, tmp_path):
    import shutil
    import tarfile

    import pyarrow.parquet as pq

    [clip, *_] = pq.read_table(corpus / "clips", columns=["clip_id", "shard"]).to_pylist()
    garbage, flipped = tmp_path / "garbage", tmp_path / "flipped"
    for copy in (garbage, flipped):
        shutil.copytree(corpus, copy)
    (garbage / clip["shard"]).write_bytes(b"not a tar archive " * 64)
    shard = flipped / clip["shard"]
    with tarfile.open(shard) as tar:
        member = tar.getmember(f"{clip['clip_id']}.pose.npz")
    data = bytearray(shard.read_bytes())
    data[member.offset_data : member.offset_data + member.size] = bytes(member.size)  # zeros: no zip archive left
    shard.write_bytes(data)
    out = str(tmp_path / "preview.png")
    assert one_error_line(run("preview", clip["clip_id"], "--corpus", str(garbage), "-o", out)) == (
        f"clip {clip['clip_id']}: cannot read its shard {garbage / clip['shard']}: invalid header"
    )
    assert one_error_line(run("preview", clip["clip_id"], "--corpus", str(flipped), "-o", out)).startswith(
        f"{shard}: {clip['clip_id']}.pose.npz is damaged: "
    )


def test_an_unknown_unsafe_class_is_a_config_error_at_load_time():
    message = one_error_line(run("config", "show", "--set", 'review.unsafe.classes=["FEET_EXPOSD", "ANUS_EXPOSED"]'))
    assert (
        message.startswith("config: review.unsafe.classes: ") and "unknown detector classes ['FEET_EXPOSD']" in message
    )
