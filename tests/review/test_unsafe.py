"""The unsafe-content stage on real clips, tested with the detector's benign classes (feet, faces): never with explicit
material."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from nudenet import NudeDetector

from humannet.config import Config
from humannet.engine.pipeline import Pipeline
from humannet.media.frames import DecodeStats, iter_frames
from humannet.media.probe import probe_video
from humannet.process.clips import ClipStage
from humannet.process.probe import ProbeStage
from humannet.process.scenes import SceneStage
from humannet.records import Status, Video
from humannet.review.unsafe import EXPLICIT_CLASSES, NudeNetScorer, UnsafeConfig, UnsafeContentStage, sustained

BENIGN = ["FEET_EXPOSED", "FEET_COVERED", "FACE_FEMALE", "FACE_MALE"]


def analysis_frames(path, every: int = 2) -> list[np.ndarray]:
    probe = probe_video(str(path))
    frames = [
        f.analysis for f in iter_frames(str(path), probe, Config().decode, DecodeStats()) if f.analysis is not None
    ]
    return frames[::every]


def run_stage(path, config: UnsafeConfig) -> Video:
    c = Config()
    stage = UnsafeContentStage(config)
    pipeline = Pipeline(
        [ProbeStage(), SceneStage(c.scenes), ClipStage(c.clips), stage], c.decode, stamps={"unsafe": stage.stamp(c)}
    )
    pipeline.setup()
    return pipeline.run(Video(uri=str(path)))


@pytest.fixture(scope="module")
def football(examples_dir):
    return examples_dir / "exo_sam2_football_juggling.mp4"


def test_scores_agree_with_nudenets_own_detections(football):
    scorer = NudeNetScorer()
    scorer.setup()
    reference = NudeDetector()
    for image in analysis_frames(football, every=6):
        ours = dict(zip(scorer.labels, scorer.scores(image), strict=True))
        for detection in reference.detect(image):
            # NudeNet keeps an anchor's best class only; a per-class maximum over all anchors is never lower
            assert ours[detection["class"]] >= detection["score"] - 1e-3


def test_benign_classes_drive_the_plumbing_on_a_real_clip(football):
    benign = run_stage(football, UnsafeConfig(classes=BENIGN, threshold=0.4, action="quarantine"))
    assert benign.status is Status.KEPT or benign.reason.startswith("no_clips") is False
    quarantined = [c for c in benign.clips if c.reason and c.reason.startswith("quarantined: unsafe:")]
    assert quarantined, [c.reason for c in benign.clips]
    for clip in quarantined:
        assert clip.status is Status.DROPPED
        assert clip.scores["unsafe_score"] >= 0.4
        assert clip.details["unsafe"]["top_class"] in BENIGN
        assert clip.details["unsafe"]["top_class"] in clip.reason
        assert {f"unsafe_{name.lower()}" for name in BENIGN} <= set(clip.scores)
    assert benign.stamps["unsafe"].startswith("1:")

    dropped = run_stage(football, UnsafeConfig(classes=BENIGN, threshold=0.4, action="drop"))
    assert any(c.reason and c.reason.startswith("unsafe:") for c in dropped.clips)
    flagged = run_stage(football, UnsafeConfig(classes=BENIGN, threshold=0.4, action="flag"))
    assert (
        all(c.status is Status.KEPT for c in flagged.clips)
        and max(c.scores["unsafe_score"] for c in flagged.clips) >= 0.4
    )


def test_default_classes_keep_ordinary_footage(football):
    video = run_stage(football, UnsafeConfig())
    assert video.clips and all(c.status is Status.KEPT for c in video.clips)
    for clip in video.clips:
        assert clip.scores["unsafe_score"] < 0.5
        assert clip.scores["unsafe_samples"] >= 1
        assert clip.scores["unsafe_peak"] >= clip.scores["unsafe_score"]
        assert {f"unsafe_{name.lower()}" for name in EXPLICIT_CLASSES} <= set(clip.scores)


def test_a_missing_model_is_recorded_per_clip_never_fatal(football, tmp_path):
    video = run_stage(football, UnsafeConfig(model_path=str(tmp_path / "no_such_model.onnx")))
    assert video.status is Status.KEPT and video.clips
    assert all("unsafe_score" not in c.scores for c in video.clips)
    assert all(
        any(i.startswith("unsafe: not reviewed: FileNotFoundError") for i in c.labels["review_issues"])
        for c in video.clips
    )
    assert any(e.stage == "unsafe" and e.type == "ReviewUnavailable" for e in video.errors)


def test_an_unreadable_model_file_is_recorded_too(football, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    video = run_stage(football, UnsafeConfig(model_path=str(broken)))
    assert video.status is Status.KEPT
    assert all(c.labels["review_issues"][0].startswith("unsafe: not reviewed:") for c in video.clips)


def test_scorer_handles_any_frame_shape():
    scorer = NudeNetScorer()
    scorer.setup()
    for shape in ((360, 640, 3), (640, 360, 3), (17, 900, 3)):
        scores = scorer.scores(
            cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8), (5, 5), 0)
        )
        assert scores.shape == (len(scorer.labels),) and np.all((scores >= 0) & (scores <= 1))


def test_a_single_sample_is_a_glimpse_a_run_is_a_finding():
    scores = np.array([[0.1, 0.9], [0.6, 0.1], [0.7, 0.2], [0.2, 0.3]])  # (samples, classes)
    held, start = sustained(scores, 2)
    assert held.tolist() == [0.6, 0.2] and start.tolist() == [1, 2]
    assert sustained(scores, 1)[0].tolist() == [0.7, 0.9]
    assert sustained(scores[:1], 2)[0].tolist() == [0.1, 0.9]  # fewer samples than the run: all of them


@pytest.mark.slow
@pytest.mark.shared
def test_no_false_positives_on_the_shared_clips(shared_videos):
    """None of the shared clips shows unsafe content: with the default settings no clip may reach the threshold."""
    paths = sorted(p for p in shared_videos.iterdir() if p.suffix in (".mp4", ".mkv"))
    assert len(paths) >= 15
    for path in paths:
        video = run_stage(path, UnsafeConfig())
        assert video.status is Status.KEPT or video.reason.startswith("no_clips"), (path.name, video.reason)
        for clip in video.clips:
            assert "unsafe" not in (clip.reason or ""), (path.name, clip.reason)
            if clip.status is Status.KEPT:  # too short clips are dropped before the review
                assert clip.scores["unsafe_score"] < 0.5, (path.name, clip.clip_id, clip.details["unsafe"])


def test_the_class_names_checked_at_load_time_are_nudenets_own():
    from humannet.review.unsafe import NUDENET_CLASSES, nudenet_labels

    assert list(NUDENET_CLASSES) == nudenet_labels()
