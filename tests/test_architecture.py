"""The layering docs/architecture.md describes, checked on the source: imports go downwards only."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "humannet"
STAGE_PACKAGES = {"process", "annotate", "captions", "review"}


def top_level(path: Path) -> str:
    """`process` for src/humannet/process/x.py, `curate` for src/humannet/curate.py."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports() -> dict[str, set[str]]:
    """Top-level part -> the other top-level parts it imports (anywhere in its files, lazy imports included)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = top_level(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "humannet" and len(parts) > 1 and parts[1] != source:
                    found[source].add(parts[1])
    return found


def test_top_level_holds_only_the_pipeline_layers():
    entries = {p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", "."))}
    assert entries - {"assets"} == {
        *("collect", "process", "annotate", "captions", "review", "corpus", "report", "viewer"),
        *("engine", "media", "commands"),
        *("cli.py", "config.py", "curate.py", "records.py", "stages.py", "storage.py"),
    }


def test_no_two_parts_import_each_other_except_through_config():
    graph = imports()
    cycles = sorted(
        (a, b) for a in graph for b in graph[a] if a < b and a in graph.get(b, ()) and "config" not in (a, b)
    )
    assert cycles == []


def test_lower_layers_import_nothing_above_them():
    graph = imports()
    assert "engine" not in graph["media"] | graph["corpus"] | graph["records"] | graph["storage"]
    assert graph["engine"] & (STAGE_PACKAGES | {"collect", "corpus", "curate", "stages", "config"}) == set()
    for package in STAGE_PACKAGES:
        assert graph[package] & {"curate", "stages", "commands", "cli"} == set(), package
