"""Fit the people model on labelled development clips (assets/models/people.json); check viewpoint and motion.

The content filter combines detector cues with a logistic model (`humannet.annotate.fitted_model`).
This fits it on development clips only (docs/accuracy.md): the `dev` split of the evaluation set
and any extra label files given, whose clips all count as development (the shared clips). It runs
the detection stages the pipeline runs, computes each cue with the pipeline's own functions over
the whole clip (the labels are per file), and fits a standardised logistic regression with the
regularisation chosen by 5-fold cross-validation. It prints the cross-validated figures and, with
`--write`, replaces the model file (then bump `PeopleFilterStage.version`).

The viewpoint and motion decisions still use hand-set weights. The same data check whether a fit
does better: a logistic model per decision, cross-validated the same way, against the hand-set rule
on the same clips; both are printed. The fits score higher there but make physically wrong calls on
clean cases (docs/accuracy.md, Methods), so they are measured here and not shipped.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from humannet.annotate.camera_motion import CameraMotionStage
from humannet.annotate.fitted_model import LogisticModel
from humannet.annotate.motion import MotionConfig, category_scores, measure_kinematics
from humannet.annotate.viewpoint import ViewpointConfig, decide, measure_cues
from humannet.config import Config, load_config
from humannet.engine.pipeline import Pipeline
from humannet.engine.stage import Stage
from humannet.process.clips import ClipStage
from humannet.process.humans import HumanFrames, HumanStage
from humannet.process.people import people_scores
from humannet.process.probe import ProbeStage
from humannet.process.scenes import SceneStage
from humannet.records import Video
from humannet.review.unsafe import UnsafeContentStage

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "humannet" / "assets" / "models"
MOTION_LABELS = ("locomotion", "whole_body", "manipulation", "gesture", "static")
PEOPLE_CUES = (
    "person_fraction",
    "hand_fraction",
    "face_fraction",
    "face_on_body_fraction",
    "hand_on_body_fraction",
    "body_part_fraction",
)
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


@dataclass
class Observed:
    """What the detection stages saw in one file."""

    humans: HumanFrames | None
    camera_shift: float
    parts: Any  # the unsafe review's UnsafeSamples, or None


class _Keep(Stage):
    """Takes the frame results before the pipeline clears them."""

    name: ClassVar[str] = "keep_frame_results"
    version: ClassVar[str] = "1"

    def __init__(self) -> None:
        self.seen: Observed | None = None

    def process(self, video: Video) -> Video:
        results = video.frame_results
        camera = results.get(CameraMotionStage.name)
        shift = camera.median_shift(0.0, math.inf) if camera is not None else math.nan
        self.seen = Observed(results.get(HumanStage.name), shift, results.get(UnsafeContentStage.name))
        return video


def observe(paths: list[Path], config: Config, cache: Path) -> dict[Path, Observed]:
    """Run the detection stages once per file; results are cached (pickles) in `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    keep = _Keep()
    stages = [
        ProbeStage(),
        SceneStage(config.scenes),
        HumanStage(config.humans),
        CameraMotionStage(config.camera_motion),
        keep,
        ClipStage(config.clips),
        UnsafeContentStage(config.review.unsafe),
    ]
    pipeline = None
    seen = {}
    for number, path in enumerate(paths, 1):
        stored = cache / f"{path.parent.name}__{path.name}.pkl"
        if stored.exists():
            seen[path] = pickle.loads(stored.read_bytes())
            continue
        if pipeline is None:
            pipeline = Pipeline(stages, config.decode)
            pipeline.setup()
        keep.seen = None
        video = pipeline.run(Video(uri=str(path)))
        print(f"[{number}/{len(paths)}] {path.name}: {video.status.value}", flush=True)
        seen[path] = keep.seen or Observed(None, math.nan, None)
        stored.write_bytes(pickle.dumps(seen[path]))
    return seen


def people_features(observed: Observed, config: Config) -> dict[str, float]:
    """The people model's inputs over the whole file (a file nobody could be looked for in: all zero)."""
    scores = people_scores(observed.humans or HumanFrames(), 0.0, math.inf, config.humans, observed.parts)
    return {
        name: scores[name] if math.isfinite(scores[name]) or name == "body_part_fraction" else 0.0
        for name in PEOPLE_CUES
    }


def standardised_logistic(
    rows: list[list[float]], targets: list[bool], c: float, balanced: bool
) -> tuple[np.ndarray, np.ndarray, Any]:
    """(mean, scale, fitted sklearn model) on rows with NaN taken as the column mean."""
    from sklearn.linear_model import LogisticRegression

    x = np.array(rows, dtype=np.float64)
    finite = np.isfinite(x)
    mean = np.where(finite, x, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)  # a column never seen: 0
    scale = np.where(np.isfinite(x), x, mean).std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (np.where(np.isfinite(x), x, mean) - mean) / scale
    return mean, scale, LogisticRegression(C=c, class_weight="balanced" if balanced else None).fit(z, targets)


def cross_validated(rows: list[list[float]], targets: list[bool], balanced: bool) -> tuple[float, np.ndarray]:
    """The C of `C_GRID` with the best 5-fold log-loss, and its out-of-fold probabilities."""
    from sklearn.model_selection import StratifiedKFold

    y = np.array(targets)
    folds = StratifiedKFold(n_splits=min(5, int(min(y.sum(), (~y).sum()))), shuffle=True, random_state=0)
    best = None
    for c in C_GRID:
        p = np.zeros(len(y))
        for train, test in folds.split(rows, y):
            mean, scale, model = standardised_logistic([rows[i] for i in train], list(y[train]), c, balanced)
            x = np.array([rows[i] for i in test], dtype=np.float64)
            p[test] = model.predict_proba((np.where(np.isfinite(x), x, mean) - mean) / scale)[:, 1]
        p = np.clip(p, 1e-6, 1 - 1e-6)
        loss = float(-np.mean(y * np.log(p) + (~y) * np.log(1 - p)))
        if best is None or loss < best[0]:
            best = (loss, c, p)
    return best[1], best[2]


def f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp, fp, fn = (predicted & truth).sum(), (predicted & ~truth).sum(), (~predicted & truth).sum()
    return float(2 * tp / max(2 * tp + fp + fn, 1))


def fit_people(files: list[tuple[Path, dict]], seen: dict[Path, Observed], config: Config) -> tuple[dict, dict]:
    """The people model (balanced classes: 0.5 is the decision) and its cross-validated figures."""
    rows = [[people_features(seen[path], config)[name] for name in PEOPLE_CUES] for path, _ in files]
    targets = [bool(label["people"]) for _, label in files]
    c, p = cross_validated(rows, targets, balanced=True)
    mean, scale, model = standardised_logistic(rows, targets, c, balanced=True)
    fitted = LogisticModel(PEOPLE_CUES, mean, scale, model.coef_[0], float(model.intercept_[0]))
    y, kept = np.array(targets), p >= 0.5
    figures = {
        "n": len(y),
        "with_people": int(y.sum()),
        "C": c,
        "cv_positives_lost": int((y & ~kept).sum()),
        "cv_negatives_kept": int((~y & kept).sum()),
    }
    return {"outputs": {"person": fitted.to_dict()}}, figures


def check_viewpoint(files: list[tuple[Path, dict]], seen: dict[Path, Observed]) -> dict:
    """Hand-set viewpoint rule against a fitted logistic model, per file with people labelled ego or exo."""
    config = ViewpointConfig()
    chosen = [(path, label) for path, label in files if label["people"] and label.get("view") in ("ego", "exo")]
    cues = [measure_cues(_detections(seen[path]), seen[path].camera_shift, config) for path, _ in chosen]
    truth = np.array([label["view"] for _, label in chosen])
    hand_set = np.array([decide(c, config)[0] for c in cues])
    rows = [
        [_finite(v) for v in (c.hand_bottom_entry, c.hand_side_consistency, c.hands_far)]
        + [
            c.face_visible,
            c.full_body_visible,
            c.body_without_hands,
            _finite(c.camera_still),
            min(1.0, c.hand_observations / config.full_hand_observations),
        ]
        for c in cues
    ]
    _, p = cross_validated(rows, list(truth == "ego"), balanced=False)
    threshold = config.decide_probability
    fitted = np.where(p >= threshold, "ego", np.where(p <= 1 - threshold, "exo", "unknown"))
    return {
        "n": len(truth),
        "hand_set_correct": int((hand_set == truth).sum()),
        "hand_set_unknown": int((hand_set == "unknown").sum()),
        "fitted_correct": int((fitted == truth).sum()),
        "fitted_unknown": int((fitted == "unknown").sum()),
    }


def check_motion(files: list[tuple[Path, dict]], seen: dict[Path, Observed]) -> dict:
    """Hand-set motion scores against one fitted logistic model per label: macro-F1 over the labelled files."""
    config = MotionConfig()
    chosen = [(path, label) for path, label in files if label["people"] and "motion" in label]
    kinematics = [measure_kinematics(_detections(seen[path]), config) for path, _ in chosen]
    rows = [
        [math.log1p(_finite(v)) for v in (k.hip_speed, k.leg_motion, k.arm_motion, k.hand_speed)]
        + [_finite(k.hands_high), k.person_fraction, k.hand_fraction, k.face_fraction]
        for k in kinematics
    ]
    hand_set, fitted = [], []
    for name in MOTION_LABELS:
        truth = np.array([name in label["motion"] for _, label in chosen])
        scores = np.array([category_scores(k, config)[name] for k in kinematics])
        hand_set.append(f1(scores >= config.label_threshold, truth))
        _, p = cross_validated(rows, list(truth), balanced=True)
        fitted.append(f1(p >= 0.5, truth))
    return {
        "n": len(chosen),
        "hand_set_macro_f1": round(float(np.mean(hand_set)), 3),
        "fitted_macro_f1": round(float(np.mean(fitted)), 3),
    }


def _detections(observed: Observed) -> list:
    return observed.humans.detections if observed.humans else []


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def training_files(labels_path: Path, split: str | None) -> list[tuple[Path, dict]]:
    clips = json.loads(labels_path.read_text())["clips"]
    return [
        (labels_path.parent / name, label)
        for name, label in sorted(clips.items())
        if (split is None or label.get("split") == split) and (labels_path.parent / name).is_file()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fit", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--labels",
        type=Path,
        default=Path("benchmarks/data/eval/labels.json"),
        help="evaluation labels; only its --split clips are used",
    )
    parser.add_argument("--split", default="dev", help="the development split of --labels (never 'test')")
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="more labels files whose clips are all development data (e.g. ../shared/data/videos/labels.json)",
    )
    parser.add_argument("--cache", type=Path, default=Path(".fit-cache"), help="detection results per file")
    parser.add_argument("--write", action="store_true", help="replace src/humannet/assets/models/people.json")
    args = parser.parse_args(argv)
    if args.split == "test":
        parser.error("models are never fitted on the test split (docs/accuracy.md)")
    files = training_files(args.labels, args.split)
    sources = [f"{args.labels.as_posix()} split={args.split}: {len(files)} files"]
    for extra in args.extra:
        more = training_files(extra, None)
        files += more
        sources.append(f"{extra.parent.name}/{extra.name}: {len(more)} files")
    config = load_config(None, [])
    seen = observe([path for path, _ in files], config, args.cache)
    people, figures = fit_people(files, seen, config)
    print("people    (cross-validated) " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    print("viewpoint (cross-validated) " + "  ".join(f"{k}={v}" for k, v in check_viewpoint(files, seen).items()))
    print("motion    (cross-validated) " + "  ".join(f"{k}={v}" for k, v in check_motion(files, seen).items()))
    if args.write:
        fitted_on = {"date": date.today().isoformat(), "development_files": sources, "cross_validation": figures}
        MODELS_DIR.mkdir(parents=True, exist_ok=True)
        (MODELS_DIR / "people.json").write_text(json.dumps({"fitted_on": fitted_on} | people, indent=1) + "\n")
        print("wrote src/humannet/assets/models/people.json")
    return 0
