"""Turn what the user typed into a sorted list of input videos.

Accepted: a folder (searched recursively for video files), a glob pattern, a single video
file, or a list file: plain text (one path per line, `#` comments), CSV, JSONL or Parquet
with a `uri` column and optional `license`, `title` and `source` columns that are carried
into the records. Relative paths in a list file are relative to the list file.
"""

from __future__ import annotations

import csv
import glob
import json
from pathlib import Path

import pyarrow.parquet as pq

from humannet.records import Video

VIDEO_SUFFIXES = frozenset(
    [".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv", ".mxf", ".y4m"]
)
LIST_SUFFIXES = frozenset({".txt", ".list", ".csv", ".jsonl", ".parquet"})
META_FIELDS = ("license", "title", "source")


class InputError(ValueError):
    """The input specification itself is unusable (not one bad video: those are recorded per item)."""


def _from_rows(rows: list[dict[str, object]], base: Path, origin: str) -> list[Video]:
    videos = []
    for number, row in enumerate(rows, start=1):
        uri = row.get("uri")
        if not uri:
            raise InputError(f"{origin}: row {number} has no 'uri'")
        meta = {key: str(row[key]) for key in META_FIELDS if row.get(key) not in (None, "")}
        videos.append(Video(uri=_resolve(str(uri), base), meta=meta))
    return videos


def _resolve(uri: str, base: Path) -> str:
    if "://" in uri:
        return uri
    path = Path(uri).expanduser()
    return str((path if path.is_absolute() else base / path).absolute())


def _read_list(path: Path) -> list[Video]:
    base = path.parent
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = pq.read_table(path)
        if "uri" not in table.column_names:
            raise InputError(f"{path}: no 'uri' column (columns: {', '.join(table.column_names)})")
        return _from_rows(table.to_pylist(), base, str(path))
    if suffix == ".csv":
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "uri" not in reader.fieldnames:
                raise InputError(f"{path}: no 'uri' column in the CSV header")
            return _from_rows(list(reader), base, str(path))
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}: line {number} is not JSON: {exc}") from exc
        return _from_rows(rows, base, str(path))
    lines = (line.strip() for line in path.read_text().splitlines())
    return [Video(uri=_resolve(line, base)) for line in lines if line and not line.startswith("#")]


def resolve_inputs(*specs: str) -> list[Video]:
    """Every video the specs name, sorted by URI and without repeats, so every run over the same
    input sees the same order. Metadata from a list file wins over a bare path to the same file."""
    unique: dict[str, Video] = {}
    for spec in specs:
        for video in _resolve_one(spec):
            if video.meta or video.uri not in unique:
                unique[video.uri] = video
    return [unique[uri] for uri in sorted(unique)]


def _resolve_one(spec: str) -> list[Video]:
    path = Path(spec).expanduser()
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
        videos = [Video(uri=str(p.absolute())) for p in found]
    elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        videos = _read_list(path)
    elif path.is_file():
        videos = [Video(uri=str(path.absolute()))]
    elif glob.has_magic(spec):
        matches = glob.glob(str(path), recursive=True)
        videos = [Video(uri=str(Path(p).absolute())) for p in matches if Path(p).is_file()]
    else:
        raise InputError(f"input not found: {spec} (expected a folder, a glob, a video file or a list file)")
    return videos
