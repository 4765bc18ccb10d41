"""On-screen text review with the real OCR models: fake contact details drawn over real footage are flagged and
hidden."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from humannet.config import Config
from humannet.engine.pipeline import Pipeline
from humannet.media.cut import MaterializeConfig, materialize_clips
from humannet.media.frames import DecodeStats, iter_frames
from humannet.media.probe import probe_video
from humannet.process.clips import ClipStage
from humannet.process.probe import ProbeStage
from humannet.process.quality import ClipScorer, QualityConfig
from humannet.process.scenes import SceneStage
from humannet.records import Status, Video
from humannet.review.pii import PiiConfig, PiiStage, ScreenTextReader
from humannet.review.text_blur import TextBlurHook
from tests.review.text_video import FAKE_EMAIL, FAKE_PHONE, FAKE_PLATE, FAKE_URL, draw_card, overlay_text


@pytest.fixture(scope="module")
def reader() -> ScreenTextReader:
    reader = ScreenTextReader(PiiConfig())
    reader.setup()
    return reader


@pytest.fixture(scope="module")
def card_video(examples_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pii") / "coffee_card.mp4"
    return overlay_text(
        examples_dir / "exo_sam2_coffee_pouring.mp4", out, [FAKE_EMAIL, FAKE_PHONE, FAKE_URL], seconds=5.0
    )


def test_reader_finds_each_kind_with_boxes_and_no_text(reader):
    image = np.full((360, 640, 3), (60, 110, 60), np.uint8)
    draw_card(image, [FAKE_EMAIL, FAKE_PHONE, FAKE_URL, FAKE_PLATE], top=0.35)
    sample = reader.read(image, time_s=1.5)
    assert sorted(kind for kind, _ in sample.findings) == ["email", "phone", "plate", "url"]
    for _, box in sample.findings:
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= 1 and 0.3 <= y0 < y1 <= 1
    assert 0.05 < sample.text_area < 0.5


def test_large_text_feeds_the_screen_filter(reader):
    slide = np.full((360, 640, 3), 255, np.uint8)
    for row in range(9):
        cv2.putText(
            slide,
            f"Point {row}: some words across the slide",
            (10, 34 + 38 * row),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.95,
            (0, 0, 0),
            2,
            cv2.LINE_AA,
        )
    sample = reader.read(slide, time_s=0.0)
    assert sample.text_area > QualityConfig().max_text_area_fraction
    scorer = ClipScorer(QualityConfig())
    verdict = scorer.verdict(
        {"screen_score": 0.1, "text_area_fraction": sample.text_area, "blur_score": 0.9, "motion_score": 0.5}
    )
    assert verdict is not None and verdict.startswith("screen: text_area_fraction=")
    assert (
        scorer.verdict({"screen_score": 0.1, "text_area_fraction": 0.05, "blur_score": 0.9, "motion_score": 0.5})
        is None
    )


def run_stage(path, config: PiiConfig) -> Video:
    c = Config()
    stage = PiiStage(config)
    pipeline = Pipeline(
        [ProbeStage(), SceneStage(c.scenes), ClipStage(c.clips), stage], c.decode, stamps={"pii": stage.stamp(c)}
    )
    pipeline.setup()
    return pipeline.run(Video(uri=str(path)))


def test_stage_flags_clips_and_records_kinds_boxes_times_but_never_the_text(card_video):
    video = run_stage(card_video, PiiConfig())
    assert video.status is Status.KEPT and video.clips
    for clip in video.kept_clips:
        assert clip.labels["pii_flags"] == ["email", "phone", "url"]
        assert clip.scores["pii_findings"] >= 3
        assert 0 < clip.scores["text_area_fraction"] < 0.3
        details = clip.details["pii"]
        assert {f["kind"] for f in details["findings"]} == {"email", "phone", "url"}
        assert all(clip.start_s - 1.0 <= f["time_s"] < clip.end_s + 1.0 for f in details["findings"])
        text = json.dumps([clip.details, clip.labels, clip.scores])
        for secret in (FAKE_EMAIL, "415-555", "example.org", "jane"):
            assert secret not in text
    assert video.timings["pii.ocr"] > 0


def test_flagged_text_is_hidden_in_written_clips(card_video, reader, tmp_path):
    video = run_stage(card_video, PiiConfig())
    clip = video.kept_clips[0]
    probe = probe_video(str(card_video))
    written = materialize_clips(
        str(card_video), probe, [clip], tmp_path, MaterializeConfig(), Config().decode, [TextBlurHook(PiiConfig())]
    )
    mp4 = written[clip.clip_id]
    found = set()
    frames = [
        f.analysis
        for f in iter_frames(str(mp4), probe_video(str(mp4)), Config().decode, DecodeStats())
        if f.analysis is not None
    ]
    for image in frames[::2]:
        found |= {kind for kind, _ in reader.read(image, 0.0).findings}
    assert found == set()
    meta = json.loads((tmp_path / f"{clip.clip_id}.meta.json").read_text())
    assert meta["pii_hidden"]["method"] == "blur" and meta["pii_hidden"]["frames"] > 0


def test_missing_ocr_models_are_recorded_per_clip(card_video, tmp_path):
    video = run_stage(card_video, PiiConfig(model_dir=str(tmp_path)))
    assert video.status is Status.KEPT
    assert all(
        c.labels["review_issues"][0].startswith("pii: not reviewed: FileNotFoundError: OCR model not found")
        for c in video.kept_clips
    )
    assert all("pii_flags" not in c.labels for c in video.kept_clips)
