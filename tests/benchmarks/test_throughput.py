"""The benchmark's plumbing on two tiny generated clips: every field present, every value sane (no timing claims)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.throughput import BenchOptions, format_report, run_benchmark, score_cuts
from tests.conftest import ffmpeg, make_video


def test_score_cuts_counts_each_detector_against_the_same_labels() -> None:
    labels = {"a.mp4": [1.0, 5.0], "b.mp4": []}
    predictions = {"good": {"a.mp4": [1.2, 5.1], "b.mp4": []}, "noisy": {"a.mp4": [1.0, 3.0], "b.mp4": [2.0]}}
    result = score_cuts(labels, predictions, tolerance_s=0.5)
    assert result["labelled_files"] == 2 and result["labelled_cuts"] == 2
    assert result["detectors"]["good"]["f1"] == 1.0
    noisy = result["detectors"]["noisy"]
    assert (noisy["tp"], noisy["fp"], noisy["fn"]) == (1, 2, 1)


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 3-s clips: one continuous shot, one with a hard cut at 1.5 s between two different sources."""
    root = tmp_path_factory.mktemp("bench_videos")
    make_video(root / "one_shot.mp4", seconds=3.0, rate=25)
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=1.5",
        "-f",
        "lavfi",
        "-i",
        "smptehdbars=size=320x240:rate=25:duration=1.5",
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1[v]",
        "-map",
        "[v]",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(root / "with_cut.mp4"),
    )
    labels = {"clips": {"one_shot.mp4": {"cuts": []}, "with_cut.mp4": {"cuts": [{"t": 1.5, "kind": "hard"}]}}}
    (root / "labels.json").write_text(json.dumps(labels))
    return root


def test_benchmark_report_has_every_measurement(tiny_videos: Path, tmp_path: Path) -> None:
    options = BenchOptions(
        videos=tiny_videos,
        long_video=True,
        long_video_s=4.0,
        long_video_size=(320, 240),
        long_video_fps=25,
        keep=tmp_path / "kept",
        cache_dir=tmp_path / "cache",
        # Synthetic clips hold no people and look like screens: switch those filters off so clips get written.
        overrides=(
            "clips.min_s=1.0",
            "quality.screen_enabled=false",
            "humans.spans_enabled=false",
            "humans.filter_enabled=false",
        ),
    )
    report = run_benchmark(options)

    assert report.inputs["files"] == 2 and report.inputs["analysed_by_humannet"] == 2
    assert report.inputs["video_s"] == pytest.approx(6.0, abs=0.2)
    analysis = report.humannet_analysis
    for value in (
        report.ffmpeg_decode["realtime_per_core"],
        report.pyscenedetect["realtime_per_core"],
        analysis["realtime_per_core_gross"],
        analysis["realtime_per_core_net"],
        analysis["realtime_per_core_in_worker"],
        analysis["ratio_vs_pyscenedetect_net"],
    ):
        assert math.isfinite(value) and value > 0
    assert analysis["resume_wall_s"] < analysis["wall_s"]
    assert 0 < analysis["in_worker_s"] < analysis["wall_s"]
    assert analysis["workers_seen"] >= 1 and 20 < analysis["peak_worker_rss_mb"] < 4096
    with_humans = report.humannet_with_humans
    assert "humans" in with_humans["in_worker_by_step_s"] and "humans" not in analysis["in_worker_by_step_s"]
    assert math.isfinite(with_humans["realtime_per_core_net"]) and with_humans["realtime_per_core_net"] > 0
    # The review detectors run inside the decode pass at default settings; their share is reported, not counted twice.
    assert (
        with_humans["review_detector_steps"] == ["pii.ocr", "unsafe.detector"] and with_humans["review_detectors_s"] > 0
    )
    assert with_humans["realtime_per_core_in_worker_without_review"] > with_humans["realtime_per_core_in_worker"]
    assert with_humans["in_worker_s"] < with_humans["wall_s"]
    assert analysis["in_worker_by_step_s"].keys().isdisjoint(with_humans["review_detector_steps"])

    materialize = report.materialize
    assert materialize["encoder"]["crf"] == 23 and materialize["encoder"]["preset"] == "veryfast"
    assert materialize["clips"] >= 1 and 0 < materialize["clip_s"] <= report.inputs["video_s"]
    assert materialize["clip_s_per_wall_s_per_core"] > 0
    # Step timings come from the worker through the ledger; together they are the materialise stage's time.
    steps = materialize["in_worker_by_step"]
    assert {"decode", "convert", "encode", "keypoints", "face_hiding", "motion3d", "retarget"} <= set(steps)
    assert all(
        step["seconds"] > 0 and step["ms_per_frame"] > 0 and step["realtime_per_core"] > 0 for step in steps.values()
    )
    assert sum(step["seconds"] for step in steps.values()) <= materialize["in_worker_s"] <= materialize["net_wall_s"]
    assert materialize["frames"] == pytest.approx(materialize["clip_s"] * 25, abs=materialize["clips"])
    assert any((tmp_path / "kept" / "materialized" / "shards").glob("*.tar"))

    assert (
        report.accuracy is not None and report.accuracy["labelled_files"] == 2 and report.accuracy["labelled_cuts"] == 1
    )
    for score in report.accuracy["detectors"].values():
        assert 0.0 <= score["precision"] <= 1.0 and 0.0 <= score["recall"] <= 1.0 and 0.0 <= score["f1"] <= 1.0
    assert set(report.accuracy["detectors"]) == {"pyscenedetect", "humannet"}

    long_video = report.long_video
    assert long_video is not None and (long_video["width"], long_video["height"]) == (320, 240)
    assert long_video["video_s"] == pytest.approx(4.0, abs=0.3)
    assert long_video["realtime_per_core_gross"] > 0 and long_video["ffmpeg_decode_realtime_per_core"] > 0
    assert long_video["pyscenedetect_realtime_per_core"] > 0 and long_video["ratio_vs_pyscenedetect_net"] > 0
    assert long_video["peak_worker_rss_mb"] > 0
    assert Path(long_video["path"]).is_file()  # cached for the next run

    text = format_report(report)
    headings = (
        "FFmpeg decode",
        "PySceneDetect",
        "humannet / PySceneDetect",
        "Materialisation",
        "Cut accuracy",
        "Long video",
    )
    assert all(heading in text for heading in headings)
    assert "inside the worker:" in text and all(f"    {step} " in text for step in steps)
    assert json.loads(report.to_json())["humannet_analysis"]["wall_s"] == analysis["wall_s"]
