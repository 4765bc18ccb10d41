"""What the viewer asks of the index: the filterable columns, a filtered page of clips, one clip in full.

Filters name columns found in the clip index, so new label or score columns (taxonomy axes,
3D coverage, ...) become filters without changes here. Column names are checked against the
index schema and values are passed as query parameters, never pasted into SQL.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from humannet.corpus.reader import Corpus
from humannet.viewer.media import json_safe

NOT_FILTERS = frozenset(
    {
        "clip_id",
        "video_id",
        "shard",
        "reason",
        "caption_short",
        "caption_detailed",
        "start_s",
        "end_s",
        "start_frame",
        "end_frame",
    }
)
TEXT_COLUMNS = ("caption_short", "caption_detailed", "activity_class")  # clip columns searched by text, when present
CARD_COLUMNS = (
    "clip_id",
    "video_id",
    "start_s",
    "end_s",
    "duration_s",
    "shard",
    "viewpoint",
    "motion_categories",
    "caption_short",
    "activity_class",
)
MAX_FACET_VALUES = 60
MAX_PAGE = 200


class QueryError(ValueError):
    """A filter the index cannot answer (unknown column, bad number); answered with 400 and this message."""


@dataclass
class Filters:
    labels: dict[str, list[str]] = field(default_factory=dict)  # column -> accepted values (any of)
    scores: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # column -> (min, max)
    text: str = ""
    limit: int = 60
    offset: int = 0

    @classmethod
    def from_query(cls, query: dict[str, list[str]]) -> Filters:
        """`f.COLUMN=value` (repeatable), `s.COLUMN=min,max` (either side may be empty), `q=words`, `limit`,
        `offset`."""
        filters = cls()
        for key, values in query.items():
            if key.startswith("f."):
                filters.labels[key[2:]] = [v for v in values if v != ""]
            elif key.startswith("s."):
                low, _, high = values[-1].partition(",")
                try:
                    filters.scores[key[2:]] = (
                        float(low) if low.strip() else None,
                        float(high) if high.strip() else None,
                    )
                except ValueError:
                    raise QueryError(f"{key}: expected MIN,MAX numbers, got {values[-1]!r}") from None
            elif key == "q":
                filters.text = values[-1].strip()
            elif key in ("limit", "offset"):
                try:
                    setattr(filters, key, max(0, int(values[-1])))
                except ValueError:
                    raise QueryError(f"{key}: expected an integer, got {values[-1]!r}") from None
        filters.limit = min(filters.limit or 60, MAX_PAGE)
        return filters


class Catalog:
    """Queries over a corpus's DuckDB views; each call uses its own cursor so request threads do not share one."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self._connection = corpus.connect()
        self._lock = threading.Lock()
        schema = corpus.schema("clips")
        self.types: dict[str, pa.DataType] = {f.name: f.type for f in schema}
        self.video_columns = set(corpus.columns("videos"))
        self.label_columns = [n for n, t in self.types.items() if n not in NOT_FILTERS and _is_label(t)]
        self.score_columns = [n for n, t in self.types.items() if n not in NOT_FILTERS and pa.types.is_floating(t)]
        self.text_columns = [c for c in TEXT_COLUMNS if c in self.types]
        self._connection.execute(f"CREATE OR REPLACE VIEW source_videos AS {self._source_videos_sql()}")

    def _sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        with self._lock:
            cursor = self._connection.cursor()
        try:
            return cursor.sql(query, params=params or None).to_arrow_table()
        finally:
            cursor.close()

    def _source_videos_sql(self) -> str:
        """One row per video_id (a kept copy first): where the clip came from."""
        wanted = [
            c
            for c in (
                "uri",
                "title",
                "source",
                "license",
                "license_spdx",
                "url",
                "duration_s",
                "width",
                "height",
                "fps",
            )
            if c in self.video_columns
        ]
        prefer = "status <> 'kept'" if "status" in self.video_columns else "0"
        picks = ", ".join(f'arg_min("{c}", {prefer}) AS "{c}"' for c in wanted)
        return f"SELECT video_id, {picks} FROM videos WHERE video_id IS NOT NULL GROUP BY video_id"

    def facets(self) -> dict[str, Any]:
        """The filter panel: values with counts for each label column, min/max for each score column."""
        labels = []
        for name in self.label_columns:
            kind = self.types[name]
            if pa.types.is_list(kind) or pa.types.is_large_list(kind):
                values = f'(SELECT unnest("{name}") AS value FROM clips)'
            else:
                values = f'(SELECT CAST("{name}" AS VARCHAR) AS value FROM clips)'
            rows = self._sql(
                f"SELECT value, count(*) AS n FROM {values} WHERE value IS NOT NULL GROUP BY value ORDER BY n DESC, "
                f"value LIMIT {MAX_FACET_VALUES}"
            )
            if rows.num_rows:
                labels.append(
                    {
                        "column": name,
                        "values": [{"value": v, "count": n} for v, n in zip(*rows.to_pydict().values(), strict=True)],
                    }
                )
        scores = []
        for name in self.score_columns:
            low, high = (
                self._sql(f'SELECT min("{name}") AS low, max("{name}") AS high FROM clips WHERE NOT isnan("{name}")')
                .to_pylist()[0]
                .values()
            )
            if low is not None:
                scores.append({"column": name, "min": low, "max": high})
        total = self._sql("SELECT count(*) AS n FROM clips").to_pylist()[0]["n"]
        return json_safe(
            {"clips": total, "labels": labels, "scores": scores, "text_columns": self.text_columns + ["title"]}
        )

    def _where(self, filters: Filters) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for name, values in filters.labels.items():
            if name not in self.label_columns:
                raise QueryError(f"f.{name}: no label column {name!r} in this corpus")
            if not values:
                continue
            kind = self.types[name]
            if pa.types.is_list(kind) or pa.types.is_large_list(kind):
                clauses.append(f'list_has_any(c."{name}", ?::VARCHAR[])')
            else:
                clauses.append(f'CAST(c."{name}" AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))')
            params.append(values)
        for name, (low, high) in filters.scores.items():
            if name not in self.score_columns:
                raise QueryError(f"s.{name}: no score column {name!r} in this corpus")
            if low is not None:
                clauses.append(f'c."{name}" >= ?')
                params.append(low)
            if high is not None:
                clauses.append(f'c."{name}" <= ?')
                params.append(high)
        searched = [f'c."{c}"' for c in self.text_columns] + (["v.title"] if "title" in self.video_columns else [])
        for word in filters.text.split():
            if searched:
                clauses.append("(" + " OR ".join(f"{col}::VARCHAR ILIKE ?" for col in searched) + ")")
                params.extend([f"%{word}%"] * len(searched))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def clips(self, filters: Filters) -> dict[str, Any]:
        """One page of clip cards matching the filters, in clip_id order, and the total count."""
        where, params = self._where(filters)
        columns = ", ".join(f'c."{c}"' for c in CARD_COLUMNS if c in self.types)
        title = ", v.title" if "title" in self.video_columns else ""
        base = f"FROM clips c LEFT JOIN source_videos v USING (video_id){where}"
        total = self._sql(f"SELECT count(*) AS n {base}", params).to_pylist()[0]["n"]
        page = self._sql(
            f"SELECT {columns}{title} {base} ORDER BY c.clip_id LIMIT {filters.limit} OFFSET {filters.offset}", params
        )
        cards = page.to_pylist()
        for card in cards:
            card["media"] = self._media_state(card.get("shard"))
        return json_safe({"total": total, "offset": filters.offset, "limit": filters.limit, "clips": cards})

    def _media_state(self, shard: str | None) -> str:
        if not shard:
            return "not materialised"
        return "ok" if (self.corpus.root / shard).is_file() else f"shard {shard} is missing"

    def clip_row(self, clip_id: str) -> dict[str, Any] | None:
        rows = self._sql("SELECT * FROM clips WHERE clip_id = ?", [clip_id]).to_pylist()
        return rows[0] if rows else None

    def clip(self, clip_id: str, clip_json: dict[str, Any] | None, media_error: str | None) -> dict[str, Any] | None:
        """Everything the clip page shows: index row, source video, labels with provenance, caption tree."""
        row = self.clip_row(clip_id)
        if row is None:
            return None
        video = self._sql("SELECT * FROM source_videos WHERE video_id = ?", [row["video_id"]]).to_pylist()
        video_row = video[0] if video else {}
        stored = clip_json or {}
        detail = {
            "clip": row,
            "video": video_row,
            "source": _source_link(video_row, stored, row),
            "labels": self._labels(row, stored),
            "scores": [
                {"name": n, "value": row[n]} for n in self.types if n in self.score_columns and n != "duration_s"
            ],
            "caption": stored.get("caption"),
            "caption_nodes": self._caption_nodes(row["video_id"]),
            "metadata": {k: v for k, v in stored.items() if k not in ("scores", "labels", "caption", "taxonomy")},
            "media": {"state": media_error or self._media_state(row.get("shard"))},
        }
        return json_safe(detail)

    def _labels(self, row: dict[str, Any], stored: dict[str, Any]) -> list[dict[str, Any]]:
        """Every label of the clip with where it came from: the taxonomy's own provenance, else the provenance table."""
        provenance = self._column_provenance()
        labels = []
        taxonomy_columns = set()
        for entry in stored.get("taxonomy") or []:
            if isinstance(entry, dict):
                taxonomy_columns.add(f"taxonomy_{entry.get('axis')}")
                labels.append(
                    {
                        "name": f"taxonomy_{entry.get('axis')}",
                        "value": entry.get("label"),
                        "score": entry.get("score"),
                        "provenance": entry.get("provenance"),
                    }
                )
        for name in self.label_columns:
            if name in taxonomy_columns or row.get(name) is None:
                continue
            labels.append(
                {"name": name, "value": row[name], "score": None, "provenance": provenance.get(name, "clip index")}
            )
        return labels

    def _column_provenance(self) -> dict[str, Any]:
        if "provenance" not in self.corpus.tables:
            return {}
        table = self._sql("SELECT * FROM provenance").to_pylist()
        return {
            str(r["column"]): {k: v for k, v in r.items() if k not in ("column", "table")}
            for r in table
            if r.get("column") and r.get("table", "clips") == "clips"
        }

    def _caption_nodes(self, video_id: str) -> list[dict[str, Any]]:
        """The video's caption tree nodes when the corpus has a captions table keyed by video_id."""
        for name in ("captions_trees", "captions"):
            if name in self.corpus.tables and "video_id" in self.corpus.columns(name):
                return self._sql(f'SELECT * FROM "{name}" WHERE video_id = ? LIMIT 500', [video_id]).to_pylist()
        return []


def _is_label(kind: pa.DataType) -> bool:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return True
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_string(kind.value_type)


def _source_link(video: dict[str, Any], stored: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """Where the clip came from: a web address when the corpus knows one, else the source file's path."""
    url = video.get("url") or stored.get("url")
    uri = video.get("uri") or stored.get("source_uri")
    href = url or (uri if isinstance(uri, str) and uri.startswith(("http://", "https://")) else None)
    return {
        "url": href,
        "uri": uri,
        "start_s": row.get("start_s"),
        "end_s": row.get("end_s"),
        "title": video.get("title"),
        "license": video.get("license"),
    }


def load_clip_json(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        loaded = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None
