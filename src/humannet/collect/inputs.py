"""Turn what the user typed into a sorted list of input videos.

Accepted: a folder (searched recursively for video files), a glob pattern, a single video
file, or a list file: plain text (one path per line, `#` comments), CSV, JSONL or Parquet
with a `uri` column and optional `license`, `title` and `source` columns that are carried
into the records. Relative paths in a list file are relative to the list file.
Folders, video files and list files may also be object-store URLs (s3://bucket/prefix/).
A URL pool database (.sqlite/.db from `humannet collect`) yields its downloaded videos, and a
local video's `NAME.humannet.json` sidecar (collection metadata: licence, title, narrations ...)
is read into its record.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import posixpath
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from humannet import UsageError
from humannet.records import Video
from humannet.storage import is_remote, list_remote_videos, local_copy

VIDEO_SUFFIXES = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".flv",
        ".wmv",
        ".3gp",
        ".ogv",
        ".mxf",
        ".y4m",
        ".qt",
        ".3g2",
        ".asf",
        ".f4v",
        ".vob",
        ".dv",
        ".nut",
        ".gif",  # short demonstration clips are often animated GIFs
    ]
)
LIST_SUFFIXES = frozenset({".txt", ".list", ".csv", ".jsonl", ".parquet"})
POOL_SUFFIXES = frozenset({".sqlite", ".sqlite3", ".db"})  # a `humannet collect` URL pool: its done videos
META_FIELDS = ("license", "title", "source")


class InputError(UsageError, ValueError):
    """The input specification itself is unusable (not one bad video: those are recorded per item)."""


def _from_rows(rows: list[dict[str, object]], base: Path | str, origin: str) -> list[Video]:
    videos = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise InputError(f"{origin}: row {number} is not an object with a 'uri'")
        uri = row.get("uri")
        if not uri:
            raise InputError(f"{origin}: row {number} has no 'uri'")
        meta = {key: str(row[key]) for key in META_FIELDS if row.get(key) not in (None, "")}
        videos.append(Video(uri=_resolve(str(uri), base), meta=meta))
    return videos


def _resolve(uri: str, base: Path | str) -> str:
    if "://" in uri:
        return uri
    if isinstance(base, str):  # a list file on a store: relative entries are objects beside it
        return _store_key(uri, base)
    path = Path(uri).expanduser()
    return str((path if path.is_absolute() else base / path).absolute())


def _store_key(entry: str, folder: str) -> str:
    """An entry of a list file at `folder` (`s3://bucket/lists`) as an object URI: `./`, `../` and a leading
    `/` (the bucket's root) resolved as in a file system, names that start with a dot kept."""
    scheme, _, prefix = folder.rstrip("/").partition("://")
    bucket = prefix.split("/", 1)[0]
    joined = f"{bucket}/{entry.lstrip('/')}" if entry.startswith("/") else f"{prefix}/{entry}"
    key = posixpath.normpath(joined)
    if key.split("/", 1)[0] != bucket or key == bucket:
        raise InputError(f"{folder}: list entry {entry!r} leaves the bucket {scheme}://{bucket}")
    return f"{scheme}://{key}"


def _read_list(path: Path, base: Path | str | None = None) -> list[Video]:
    """The videos a list file names; a file that is not UTF-8 or not the format its suffix says is an InputError."""
    try:
        return _read_list_rows(path, path.parent if base is None else base)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason}: byte 0x{exc.object[exc.start]:02x})") from exc
    except (csv.Error, pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read the list file: {exc}") from exc


def _read_list_rows(path: Path, base: Path | str) -> list[Video]:
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


def resolve_inputs(*specs: str, storage_options: dict | None = None) -> list[Video]:
    """Every video the specs name, sorted by URI and without repeats, so every run over the same
    input sees the same order. Metadata from a list file wins over a bare path to the same file."""
    unique: dict[str, Video] = {}
    for spec in specs:
        for video in _resolve_remote(spec, storage_options) if is_remote(spec) else _resolve_one(spec):
            if video.meta or video.uri not in unique:
                unique[video.uri] = video
    return [unique[uri] for uri in sorted(unique)]


def _resolve_remote(spec: str, storage_options: dict | None) -> list[Video]:
    suffix = Path(spec.split("?", 1)[0]).suffix.lower()
    try:
        if suffix in VIDEO_SUFFIXES:
            return [Video(uri=spec)]
        if suffix in LIST_SUFFIXES:
            with local_copy(spec, storage_options) as local:
                return _read_list(Path(local), base=spec.rsplit("/", 1)[0])
        found = list_remote_videos(spec, VIDEO_SUFFIXES, storage_options)
    except InputError:
        raise
    except Exception as exc:  # no such bucket, no access, no network: the spec itself is unusable
        raise InputError(f"input {spec}: {type(exc).__name__}: {exc}") from exc
    if not found:
        raise InputError(f"input not found: {spec} (no video files under that prefix)")
    return [Video(uri=uri) for uri in found]


def _resolve_one(spec: str) -> list[Video]:
    path = Path(spec).expanduser()
    if path.is_dir():
        videos = _videos_among([p for p in path.rglob("*") if p.is_file()], spec)
    elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        videos = _read_list(path)
    elif path.is_file() and path.suffix.lower() in POOL_SUFFIXES:
        videos = _read_pool(path)
    elif path.is_file():
        videos = [Video(uri=str(path.absolute()))]
    elif glob.has_magic(spec):
        videos = _videos_among([Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()], spec)
    else:
        raise InputError(
            f"input not found: {spec} (expected a folder, a glob, a video file, a list file or a URL pool)"
        )
    for video in videos:
        _add_sidecar(video)
    return videos


def _videos_among(files: list[Path], spec: str) -> list[Video]:
    """The files of a folder or glob with a video suffix; none is an InputError that says what was there instead,
    so a folder of stills or a glob for the wrong suffix is not mistaken for an empty run."""
    videos = [Video(uri=str(p.absolute())) for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    if videos:
        return videos
    if not files:
        nothing = "the pattern matches no file" if glob.has_magic(spec) else "the folder is empty"
        raise InputError(f"no video files under {spec} ({nothing})")
    skipped = Counter(p.suffix.lower() or "(none)" for p in files)
    suffixes = ", ".join(f"{suffix} {n}" for suffix, n in sorted(skipped.items(), key=lambda item: (-item[1], item[0])))
    raise InputError(
        f"no video files under {spec} ({len(files)} file(s) skipped: suffixes {suffixes}; video suffixes are "
        f"{' '.join(sorted(VIDEO_SUFFIXES))})"
    )


def _read_pool(path: Path) -> list[Video]:
    """The done videos of a `humannet collect` URL pool, with the metadata collected for them."""
    from humannet.collect.pool import done_videos

    try:
        return [Video(uri=location, meta=meta) for location, meta in done_videos(path)]
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def _add_sidecar(video: Video) -> None:
    """Fill `video.meta` from `NAME.humannet.json` / `NAME.info.json` beside a local video (written by
    `humannet collect download`); metadata given by a list file wins. A broken sidecar is logged and skipped."""
    if "://" in video.uri:
        return
    from humannet.collect.metadata import read_sidecar

    try:
        sidecar = read_sidecar(Path(video.uri))
    except ValueError as exc:
        logging.getLogger(__name__).warning("%s", exc)
        return
    if sidecar:
        video.meta = {**sidecar, **video.meta}
