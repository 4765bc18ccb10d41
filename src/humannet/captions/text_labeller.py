"""Taxonomy labels from text (title, description, tags, narrations, a VLM's words) by MiniLM
sentence embeddings.

Each label is represented by the embedding of "<label name>: <description>" (computed once per
worker). A text gets, on each text axis, the label with the highest cosine similarity when that
similarity reaches `threshold` and beats the best label outside the winner's own branch (its
ancestors and descendants) by `margin`; the score is the similarity. Branches compete, not a
label with its parent, so "kitchen" and "home" do not cancel each other. When labels of different
branches are within the margin of the best, the deepest ancestor they share is assigned instead
("park" vs "sports_field" -> "urban"), and nothing when they share none.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, Field

from humannet.captions.embeddings import TextEmbedder
from humannet.captions.labels import LabelAssignment, assign
from humannet.captions.taxonomy import Taxonomy

TEXT_AXES = ("environment", "interaction_style", "task_structure")


class TextLabelConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(
        True, description="Label clips on the taxonomy from their source text with MiniLM embeddings."
    )
    threshold: float = Field(
        0.3,
        ge=-1,
        le=1,
        description="Least cosine similarity between a text and a label description for the label to be assigned.",
    )
    margin: float = Field(
        0.05, ge=0, le=2, description="How much the best label must beat the best label of another branch (cosine)."
    )
    max_chars: int = Field(
        300, ge=20, description="Longer texts (descriptions) are cut to their first this many characters."
    )


class TextLabeller:
    def __init__(self, taxonomy: Taxonomy, embedder: TextEmbedder, config: TextLabelConfig) -> None:
        self.taxonomy = taxonomy
        self.embedder = embedder
        self.config = config
        self._labels: dict[str, tuple[list[str], np.ndarray]] = {}

    def _axis(self, axis: str) -> tuple[list[str], np.ndarray]:
        if axis not in self._labels:
            labels = self.taxonomy.axis(axis).labels
            names = list(labels)
            texts = [f"{name.replace('_', ' ')}: {labels[name].description}" for name in names]
            self._labels[axis] = (names, self.embedder.encode(texts))
        return self._labels[axis]

    def label_text(self, text: str, provenance: str, axes: tuple[str, ...] = TEXT_AXES) -> list[LabelAssignment]:
        text = clean_text(text, self.config.max_chars)
        if not text:
            return []
        vector = self.embedder.encode([text])[0]
        found = []
        for axis in axes:
            names, matrix = self._axis(axis)
            similarities = matrix @ vector
            order = np.argsort(-similarities)
            best = names[int(order[0])]
            branch = set(self.taxonomy.axis(axis).path(best)) | _descendants(self.taxonomy, axis, best)
            rival = max((float(similarities[i]) for i in order if names[int(i)] not in branch), default=-1.0)
            score = float(similarities[int(order[0])])
            if score < self.config.threshold:
                continue
            if score - rival >= self.config.margin:
                found.append(assign(self.taxonomy, axis, best, score, provenance))
                continue
            # Too close to call between branches: back off to the deepest ancestor the close candidates share.
            close = [names[int(i)] for i in order if float(similarities[int(i)]) >= score - self.config.margin]
            shared = _common_ancestor([self.taxonomy.axis(axis).path(name) for name in close])
            if shared is not None:
                found.append(assign(self.taxonomy, axis, shared, score, provenance))
        return found


def _common_ancestor(paths: list[list[str]]) -> str | None:
    shared = None
    for level in zip(*paths, strict=False):
        if len(set(level)) != 1:
            break
        shared = level[0]
    return shared


def _descendants(taxonomy: Taxonomy, axis: str, label: str) -> set[str]:
    labels = taxonomy.axis(axis).labels
    out: set[str] = set()
    todo = list(labels[label].children)
    while todo:
        name = todo.pop()
        out.add(name)
        todo.extend(labels[name].children)
    return out


def clean_text(text: str, max_chars: int) -> str:
    """Drop URLs, hashtags' '#', e-mail addresses and repeated whitespace; cut to max_chars at a word."""
    text = re.sub(r"https?://\S+|www\.\S+|\S+@\S+", " ", text)
    text = re.sub(r"[#_]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0]
    return text
