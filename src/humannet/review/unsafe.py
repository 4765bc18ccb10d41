"""Unsafe-content review: NudeNet's detector on sampled analysis frames, clips above a threshold dropped or quarantined.

NudeNet 3.4 ships a YOLOv8n ONNX model (320 px input, 18 body-part and face classes) inside its
wheel, so it runs offline. It is not a person detector and not a context model: it finds exposed
(and covered) body parts, so sports footage scores on feet, belly and armpits, which is why only
the explicit classes are unsafe by default. The model runs here through onnxruntime directly,
one thread per worker, with the class scores read off the raw output in one vectorised step
(NudeNet's own post-processing loops over 2100 anchors in Python and then runs NMS, which a
per-class maximum does not need).

Per clip, `unsafe_<class>` is each configured class's highest score over the clip's samples and
`unsafe_peak` the highest of those. A single sample is a glimpse: this 320-px detector does fire
now and then on one frame of ordinary footage (hands, dough, skin-coloured objects), so the score
acted on, `unsafe_score`, is the highest level a class holds on `min_consecutive` samples in a
row (the same "a run, not a glimpse" rule the quality filters use); a clip with fewer samples
uses all it has. A clip whose `unsafe_score` reaches `threshold` is dropped
(`unsafe: ...`), quarantined (`quarantined: unsafe: ...`: kept out of the shards, listed in the
dropped index and the release manifest for a person to look at the source span) or only
flagged, as configured. A model that cannot be loaded is recorded on every clip it should have
reviewed (`review_issues`) and in errors.parquet; it never stops the run.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from dataclasses import dataclass
from typing import ClassVar, Literal

import cv2
import numpy as np
from pydantic import BaseModel, Field, field_validator

from humannet.engine.stage import FrameStage
from humannet.records import Clip, Frame, ItemError, Status, Video
from humannet.review.sampling import NoFrames, SampleClock, samples_for_clip, set_review_issue

log = logging.getLogger(__name__)

EXPLICIT_CLASSES = [
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
]
# NudeNet 3.4's class names in its output order, so settings are checked when they load, before any model does
NUDENET_CLASSES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
INPUT_SIDE = 320  # the bundled model's input size


class UnsafeConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(
        True,
        description="Run the unsafe-content detector (NudeNet YOLOv8n, bundled, offline) on sampled analysis frames.",
    )
    sample_fps: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Frames per second checked (taken from the analysis frames, so at most decode.analysis_fps).",
    )
    classes: list[str] = Field(
        default_factory=lambda: list(EXPLICIT_CLASSES),
        description=(
            "Detector classes that count as unsafe (NudeNet names, e.g. FEMALE_BREAST_EXPOSED); their maximum is the "
            "clip's unsafe_score."
        ),
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: list[str]) -> list[str]:
        unknown = [name for name in classes if name not in NUDENET_CLASSES]
        if unknown:
            raise ValueError(f"unknown detector classes {unknown}; NudeNet knows {', '.join(sorted(NUDENET_CLASSES))}")
        return classes

    threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A clip whose unsafe_score reaches this is handled by `action` (detector confidence, 0-1).",
    )
    min_consecutive: int = Field(
        2,
        ge=1,
        le=10,
        description=(
            "Samples in a row a class must hold a score on for it to count in unsafe_score (1 = any single sample)."
        ),
    )
    action: Literal["quarantine", "drop", "flag"] = Field(
        "quarantine",
        description=(
            "Clips at the threshold: 'quarantine' (out of the shards, listed for review), 'drop' (like any filter), "
            "'flag' (kept; the policy decides)."
        ),
    )
    model_path: str | None = Field(
        None, description="ONNX model file; unset = the 320n model inside the nudenet package."
    )


def nudenet_labels() -> list[str]:
    """The class names in the model's output order (NudeNet keeps them in a private module list)."""
    from nudenet import nudenet as module

    return list(vars(module)["__labels"])


def bundled_model_path() -> str:
    import nudenet

    return os.path.join(os.path.dirname(nudenet.__file__), "320n.onnx")


