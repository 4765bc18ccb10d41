"""People detection and the content filter: synthetic detections for the rules, awkward videos and real clips for the
stages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from humannet.annotate.detectors import BodyPose, FaceBox, FrameDetections, HandPose, HumanDetector
from humannet.config import Config
from humannet.engine.pipeline import Pipeline
from humannet.process.clips import ClipStage
from humannet.process.dedup import SignatureStage
from humannet.process.humans import HumanConfig, HumanFrames, HumanStage
from humannet.process.people import PeopleFilterStage, people_scores, people_verdict, person_probability
from humannet.process.person_spans import PersonSpanStage, absent_spans, merge_spans
from humannet.process.probe import ProbeStage
from humannet.process.quality import QualityStage, UnusableSpan
from humannet.process.scenes import SceneStage
from humannet.process.unusable import UnusableSpanStage
from humannet.records import Clip, Frame, Status, Video
from tests.conftest import EXAMPLES, ffmpeg, make_video

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos"


def hand_at(x: float, y: float, size: float = 0.1, handedness: str = "right") -> HandPose:
    """A hand of 21 keypoints spread over a `size`-wide square at (x, y), normalised coordinates."""
    grid = np.stack(np.meshgrid(np.linspace(0, size, 7), np.linspace(0, size, 3)), axis=-1).reshape(-1, 2)
    image = np.zeros((21, 3), np.float32)
    image[:, :2] = grid + (x, y)
    return HandPose(image=image, world=np.zeros((21, 3), np.float32), handedness=handedness, score=0.9)


def samples(present: list[bool], step: float = 0.5, moving: bool = True) -> list[FrameDetections]:
    """One detection per sample; a hand where `present`, sliding 0.05 of the frame per sample when `moving`."""
    out = []
    for i, here in enumerate(present):
        d = FrameDetections(time_s=i * step, width=640, height=360)
        if here:
            d.hands.append(hand_at(0.2 + (0.05 * i if moving else 0.0), 0.5))
        out.append(d)
    return out


def test_absent_spans_cut_long_runs_only_and_reach_the_video_ends():
    present = [False] * 6 + [True] * 4 + [False] * 2 + [True] * 4 + [False] * 5  # 3 s absent, 1 s gap, 2.5 s absent
    frame_times = np.arange(0, 10.5, 0.04)
    spans = absent_spans(samples(present), frame_times, HumanConfig(min_absent_s=2.0))
    assert [(s.start_s, s.reason) for s in spans] == [(0.0, "no_person"), (7.75, "no_person")]
    assert spans[0].end_s == pytest.approx(2.75)  # midway between the last empty and the first busy sample
    assert spans[1].end_s == pytest.approx(10.52)  # the end of the last frame (10.48 s + one frame)
    assert absent_spans([], frame_times, HumanConfig()) == []


def test_merge_keeps_existing_reasons_and_stays_sorted_without_overlap():
    existing = [UnusableSpan(2.0, 4.0, "dark"), UnusableSpan(8.0, 9.0, "corruption")]
    added = [UnusableSpan(0.0, 3.0, "no_person"), UnusableSpan(3.5, 10.0, "no_person")]
    merged = merge_spans(existing, added)
    assert [(s.start_s, s.end_s, s.reason) for s in merged] == [
        (0.0, 2.0, "no_person"),
        (2.0, 4.0, "dark"),
        (4.0, 8.0, "no_person"),
        (8.0, 9.0, "corruption"),
        (9.0, 10.0, "no_person"),
    ]


def test_person_span_stage_appends_to_the_spans_the_clip_stage_cuts():
    video = Video(uri="v.mp4", video_id="v")
    video.frame_results = {
        "frame_times": np.arange(0, 6, 0.04),
        "humans": HumanFrames(detections=samples([True] * 4 + [False] * 8)),
        "unusable": [UnusableSpan(0.0, 0.5, "dark")],
    }
    PersonSpanStage(HumanConfig()).process(video)
    assert [(s.start_s, s.end_s, s.reason) for s in video.frame_results["unusable"]] == [
        (0.0, 0.5, "dark"),
        (1.75, 6.0, "no_person"),
    ]


def clip(start: float, end: float) -> Clip:
    return Clip(clip_id=f"c{start}", video_id="v", start_s=start, end_s=end, start_frame=0, end_frame=0, scene_index=0)


def test_clip_filter_scores_and_reasons():
    config = HumanConfig()
    frames = HumanFrames(
        detections=samples([True] * 10)
        + [FrameDetections(time_s=5.0 + 0.5 * i, width=640, height=360) for i in range(10)]
    )
    scores = people_scores(frames, 0.0, 5.0, config)
    assert scores["hand_fraction"] == 1.0 and scores["person_fraction"] == 0.0 and scores["pose_frames"] == 0.0
    # hand sizes per second
    assert scores["human_motion_score"] == pytest.approx(0.05 * 640 / 0.5 / np.hypot(64, 36), rel=0.01)
    assert people_verdict(with_probability(scores), config) is None
    empty = with_probability(people_scores(frames, 5.0, 10.0, config))
    assert people_verdict(empty, config).startswith("no_person: person_probability=")
    assert empty["person_probability"] < config.min_person_probability < person_probability(scores)
    still = people_scores(HumanFrames(detections=samples([True] * 10, moving=False)), 0.0, 5.0, config)
    assert still["human_motion_score"] == 0.0
    assert people_verdict(with_probability(still), config).startswith("person_static: human_motion_score=0.000 < 0.035")


def with_probability(scores: dict[str, float]) -> dict[str, float]:
    return scores | {"person_probability": person_probability(scores)}


def cues(**fractions: float) -> dict[str, float]:
    """A clip's people cues: every detector silent except the ones given."""
    silent = dict.fromkeys(
        ("person_fraction", "hand_fraction", "face_fraction", "face_on_body_fraction", "hand_on_body_fraction"), 0.0
    )
    return silent | {"any_person_fraction": 1.0, "body_part_fraction": float("nan")} | fractions


