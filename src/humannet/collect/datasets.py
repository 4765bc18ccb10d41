"""Open-dataset and self-collected manifests -> pool candidates.

A manifest is CSV, JSONL, Parquet or JSON. Rows name a video by URL or path (relative to the
manifest, or to `--root`), optionally with a start/end, labels, a narration, a licence and a
title. Rows of the same video become one candidate whose `narrations` list holds every
segment. Ready-made mappings read the Kinetics CSV, EPIC-KITCHENS narration CSV, Ego4D JSON
and Action100M parquet layouts. URLs are queued for download; local and object-store files
under `--root` (or beside the manifest) are recorded as done (nothing to fetch). A manifest is
third-party input, so any other path or object it names is filtered with a reason unless
`collect.allow_manifest_paths` says so; other schemes are refused with a reason.
"""

from __future__ import annotations

import csv
import hashlib
import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from humannet import UsageError
from humannet.collect.canonical import ALLOWED_SCHEMES, canonical_id
from humannet.collect.filters import rejection
from humannet.collect.pool import Candidate, State
from humannet.collect.settings import CollectConfig
from humannet.corpus.export.action100m import action100m_meta, video_location

Format = Literal["auto", "generic", "kinetics", "epic", "ego4d", "action100m"]
FORMATS: tuple[str, ...] = ("auto", "generic", "kinetics", "epic", "ego4d", "action100m")
OBJECT_STORE_SCHEMES = frozenset({"s3", "gs", "gcs", "az", "abfs", "abfss", "hf"})
YOUTUBE_WATCH = "https://www.youtube.com/watch?v={}"

LOCATION_COLUMNS = ("url", "uri", "path", "video_path", "video_url", "video", "file", "filename")
START_COLUMNS = ("start_s", "start", "start_time", "start_sec", "start_timestamp", "time_start")
END_COLUMNS = ("end_s", "end", "end_time", "end_sec", "stop_timestamp", "end_timestamp", "time_end")
LABEL_COLUMNS = ("labels", "label", "class", "category", "action")
NARRATION_COLUMNS = ("narration", "caption", "text", "sentence")


class ManifestError(UsageError, ValueError):
    """The manifest as a whole is unusable (missing file, unknown layout, no location column)."""


@dataclass
class Segment:
    """One manifest row: where the video is and what the row says about a span of it."""

    location: str
    start_s: float | None = None
    end_s: float | None = None
    labels: list[str] = field(default_factory=list)
    narration: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # license, title, description ...


@dataclass
class Columns:
    """Which columns of a generic manifest hold what (None = detect from the usual names)."""

    location: str | None = None
    start: str | None = None
    end: str | None = None
    labels: str | None = None
    narration: str | None = None


