"""The people-model fit: separable cues give a model that separates them; the test split is refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.fit import PEOPLE_CUES, cross_validated, fit_people, main
from humannet.annotate.detectors import FaceBox, FrameDetections
from humannet.annotate.fitted_model import LogisticModel
from humannet.config import load_config
from humannet.process.humans import HumanFrames
from tests.annotate.synthetic_people import hand


def observed(with_hands: bool):
    from benchmarks.fit import Observed

    detections = [
        FrameDetections(time_s=0.5 * i, width=640, height=360, hands=[hand((0.5, 0.7), (0.0, -1.0), 0.1, "left")])
        if with_hands
        else FrameDetections(time_s=0.5 * i, width=640, height=360, faces=[FaceBox((0.4, 0.4, 0.1, 0.1), 0.8)])
        for i in range(8)
    ]
    return Observed(HumanFrames(detections=detections), math.nan, None)


def test_fitted_people_model_separates_what_the_cues_separate(tmp_path: Path) -> None:
    files = [(tmp_path / f"{i}.mp4", {"people": i % 2 == 0}) for i in range(20)]
    seen = {path: observed(with_hands=label["people"]) for path, label in files}
    model_file, figures = fit_people(files, seen, load_config(None, []))
    model = LogisticModel.from_dict(model_file["outputs"]["person"])
    assert model.features == PEOPLE_CUES
    hands_only = dict.fromkeys(PEOPLE_CUES, 0.0) | {"hand_fraction": 1.0}
    face_only = dict.fromkeys(PEOPLE_CUES, 0.0) | {"face_fraction": 1.0}
    assert model.probability(hands_only) > 0.9 > 0.1 > model.probability(face_only)
    assert figures["cv_positives_lost"] == figures["cv_negatives_kept"] == 0
    json.dumps(model_file)  # what --write stores


def test_cross_validation_keeps_missing_values_at_the_mean() -> None:
    rows = [[float(i % 2), math.nan if i % 3 == 0 else 0.5] for i in range(30)]
    _, p = cross_validated(rows, [i % 2 == 1 for i in range(30)], balanced=True)
    assert np.all((p >= 0.5) == (np.arange(30) % 2 == 1))


def test_the_test_split_is_never_fitted_on() -> None:
    with pytest.raises(SystemExit):
        main(["--split", "test"])