def test_a_face_alone_is_not_a_person_but_a_face_on_a_body_is():
    """The face detector fires on prints, icons and objects; a face counts when the body's head holds it."""
    assert person_probability(cues(face_fraction=1.0)) < 0.5
    assert person_probability(cues(face_fraction=1.0, person_fraction=1.0, face_on_body_fraction=1.0)) > 0.95
    assert person_probability(cues()) < 0.5  # the detectors ran and saw nobody


def test_an_independent_body_part_detector_raises_the_probability():
    body_seen_now_and_then = cues(person_fraction=0.3)
    corroborated = body_seen_now_and_then | {"body_part_fraction": 0.5}
    assert person_probability(corroborated) > person_probability(body_seen_now_and_then)


def test_filter_stage_leaves_dropped_clips_alone_and_counts_faces_and_bodies():
    detections = samples([True] * 10)
    for d in detections[:5]:
        d.faces.append(FaceBox(box=(0.4, 0.2, 0.1, 0.15), score=0.9))
        d.body = BodyPose(image=np.full((33, 4), 0.5, np.float32), world=np.zeros((33, 4), np.float32))
    video = Video(uri="v.mp4", video_id="v", clips=[clip(0.0, 5.0), clip(0.0, 5.0)])
    video.clips[1].status, video.clips[1].reason = Status.DROPPED, "too_short: 1 s"
    video.frame_results = {"humans": HumanFrames(detections=detections)}
    PeopleFilterStage(HumanConfig()).process(video)
    kept, dropped = video.clips
    assert kept.status is Status.KEPT and kept.scores["face_fraction"] == 0.5 and kept.scores["person_fraction"] == 0.5
    assert dropped.reason == "too_short: 1 s" and not dropped.scores


