"""Provenance: for every index column, the stage, stage version and settings that produced it.

Stages declare what they fill (`Stage.produces` for the clip index, `produces_video` for
videos.parquet, both fnmatch patterns) and which config sections they read (`config_sections`).
A few columns come from the run itself rather than a stage (the input list, the decoder,
deduplication, the curator's bookkeeping); they are `RunStep`s in the catalogue (`stages.py`),
which hands every producer over. `provenance.parquet` is
written beside the index each time it is, from the columns actually present, so a column no
stage declares shows up as `undeclared` instead of silently lacking a row.

Rerunnable (review) stages can have filled different videos with different versions or
settings (a corpus reviewed again only in part); their rows come from the stamps on the
records, one row per distinct stamp, with the number of videos carrying it.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humannet import __version__
from humannet.records import Video, declared_settings, fingerprint
from humannet.storage import write_parquet

PROVENANCE_FILE = "provenance.parquet"
UNDECLARED = "undeclared"
INDEX_TABLES = {
    "videos": "videos.parquet",
    "clips": "clips/part-00000.parquet",
    "dropped_clips": "dropped_clips.parquet",
}

PROVENANCE_SCHEMA = pa.schema(
    [
        ("table", pa.string()),
        ("column", pa.string()),
        ("stage", pa.string()),
        ("stage_version", pa.string()),
        ("config_section", pa.string()),  # comma-separated dotted section names, '' when none
        ("config_hash", pa.string()),  # hash of those sections' settings (records.fingerprint), '' when none
        ("videos", pa.int64()),  # videos whose values come from this version and hash (rerunnable stages); null = all
    ]
)


@dataclass(frozen=True)
class RunStep:
    """A step of the run itself that fills columns (the input list, the decoder, deduplication)."""

    name: str
    version: str = __version__
    config_sections: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    produces_video: tuple[str, ...] = ()
    rerunnable: bool = False


@dataclass(frozen=True)
class Producer:
    """Anything that fills index columns, with the hash of the settings it read."""

    name: str
    version: str
    config_sections: tuple[str, ...]
    config_hash: str  # '' when it reads no settings
    produces: tuple[str, ...]
    produces_video: tuple[str, ...]
    rerunnable: bool = False

    @classmethod
    def of(cls, unit: Any, config: Any) -> Producer:
        """From a pipeline unit or a `RunStep`, with `config` the settings tree it was built from."""
        settings = declared_settings(config, unit.config_sections)
        return cls(
            name=unit.name,
            version=str(unit.version),
            config_sections=tuple(unit.config_sections),
            config_hash=fingerprint(settings) if settings else "",
            produces=tuple(unit.produces),
            produces_video=tuple(unit.produces_video),
            rerunnable=bool(unit.rerunnable),
        )


def resolve(column: str, table: str, candidates: list[Producer]) -> list[Producer]:
    """The producers of one column: exact declarations win over patterns; several may share one (review_issues)."""
    declared = [(p, p.produces_video if table == "videos" else p.produces) for p in candidates]
    exact = [p for p, names in declared if column in names]
    if exact:
        return exact
    return [
        p for p, names in declared if any(fnmatch.fnmatchcase(column, n) for n in names if any(ch in n for ch in "*?["))
    ][:1]


def provenance_rows(
    tables: dict[str, list[str]], candidates: list[Producer], videos: list[Video]
) -> list[dict[str, Any]]:
    """Rows for the given columns of each table; `candidates` are the producers (`stages.producers`)."""
    stamps: dict[str, Counter[str]] = {}
    for video in videos:
        for name, text in video.stamps.items():
            stamps.setdefault(name, Counter())[text] += 1
    rows = []
    for table, columns in tables.items():
        for column in columns:
            found = resolve(column, table, candidates)
            if not found:
                blank = {"stage_version": "", "config_section": "", "config_hash": "", "videos": None}
                rows.append({"table": table, "column": column, "stage": UNDECLARED, **blank})
            for producer in found:
                rows += _rows_for(table, column, producer, stamps.get(producer.name))
    return rows


def _rows_for(table: str, column: str, producer: Producer, stamped: Counter[str] | None) -> list[dict[str, Any]]:
    sections = ",".join(producer.config_sections)
    base = {"table": table, "column": column, "stage": producer.name, "config_section": sections}
    if producer.rerunnable and stamped:
        return [
            {**base, "stage_version": version, "config_hash": digest, "videos": count}
            for version, digest, count in sorted((*text.rpartition(":")[::2], count) for text, count in stamped.items())
        ]
    return [{**base, "stage_version": producer.version, "config_hash": producer.config_hash, "videos": None}]


def write_provenance(corpus_dir: Path, candidates: list[Producer], videos: list[Video]) -> None:
    """`provenance.parquet` for the index files present in `corpus_dir`."""
    tables = {
        table: pq.read_schema(corpus_dir / path).names
        for table, path in INDEX_TABLES.items()
        if (corpus_dir / path).exists()
    }
    rows = provenance_rows(tables, candidates, videos)
    write_parquet(corpus_dir / PROVENANCE_FILE, pa.Table.from_pylist(rows, schema=PROVENANCE_SCHEMA))
