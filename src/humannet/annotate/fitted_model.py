"""Logistic models fitted offline on the development split, applied with numpy alone.

A decision that combines several cues (is anyone there, ego or exo, which motion) is a
logistic regression whose weights were fitted by `python -m benchmarks fit` on the labelled
development clips, never set by hand and never fitted on the test split (docs/accuracy.md).
The fitted weights ship as `assets/models/<name>.json` with what they were fitted on, so the
pipeline needs no learning library and a refit is a reviewed change to one file.

A model file holds, per output: the feature names, their means and scales (standardisation),
the coefficients and the intercept. A missing (NaN) feature takes its mean: no evidence moves
the logit neither way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class LogisticModel:
    """p(output) = sigmoid(intercept + sum coef * (x - mean) / scale) over named features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_dict(cls, data: Mapping) -> LogisticModel:
        return cls(
            features=tuple(data["features"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
        )

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(self.intercept, 6),
        }

    def logit(self, values: Mapping[str, float]) -> float:
        x = np.array([values.get(name, math.nan) for name in self.features], dtype=np.float64)
        x = np.where(np.isfinite(x), x, self.mean)
        return self.intercept + float(np.dot(self.coef, (x - self.mean) / self.scale))

    def probability(self, values: Mapping[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-min(max(self.logit(values), -50.0), 50.0)))


@dataclass(frozen=True)
class FittedModels:
    """One model file: named outputs (e.g. one per motion category) and what they were fitted on."""

    name: str
    outputs: dict[str, LogisticModel]
    fitted_on: dict

    def __getitem__(self, output: str) -> LogisticModel:
        return self.outputs[output]


@cache
def load_models(name: str) -> FittedModels:
    """`assets/models/<name>.json`, read once per process."""
    text = resources.files("humannet.assets").joinpath("models").joinpath(f"{name}.json").read_text()
    data = json.loads(text)
    outputs = {output: LogisticModel.from_dict(model) for output, model in data["outputs"].items()}
    return FittedModels(name=name, outputs=outputs, fitted_on=data["fitted_on"])
