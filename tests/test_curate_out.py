"""`humannet curate --out` from the user's side: one writer per corpus, a folder that is not a corpus, Ctrl-C."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
from click.testing import CliRunner
from rich.console import Console

from humannet.cli import main
from humannet.config import load_config
from humannet.corpus.lock import LOCK_FILE, CorpusLock
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from humannet.engine.progress import RunSummary

LIGHT = ["humans.enabled=false", "pose_tracks.enabled=false", "privacy.face_blur=off"]


def curate_command(inputs: str, out: str, *flags: str) -> list[str]:
    command = [sys.executable, "-m", "humannet.cli", "curate", inputs, "--out", out, "--workers", "1", *flags]
    for item in LIGHT:
        command += ["--set", item]
    return command


def error_line(done: subprocess.CompletedProcess) -> str:
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    return line


def test_a_second_curate_on_the_same_corpus_exits_2_and_names_the_first(tmp_path, examples_dir):
    out = tmp_path / "corpus"
    video = str(examples_dir / "exo_intel_asl_sign_again.mkv")
    with CorpusLock(str(out), "curate", lease_s=60) as first:
        second = subprocess.run(curate_command(video, str(out)), capture_output=True, text=True)
        assert second.returncode == 2, second.stderr
        host, pid = first.owner["host"], first.owner["pid"]
        assert error_line(second).startswith(
            f"error: {out}: another humannet curate (pid {pid} on host {host}, since "
        ) and error_line(second).endswith(
            f"is writing this corpus; wait for it to finish; if it is no longer running, delete {out}/{LOCK_FILE} "
            "(or pass curate --force-unlock)"
        )
        assert not (out / "state").exists()  # the second run wrote nothing
        for command in ("review", "recaption"):  # the other commands that write a corpus take the same lock
            refused = CliRunner().invoke(main, [command, str(out)])
            assert refused.exit_code == 2 and f"another humannet curate (pid {pid} on host {host}" in refused.stderr


def test_a_folder_that_is_not_a_corpus_is_refused_unless_allowed(tmp_path, examples_dir):
    video = str(examples_dir / "exo_intel_asl_sign_again.mkv")
    someone_elses = tmp_path / "photos"
    someone_elses.mkdir()
    (someone_elses / "holiday.jpg").write_bytes(b"not ours")
    refused = subprocess.run(
        curate_command(video, str(someone_elses), "--no-materialize"), capture_output=True, text=True
    )
    assert refused.returncode == 2, refused.stderr
    assert error_line(refused) == (
        f"error: {someone_elses}: not empty and not a humannet corpus (no manifest.json, no state/videos/): it holds "
        "holiday.jpg; pick an empty or new --out, or pass --allow-non-empty to write the corpus beside them"
    )
    assert sorted(p.name for p in someone_elses.iterdir()) == ["holiday.jpg"]

    def curate(**flags: bool) -> RunSummary:
        curator = Curator(load_config(None, LIGHT), someone_elses, LocalRunner(workers=1), Console(quiet=True), False)
        return curator.run(video, **flags)

    assert curate(allow_non_empty=True).analysed == 1
    assert (someone_elses / "holiday.jpg").read_bytes() == b"not ours"
    assert not (someone_elses / LOCK_FILE).exists()  # released at the end
    assert curate().resumed == 1  # now a corpus: extended without the flag


def test_ctrl_c_says_what_was_committed_and_the_command_that_resumes(tmp_path, examples_dir):
    out = tmp_path / "my corpus"  # a space, to see the command quoted
    # a short clip, a long one (two minutes: still being analysed when the first is committed, on any machine), a
    # short one
    long = tmp_path / "pool_cleaning_looped.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-stream_loop", "11", "-i", str(examples_dir / "exo_mmaction2_pool_cleaning.mp4")]
        + ["-c", "copy", str(long)],
        check=True,
    )
    names = ("exo_intel_asl_sign_again.mkv", "exo_mmaction2_pool_cleaning_part0.mp4")
    paths = [examples_dir / names[0], long, examples_dir / names[1]]
    listing = tmp_path / "inputs.txt"
    listing.write_text("".join(f"{path}\n" for path in paths))
    command = curate_command(str(listing), str(out), "--no-materialize")
    # its own process group, to which SIGINT goes as a terminal's Ctrl-C does: the command and its workers
    running = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a job started in the background by a shell (CI, nohup) inherits SIGINT ignored; a terminal's does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ledger = out / "state" / "videos"
    while running.poll() is None and not (ledger.is_dir() and any(ledger.glob("*.json"))):
        time.sleep(0.05)
    assert running.poll() is None, "the run ended before the first video was committed"
    os.killpg(running.pid, signal.SIGINT)
    _, stderr = running.communicate(timeout=120)
    assert running.returncode == 130, stderr
    committed = len(list(ledger.glob("*.json")))
    inputs = len(paths)
    resume = shlex.join(["humannet", *command[3:]])
    assert f"interrupted: {committed} of {inputs} videos committed; resume with: {resume}" in stderr
    assert 1 <= committed < inputs
    assert not (out / LOCK_FILE).exists()

    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{inputs - committed} analysed now, {committed} already done" in resumed.stderr
    assert pq.read_table(out / "videos.parquet").num_rows == inputs
