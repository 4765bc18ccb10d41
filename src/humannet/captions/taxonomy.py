"""The multi-axis taxonomy (`assets/taxonomy.yaml`): loaded once, validated, and queried by path.

Labels are data, not code: labellers look labels up here by name and never emit one that is
not in the file, so a corpus's `taxonomy_<axis>` columns always mean what the shipped YAML
(whose `version` is recorded with every label) says they mean.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

AXES = (
    "source_type",
    "viewpoint",
    "task_structure",
    "environment",
    "interaction_style",
    "motion_category",
    "metadata_availability",
)
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True, slots=True)
class TaxonomyLabel:
    axis: str
    name: str
    description: str
    parent: str | None
    depth: int  # 0 for a top-level label
    children: tuple[str, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclass(frozen=True)
class Axis:
    name: str
    description: str
    labels: dict[str, TaxonomyLabel] = field(default_factory=dict)

    def path(self, label: str) -> list[str]:
        """The label and its ancestors, root first: `kitchen` -> [indoor, home, kitchen]."""
        chain = []
        node: str | None = label
        while node is not None:
            chain.append(node)
            node = self.labels[node].parent
        return chain[::-1]

    @property
    def leaves(self) -> list[str]:
        return [name for name, label in self.labels.items() if label.is_leaf]

    @property
    def depth(self) -> int:
        return 1 + max(label.depth for label in self.labels.values())


@dataclass(frozen=True)
class Taxonomy:
    version: int
    axes: dict[str, Axis]

    def axis(self, name: str) -> Axis:
        return self.axes[name]

    def has(self, axis: str, label: str) -> bool:
        return axis in self.axes and label in self.axes[axis].labels


def _walk(
    axis: str, entries: Any, parent: str | None, depth: int, out: dict[str, TaxonomyLabel], origin: str
) -> tuple[str, ...]:
    if not isinstance(entries, dict) or not entries:
        raise TaxonomyError(f"{origin}: axis {axis}: labels under {parent or 'the axis'} must be a non-empty mapping")
    names = []
    for name, body in entries.items():
        where = f"{origin}: axis {axis}: label {name!r}"
        if not isinstance(name, str) or not NAME.match(name):
            raise TaxonomyError(f"{where}: names are snake_case")
        if name in out:
            raise TaxonomyError(f"{where}: appears twice in the axis")
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("description"), str)
            or not body["description"].strip()
        ):
            raise TaxonomyError(f"{where}: needs a non-empty description")
        unknown = set(body) - {"description", "children"}
        if unknown:
            raise TaxonomyError(f"{where}: unknown keys {sorted(unknown)}")
        out[name] = TaxonomyLabel(axis, name, body["description"].strip(), parent, depth)
        children = _walk(axis, body["children"], name, depth + 1, out, origin) if "children" in body else ()
        out[name] = TaxonomyLabel(axis, name, body["description"].strip(), parent, depth, children)
        names.append(name)
    return tuple(names)


def parse_taxonomy(data: Any, origin: str = "taxonomy") -> Taxonomy:
    """Validate the YAML tree: every axis present, names unique per axis, every label described."""
    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        raise TaxonomyError(f"{origin}: needs an integer `version` and an `axes` mapping")
    axes_data = data.get("axes")
    if not isinstance(axes_data, dict):
        raise TaxonomyError(f"{origin}: `axes` must be a mapping")
    missing = [name for name in AXES if name not in axes_data]
    if missing:
        raise TaxonomyError(f"{origin}: missing axes {missing}")
    axes = {}
    for name, body in axes_data.items():
        if not isinstance(body, dict) or "labels" not in body:
            raise TaxonomyError(f"{origin}: axis {name}: needs `description` and `labels`")
        labels: dict[str, TaxonomyLabel] = {}
        _walk(name, body["labels"], None, 0, labels, origin)
        axes[name] = Axis(name, str(body.get("description", "")), labels)
    return Taxonomy(version=data["version"], axes=axes)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """The shipped taxonomy (cached), or one from `path`; checks the motion axis against motion_categories.yaml."""
    if path is None:
        return _shipped()
    return parse_taxonomy(yaml.safe_load(Path(path).read_text()), str(path))


@functools.cache
def _shipped() -> Taxonomy:
    text = resources.files("humannet").joinpath("assets/taxonomy.yaml").read_text()
    taxonomy = parse_taxonomy(yaml.safe_load(text), "assets/taxonomy.yaml")
    motion = yaml.safe_load(resources.files("humannet").joinpath("assets/motion_categories.yaml").read_text())
    expected = set(motion["labels"]) | set(motion.get("groups", {}))
    have = set(taxonomy.axis("motion_category").labels)
    if expected != have:
        raise TaxonomyError(
            f"assets/taxonomy.yaml: motion_category labels {sorted(have)} differ from motion_categories.yaml "
            f"{sorted(expected)}"
        )
    return taxonomy