def _timestamp(value: Any) -> float | None:
    """Seconds from a number or an `HH:MM:SS.fff` / `MM:SS` string; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError as exc:
        raise ValueError(f"not a time: {text!r}") from exc
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def _labels(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    text = str(value)
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except json.JSONDecodeError:
            pass
    return [part.strip() for part in text.split("|") if part.strip()] if "|" in text else [text.strip()]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, JSONL, Parquet or JSON (a list of objects) manifest."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if suffix in (".csv", ".tsv"):
            with path.open(newline="") as handle:
                return list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
        if suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if suffix == ".json":
            data = json.loads(path.read_text())
            return data if isinstance(data, list) else [data]
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc}") from exc
    raise ManifestError(f"{path}: unknown manifest type {suffix!r} (expected .csv, .tsv, .jsonl, .json or .parquet)")


def detect_format(path: Path, rows: list[dict[str, Any]]) -> str:
    keys = set(rows[0]) if rows and isinstance(rows[0], dict) else set()
    if {"youtube_id", "time_start", "time_end"} <= keys:
        return "kinetics"
    if {"narration_id", "video_id", "start_timestamp", "stop_timestamp"} <= keys:
        return "epic"
    if {"video_uid", "nodes"} <= keys:
        return "action100m"
    if path.suffix.lower() == ".json" and (
        "videos" in keys
        or any(isinstance(v, dict) and "narration_pass_1" in v for v in (rows[0] if rows else {}).values())
    ):
        return "ego4d"
    return "generic"


def _pick(row: dict[str, Any], chosen: str | None, names: tuple[str, ...]) -> Any:
    if chosen is not None:
        return row.get(chosen)
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


def generic_segments(rows: list[dict[str, Any]], columns: Columns, origin: str) -> Iterator[Segment]:
    if rows and columns.location is None and not any(name in rows[0] for name in LOCATION_COLUMNS):
        raise ManifestError(
            f"{origin}: no URL or path column (looked for {', '.join(LOCATION_COLUMNS)}; name one with --url-column)"
        )
    for row in rows:
        meta = {
            key: row[key] for key in ("license", "licence", "title", "description") if row.get(key) not in (None, "")
        }
        if "licence" in meta:
            meta["license"] = meta.pop("licence")
        yield Segment(
            location=str(_pick(row, columns.location, LOCATION_COLUMNS) or ""),
            start_s=_timestamp(_pick(row, columns.start, START_COLUMNS)),
            end_s=_timestamp(_pick(row, columns.end, END_COLUMNS)),
            labels=_labels(_pick(row, columns.labels, LABEL_COLUMNS)),
            narration=_pick(row, columns.narration, NARRATION_COLUMNS),
            meta=meta,
        )


def kinetics_segments(rows: list[dict[str, Any]]) -> Iterator[Segment]:
    """Kinetics CSV: label, youtube_id, time_start, time_end, split (one row per labelled 10 s clip)."""
    for row in rows:
        labels = _labels(row.get("label"))
        yield Segment(
            location=YOUTUBE_WATCH.format(row["youtube_id"]),
            start_s=_timestamp(row.get("time_start")),
            end_s=_timestamp(row.get("time_end")),
            labels=labels,
            narration=labels[0] if labels else None,
            meta={"split": row["split"]} if row.get("split") else {},
        )


def epic_segments(rows: list[dict[str, Any]], root: str | None) -> Iterator[Segment]:
    """EPIC-KITCHENS narration CSV; videos at ROOT/P01/videos/P01_01.MP4 (the published layout)."""
    if root is None:
        raise ManifestError(
            "EPIC-KITCHENS manifests name videos by id: give --root, the folder holding P01/videos/P01_01.MP4 ..."
        )
    for row in rows:
        participant = row.get("participant_id") or str(row["video_id"]).split("_")[0]
        yield Segment(
            location=f"{root.rstrip('/')}/{participant}/videos/{row['video_id']}.MP4",
            start_s=_timestamp(row.get("start_timestamp")),
            end_s=_timestamp(row.get("stop_timestamp")),
            labels=[str(row[k]) for k in ("verb", "noun") if row.get(k)],
            narration=row.get("narration"),
        )


def ego4d_segments(rows: list[dict[str, Any]], root: str | None) -> Iterator[Segment]:
    """Ego4D JSON: metadata (`{"videos": [{"video_uid", "scenarios"...}]}`) or narrations
    (`{uid: {"narration_pass_1": {"narrations": [{"timestamp_sec", "narration_text"}]}}}`);
    videos at ROOT/<video_uid>.mp4 (the Ego4D CLI's full_scale layout)."""
    if root is None:
        raise ManifestError(
            "Ego4D manifests name videos by video_uid: give --root, the folder holding <video_uid>.mp4 (e.g. "
            "v2/full_scale)"
        )
    data = rows[0] if rows else {}
    location = f"{root.rstrip('/')}/{{}}.mp4"
    for video in data.get("videos") or []:
        meta = {"duration_s": video["duration_sec"]} if video.get("duration_sec") else {}
        yield Segment(location=location.format(video["video_uid"]), labels=_labels(video.get("scenarios")), meta=meta)
    for uid, passes in data.items():
        if uid == "videos" or not isinstance(passes, dict):
            continue
        for name in sorted(k for k in passes if k.startswith("narration_pass")):
            for line in (passes[name] or {}).get("narrations") or []:
                time_s = _timestamp(line.get("timestamp_sec"))
                yield Segment(
                    location=location.format(uid), start_s=time_s, end_s=time_s, narration=line.get("narration_text")
                )


def action100m_segments(rows: list[dict[str, Any]]) -> Iterator[Segment]:
    """Action100M Parquet, as published or as `humannet export action100m` writes it: one segment
    per video, located and described by `corpus.export.action100m` (`video_location`,
    `action100m_meta`: metadata, transcript, leaf actions and the tree of nodes). The JSON sample
    in the Action100M repository holds columns (`{"video_uid": [...], "metadata": [...], ...}`),
    as `Table.to_pydict()` prints them: those are turned into rows first."""
    for columns in rows:
        if not isinstance(columns.get("video_uid"), list):
            columns = {key: [value] for key, value in columns.items()}
        for values in zip(*columns.values(), strict=True):
            row = dict(zip(columns, values, strict=True))
            yield Segment(location=video_location(row) or "", meta=action100m_meta(row))


DATASET_SOURCES = {"kinetics": "kinetics", "epic": "epic-kitchens", "ego4d": "ego4d", "action100m": "action100m"}
DATASET_LICENSES = {"epic": "CC-BY-NC-4.0"}


def _resolve_location(location: str, base: Path) -> tuple[str, str]:
    """(kind, location): kind is 'url', 'object' (object storage), 'file' (local) or 'refused'."""
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    if scheme in ALLOWED_SCHEMES:
        return "url", location
    if scheme in OBJECT_STORE_SCHEMES:
        return "object", location
    if scheme:
        return "refused", location
    path = Path(location).expanduser()
    return "file", str((path if path.is_absolute() else base / path).resolve())


def _trusted_folder(root: str | None, manifest: Path) -> str:
    """The folder a manifest's paths and objects must lie under: `--root`, else the manifest's own folder."""
    if root and "://" in root:
        scheme, _, key = root.partition("://")
        return f"{scheme}://{posixpath.normpath(key)}"
    return str(Path(root).expanduser().resolve() if root else manifest.parent.resolve())


def _outside(kind: str, location: str, trusted: str) -> bool:
    """True when a resolved file or object location does not lie under the trusted folder."""
    if kind == "object":
        scheme, _, key = location.partition("://")
        location = f"{scheme}://{posixpath.normpath(key)}"
        return "://" not in trusted or not location.startswith(trusted.rstrip("/") + "/")
    return "://" in trusted or not Path(location).is_relative_to(trusted)


def path_id(location: str) -> str:
    return "path:" + hashlib.sha256(location.encode()).hexdigest()[:20]


def candidates_from_segments(
    segments: list[Segment],
    base: Path,
    source: str,
    license: str | None,
    manifest: str,
    config: CollectConfig,
    trusted: str,
) -> list[Candidate]:
    """Group segments by video and turn each video into one candidate with its narrations and labels;
    files and objects outside `trusted` are filtered unless `config.allow_manifest_paths`."""
    grouped: dict[str, list[Segment]] = {}
    for segment in segments:
        grouped.setdefault(segment.location, []).append(segment)
    candidates = []
    for location, rows in grouped.items():
        meta: dict[str, Any] = {"source": source}
        if license:
            meta["license"] = license
        for row in rows:
            meta.update({k: v for k, v in row.meta.items() if v not in (None, "")})
        labels = list(dict.fromkeys(label for row in rows for label in row.labels))
        narrations = [
            {
                "start_s": row.start_s,
                "end_s": row.end_s,
                "text": str(row.narration or "; ".join(row.labels)),
                "source": "dataset",
            }
            for row in rows
            if row.narration or (row.labels and row.start_s is not None)
        ]
        if labels:
            meta["labels"] = labels
        if narrations:
            meta["narrations"] = sorted(narrations, key=lambda n: (n["start_s"] is None, n["start_s"] or 0.0))
        kind, resolved = _resolve_location(location, base)
        candidate = Candidate(id="", url=resolved, source=source, meta=meta, provenance=[("manifest", manifest)])
        if not location:
            candidate.id, candidate.state, candidate.reason = (
                path_id(manifest + "#empty"),
                State.FILTERED,
                "manifest: row without a URL or path",
            )
        elif kind == "url":
            candidate.id, candidate.state = canonical_id(resolved), State.QUEUED
            if reason := rejection(meta, config):
                candidate.state, candidate.reason = State.FILTERED, reason
        elif kind == "refused":
            candidate.id, candidate.state = path_id(resolved), State.FILTERED
            candidate.reason = f"url: scheme {resolved.split('://')[0]!r} refused: only http and https URLs are fetched"
        elif not config.allow_manifest_paths and _outside(kind, resolved, trusted):
            candidate.id, candidate.state = path_id(resolved), State.FILTERED
            candidate.reason = (
                f"location: {resolved} is outside {trusted}; a manifest may only name files under --root or beside "
                "it (collect.allow_manifest_paths)"
            )
        elif kind == "file" and not Path(resolved).is_file():
            candidate.id, candidate.state, candidate.reason = (
                path_id(resolved),
                State.FILTERED,
                "missing: file not found",
            )
        else:
            candidate.id, candidate.state, candidate.path = path_id(resolved), State.DONE, resolved
        candidates.append(candidate)
    return candidates


def import_manifest(
    path: Path,
    config: CollectConfig,
    format: str = "auto",
    root: str | None = None,
    license: str | None = None,
    source: str | None = None,
    columns: Columns | None = None,
) -> tuple[str, list[Candidate]]:
    """Read a manifest into candidates; returns the format used and the candidates."""
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    rows = read_rows(path)
    chosen = detect_format(path, rows) if format == "auto" else format
    try:
        if chosen == "kinetics":
            segments = list(kinetics_segments(rows))
        elif chosen == "epic":
            segments = list(epic_segments(rows, root))
        elif chosen == "ego4d":
            segments = list(ego4d_segments(rows, root))
        elif chosen == "action100m":
            segments = list(action100m_segments(rows))
        else:
            segments = list(generic_segments(rows, columns or Columns(), str(path)))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"{path}: does not fit the {chosen} layout: {type(exc).__name__}: {exc}") from exc
    base = Path(root).expanduser() if root and "://" not in root else path.parent
    name = source or DATASET_SOURCES.get(chosen) or path.stem
    return chosen, candidates_from_segments(
        segments, base, name, license or DATASET_LICENSES.get(chosen), str(path), config, _trusted_folder(root, path)
    )