class NudeNetScorer:
    """Per-class maximum confidence of the NudeNet model on one BGR image."""

    def __init__(self, model_path: str | None = None) -> None:
        self.model_path = model_path
        self.labels = nudenet_labels()
        self._session = None
        self._input = ""

    def setup(self) -> None:
        import onnxruntime

        path = self.model_path or bundled_model_path()
        if not os.path.isfile(path):
            raise FileNotFoundError(f"unsafe-content model not found: {path}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one worker per core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def scores(self, bgr: np.ndarray) -> np.ndarray:
        """(classes,) float32: each class's highest anchor score, on NudeNet's own input: padded to a square, 320 px,
        /255,
        channels in BGR order (NudeNet's reader swaps BGR to RGB with cvtColor and back with swapRB, so the model sees
        BGR)."""
        assert self._session is not None, "call setup() first"
        side = max(bgr.shape[:2])
        padded = cv2.copyMakeBorder(bgr, 0, side - bgr.shape[0], 0, side - bgr.shape[1], cv2.BORDER_CONSTANT)
        blob = cv2.dnn.blobFromImage(padded, 1 / 255.0, (INPUT_SIDE, INPUT_SIDE), (0, 0, 0), swapRB=False, crop=False)
        output = self._session.run(None, {self._input: blob})[0]  # (1, 4 + classes, anchors)
        return output[0, 4:, :].max(axis=1).astype(np.float32)


@dataclass(slots=True)
class UnsafeSamples:
    times: np.ndarray  # (N,) seconds
    scores: np.ndarray  # (N, classes) per-class maximum
    labels: list[str]
    seconds: float  # time spent in the detector


class UnsafeAccumulator:
    def __init__(self, scorer: NudeNetScorer, sample_fps: float) -> None:
        self.scorer = scorer
        self.clock = SampleClock(sample_fps)
        self.times = array("d")
        self.rows: list[np.ndarray] = []
        self.seconds = 0.0

    def add(self, frame: Frame) -> None:
        if frame.analysis is None or not self.clock.take(frame.time_s):
            return
        started = time.perf_counter()
        self.rows.append(self.scorer.scores(frame.analysis))
        self.seconds += time.perf_counter() - started
        self.times.append(frame.time_s)

    def finish(self) -> UnsafeSamples:
        labels = self.scorer.labels
        scores = np.stack(self.rows) if self.rows else np.zeros((0, len(labels)), np.float32)
        return UnsafeSamples(np.frombuffer(self.times, dtype=np.float64).copy(), scores, labels, self.seconds)


class UnsafeContentStage(FrameStage):
    name: ClassVar[str] = "unsafe"
    version: ClassVar[str] = "1"
    wants_analysis_frames: ClassVar[bool] = True
    produces: ClassVar[tuple[str, ...]] = ("unsafe_*", "review_issues")
    produces_video: ClassVar[tuple[str, ...]] = ("review_stamps",)  # its stamp, put there by the pipeline
    config_sections: ClassVar[tuple[str, ...]] = ("review.unsafe",)
    reads: ClassVar[tuple[str, ...]] = ("clips",)
    rerunnable: ClassVar[bool] = True

    def __init__(self, config: UnsafeConfig) -> None:
        self.config = config
        self.scorer = NudeNetScorer(config.model_path)
        self.unavailable: str | None = None

    def setup(self) -> None:
        try:
            self.scorer.setup()
            unknown = sorted(set(self.config.classes) - set(self.scorer.labels))
            if unknown:
                raise ValueError(f"unknown detector classes {unknown} (known: {', '.join(self.scorer.labels)})")
        except Exception as exc:  # a missing or unreadable model is recorded per clip, never fatal
            self.unavailable = f"{type(exc).__name__}: {exc}"
            log.warning("unsafe-content review unavailable: %s", self.unavailable)

    def accumulator(self, video: Video) -> UnsafeAccumulator | NoFrames:
        if self.unavailable is not None:
            return NoFrames()
        return UnsafeAccumulator(self.scorer, self.config.sample_fps)

    def process(self, video: Video) -> Video:
        samples: UnsafeSamples | None = video.frame_results.get(self.name)
        if samples is None:
            message = self.unavailable or "no frames were sampled"
            video.errors.append(ItemError(stage=self.name, type="ReviewUnavailable", message=message))
            for clip in video.kept_clips:
                _clear_scores(clip)
                set_review_issue(clip, self.name, f"not reviewed: {message}")
            return video
        video.timings["unsafe.detector"] = samples.seconds
        columns = [samples.labels.index(name) for name in self.config.classes]
        for clip in video.kept_clips:
            self.score_clip(clip, samples, columns)
        return video

    def score_clip(self, clip: Clip, samples: UnsafeSamples, columns: list[int]) -> None:
        _clear_scores(clip)
        inside = samples_for_clip(samples.times, clip.start_s, clip.end_s, self.config.sample_fps)
        clip.scores["unsafe_samples"] = float(inside.size)
        if inside.size == 0:
            set_review_issue(clip, self.name, "not reviewed: no sampled frame in the clip")
            clip.details.pop(self.name, None)
            return
        set_review_issue(clip, self.name, None)
        chosen = samples.scores[np.ix_(inside, columns)]  # (samples, classes), in time order
        peak = chosen.max(axis=0)
        for name, value in zip(self.config.classes, peak, strict=True):
            clip.scores[f"unsafe_{name.lower()}"] = round(float(value), 4)
        clip.scores["unsafe_peak"] = round(float(peak.max()), 4)
        held, start = sustained(chosen, self.config.min_consecutive)
        best_class = int(np.argmax(held))
        score = round(float(held[best_class]), 4)
        clip.scores["unsafe_score"] = score
        top = self.config.classes[best_class]
        clip.details[self.name] = {
            "top_class": top,
            "score": score,
            "time_s": round(float(samples.times[inside[start[best_class]]]), 3),
        }
        if score >= self.config.threshold and self.config.action != "flag":
            reason = f"unsafe: unsafe_score={score:.3f} >= {self.config.threshold:g} ({top})"
            clip.status = Status.DROPPED
            clip.reason = f"quarantined: {reason}" if self.config.action == "quarantine" else reason


def sustained(scores: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class (column): the highest score held on `run` samples in a row (fewer when there are fewer), and where that
    run starts."""
    length = min(run, scores.shape[0])
    windows = np.lib.stride_tricks.sliding_window_view(scores, length, axis=0).min(axis=-1)  # (starts, classes)
    start = windows.argmax(axis=0)
    return windows[start, np.arange(scores.shape[1])], start


def _clear_scores(clip: Clip) -> None:
    """Scores from an earlier run (other classes, other settings) must not linger beside new ones."""
    for key in [k for k in clip.scores if k.startswith("unsafe_")]:
        del clip.scores[key]