class CountingDetector(HumanDetector):
    """Sees a hand in every frame; counts calls and resets."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.resets = 0

    def setup(self) -> None:
        pass

    def reset(self) -> None:
        self.resets += 1

    def detect(self, bgr: np.ndarray, time_s: float) -> FrameDetections:
        self.calls.append(time_s)
        return FrameDetections(time_s=time_s, width=bgr.shape[1], height=bgr.shape[0], hands=[hand_at(0.5, 0.5)])


def test_accumulator_samples_at_the_detection_rate_and_skips_blank_frames():
    detector = CountingDetector()
    stage = HumanStage(HumanConfig(detect_fps=1.0), detector=detector)
    accumulator = stage.accumulator(Video(uri="v.mp4"))
    rng = np.random.default_rng(0)
    for i in range(100):  # 4 s at 25 fps, analysis frames at 2 fps; black from 2 s on
        t = i / 25
        small = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8) if t < 2 else np.zeros((90, 160, 3), np.uint8)
        accumulator.add(Frame(index=i, time_s=t, small=small, analysis=small if i % 12 == 0 else None))
    result = accumulator.finish()
    assert detector.resets == 1
    assert detector.calls == pytest.approx([0.0, 0.96, 1.92])  # every other analysis frame (0, 0.48, 0.96 ...)
    assert result.skipped_times == pytest.approx([2.88, 3.84])  # black: recorded as skipped, not as "nobody"
    assert len(result.detections) == 3


def analysis_stages(humans: HumanConfig | None = None) -> list:
    """The current analysis chain with the human stages where the lead wires them."""
    config = Config()
    humans = humans or HumanConfig()
    return [
        ProbeStage(),
        SceneStage(config.scenes),
        SignatureStage(config.dedup),
        HumanStage(humans),
        UnusableSpanStage(config.quality),
        PersonSpanStage(humans),
        ClipStage(config.clips),
        QualityStage(config.quality),
        PeopleFilterStage(humans),
    ]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    pipe = Pipeline(analysis_stages(), Config().decode)
    pipe.setup()
    return pipe


@pytest.mark.parametrize(
    ("size", "pix_fmt"),
    [("2000x100", "yuv420p"), ("96x64", "yuv420p"), ("320x240", "gray"), ("100x1200", "yuv420p")],
)
def test_awkward_videos_without_people_are_dropped_with_reasons_not_failed(tmp_path, pipeline, size, pix_fmt):
    path = tmp_path / "odd.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=25:duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        pix_fmt,
        str(path),
    )
    video = pipeline.run(Video(uri=str(path), video_id="odd"))
    assert video.status is Status.KEPT and not video.errors
    assert video.clips and not video.kept_clips
    # a test pattern is screen-like
    assert all(c.reason.startswith(("no_person", "too_short", "screen")) for c in video.clips)


def test_black_video_is_skipped_not_called_empty(tmp_path):
    path = make_video(tmp_path / "black.mp4", seconds=2.0, source="color")  # lavfi color defaults to black
    detector = CountingDetector()
    stage = HumanStage(HumanConfig(), detector=detector)
    video = Pipeline([ProbeStage(), stage], Config().decode).run(Video(uri=str(path), video_id="black"))
    assert video.status is Status.KEPT and not detector.calls


def run_clips(pipe: Pipeline, path: Path) -> Video:
    return pipe.run(Video(uri=str(path), video_id=path.stem))


def test_bundled_person_clip_is_kept_and_screen_recording_dropped(pipeline):
    coffee = run_clips(pipeline, EXAMPLES / "exo_sam2_coffee_pouring.mp4")
    assert coffee.kept_clips and all(c.scores["hand_fraction"] > 0.5 for c in coffee.kept_clips)
    screen = run_clips(pipeline, EXAMPLES / "neg_marimo_screen_recording.mp4")
    assert not screen.kept_clips


@pytest.mark.shared
@pytest.mark.parametrize(
    "name",
    [
        "exo_mmaction2_pool_cleaning.mp4",
        "exo_pyfeat_face_closeup.mp4",
        "neg_imageio_cockatoo.mp4",
        "neg_pyscenedetect_nature_fades.mp4",
        "static_intel_bottles_hand.mp4",
    ],
)
def test_shared_clips_keep_people_and_only_people(pipeline, name):
    label = json.loads((SHARED / "labels.json").read_text())["clips"][name]
    video = run_clips(pipeline, SHARED / name)
    kept = video.kept_clips
    if not label["people"]:
        assert not kept, [(c.start_s, c.end_s, c.scores) for c in kept]
    elif "people_spans" in label:
        assert all(any(c.start_s < b and c.end_s > a for a, b in label["people_spans"]) for c in kept)
    else:
        assert kept
