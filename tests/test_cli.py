"""The command line reports every HumannetError once: one `error:` line on stderr, exit 2."""

from __future__ import annotations

from click.testing import CliRunner

from humannet.cli import main


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
