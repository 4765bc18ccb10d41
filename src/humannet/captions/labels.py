"""A taxonomy label assigned to a clip, and how assignments from several labellers are merged."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from humannet.captions.taxonomy import AXES, Taxonomy


@dataclass(frozen=True, slots=True)
class LabelAssignment:
    axis: str
    label: str
    score: float  # 0-1: a measured score, a text similarity, or 1.0 for metadata facts
    provenance: str  # measured:<signal> | metadata:<field> | text:<field> | vlm:<model> | rule:<name>
    path: str = ""  # the label's ancestors and itself, "indoor/home/kitchen"

    def to_dict(self) -> dict:
        return asdict(self)


def assign(taxonomy: Taxonomy, axis: str, label: str, score: float, provenance: str) -> LabelAssignment:
    return LabelAssignment(axis, label, round(float(score), 4), provenance, "/".join(taxonomy.axis(axis).path(label)))


def merge(assignments: list[LabelAssignment]) -> list[LabelAssignment]:
    """One entry per (axis, label): the highest score wins; ties keep the first labeller's."""
    best: dict[tuple[str, str], LabelAssignment] = {}
    for item in assignments:
        key = (item.axis, item.label)
        if key not in best or item.score > best[key].score:
            best[key] = item
    return sorted(best.values(), key=lambda a: (AXES.index(a.axis) if a.axis in AXES else 99, -a.score, a.label))


def index_columns(taxonomy: Taxonomy, assignments: list[LabelAssignment]) -> dict[str, list[str]]:
    """`taxonomy_<axis>`: every assigned label with its ancestors, coarse first, no repeats."""
    columns: dict[str, list[str]] = {f"taxonomy_{axis}": [] for axis in taxonomy.axes}
    for item in assignments:
        column = columns[f"taxonomy_{item.axis}"]
        for name in taxonomy.axis(item.axis).path(item.label):
            if name not in column:
                column.append(name)
    return columns
