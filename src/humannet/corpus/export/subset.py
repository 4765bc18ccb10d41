"""`humannet export subset`: a new corpus holding a filtered, weighted sample of another's clips.

A mixture file names components (a SQL predicate over the clip index, or a label match on
taxonomy axes and other label columns) with weights, plus caps per video or per source. The
sample is drawn so each component gets its weight's share of the total (in hours or clips),
clips a component already took are not counted twice, and caps are never exceeded. Each
component's clips are visited in a random order drawn from the seed over clip IDs sorted, so
the same corpus, mixture and seed always give the same clips.

Without a total (--hours/--clips or `total:` in the mixture) the total is the largest one every
component can fill at its weight, as Hugging Face `interleave_datasets` does when it stops at
the first exhausted dataset.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from humannet import UsageError, __version__
from humannet.corpus.card import write_card
from humannet.corpus.reader import FORMAT_VERSION, Corpus, select_problem, sql_string
from humannet.corpus.writer import pack_shards, shard_name, write_shard
from humannet.storage import atomic_write_bytes, is_remote, write_parquet

UNKNOWN_SOURCE = "(unknown)"


class SubsetError(UsageError, RuntimeError):
    """The predicate, the mixture or the output folder is not usable; the message says which and why."""


class Component(BaseModel, extra="forbid"):
    name: str | None = Field(None, description="Name shown in the summary (default: component-N).")
    where: str | None = Field(None, description="DuckDB predicate over the `clips` view.")
    match: dict[str, str | bool | list[str]] | None = Field(
        None,
        description=(
            "Column (or taxonomy axis) -> label or labels; a clip matches when it has any of them on every listed "
            "column."
        ),
    )
    weight: float = Field(..., gt=0, description="Share of the total, relative to the other components.")

    @model_validator(mode="after")
    def _one_selector(self) -> Component:
        if self.where is None and self.match is None:
            raise ValueError("a component needs `where` or `match`")
        return self


class Caps(BaseModel, extra="forbid"):
    max_hours_per_video: float | None = Field(None, gt=0, description="Most clip hours taken from one source video.")
    max_clips_per_video: int | None = Field(None, ge=1, description="Most clips taken from one source video.")
    max_hours_per_source: float | None = Field(
        None, gt=0, description="Most clip hours taken from one source (videos.source; empty = one unknown source)."
    )
    max_clips_per_source: int | None = Field(None, ge=1, description="Most clips taken from one source.")


class Total(BaseModel, extra="forbid"):
    hours: float | None = Field(None, gt=0, description="Total clip hours to draw.")
    clips: int | None = Field(None, ge=1, description="Total clips to draw.")


class Mixture(BaseModel, extra="forbid"):
    components: list[Component] = Field(
        default_factory=list, description="Weighted parts of the sample; empty = every selected clip, one part."
    )
    caps: Caps = Caps()
    total: Total = Total()
    seed: int | None = Field(None, description="Random seed (the command's --seed wins when given).")


def load_mixture(path: Path) -> Mixture:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SubsetError(f"{path}: cannot read the mixture ({exc})") from exc
    try:
        return Mixture.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        raise SubsetError(f"{path}: invalid mixture: {problems}") from exc


@dataclass
class SubsetResult:
    out_dir: Path
    clips: int
    hours: float
    copied: bool
    shards: int
    # name, weight share, target, taken clips/hours, available
    components: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        mode = f"{self.shards} new shards" if self.copied else "references to the source shards"
        lines = [f"wrote {self.out_dir}: {self.clips} clips, {self.hours:.3f} h ({mode})"]
        for c in self.components:
            lines.append(
                f"  {c['name']}: weight {c['share']:.1%}, {c['clips']} clips / {c['hours']:.3f} h taken of "
                f"{c['available_clips']} available (realised share {c['realised_share']:.1%})"
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def write_subset(
    corpus: Corpus,
    out_dir: Path,
    where: str | None = None,
    mixture: Mixture | None = None,
    seed: int | None = None,
    hours: float | None = None,
    clips: int | None = None,
    copy: bool = True,
) -> SubsetResult:
    """Select, sample and write the subset corpus; returns what was taken per component."""
    mixture = mixture or Mixture()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise SubsetError(f"{out_dir}: output folder exists and is not empty; choose a new -o folder")
    if out_dir.resolve() == corpus.root.resolve():
        raise SubsetError(f"{out_dir}: is the source corpus; choose a new -o folder")
    seed = seed if seed is not None else (mixture.seed if mixture.seed is not None else 0)
    total = Total(hours=hours, clips=clips) if hours is not None or clips is not None else mixture.total
    if total.hours is not None and total.clips is not None:
        raise SubsetError("give a total in hours or in clips, not both")

    con = corpus.connect()
    candidates = _candidates(con, corpus, where, mixture.components)
    selected, report, notes = _sample(candidates, mixture, total, seed)
    selected_ids = sorted(candidates["clip_id"][i] for i in selected)
    clip_rows = con.sql(
        "SELECT * FROM clips WHERE clip_id IN (SELECT unnest($ids)) ORDER BY clip_id", params={"ids": selected_ids}
    ).to_arrow_table()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        shards = 0
        if copy:
            clip_rows, shards = _copy_shards(corpus, clip_rows, out_dir)
        else:
            clip_rows = _reference_shards(corpus, clip_rows)
        _write_index(corpus, con, clip_rows, out_dir)
        write_card(out_dir)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)  # it was empty or absent: leave nothing half-written behind
        raise
    hours_out = float(pc.sum(clip_rows["duration_s"]).as_py() or 0.0) / 3600
    manifest = _manifest(corpus, out_dir, clip_rows, hours_out, shards, copy)
    manifest["subset"] = {
        "source_corpus": corpus.location if corpus.store is not None else str(corpus.root.resolve()),
        "where": where,
        "mixture": mixture.model_dump(mode="json"),
        "seed": seed,
        "total": total.model_dump(mode="json"),
        "mode": "copy" if copy else "reference",
        "components": report,
    }
    # last: its presence marks a whole corpus
    atomic_write_bytes(out_dir / "manifest.json", json.dumps(manifest, indent=2).encode())
    if clip_rows.num_rows == 0:
        notes.append("no clip matched the predicate and the mixture: the subset is empty")
    return SubsetResult(
        out_dir=out_dir,
        clips=clip_rows.num_rows,
        hours=hours_out,
        copied=copy,
        shards=shards,
        components=report,
        notes=notes,
    )


def _candidates(
    con: duckdb.DuckDBPyConnection, corpus: Corpus, where: str | None, components: list[Component]
) -> dict[str, list]:
    """Clips passing `where`, sorted by ID, with their video, source, duration and one membership flag per component."""
    columns = {f.name: f.type for f in corpus.schema("clips")}
    source = "any_value(source)" if "source" in corpus.columns("videos") else "NULL"
    predicates = [_component_predicate(c, i, columns) for i, c in enumerate(components)] or ["TRUE"]
    flags = ", ".join(f"coalesce(({p}), FALSE) AS member_{i}" for i, p in enumerate(predicates))
    try:
        for predicate in [where, *(c.where for c in components)]:
            problem = select_problem(f"SELECT * FROM clips WHERE {predicate}") if predicate else None
            if problem is not None:
                raise SubsetError(f"{predicate!r} is not a predicate over the clip index ({problem})")
        con.execute(f"CREATE TEMP VIEW selected AS SELECT * FROM clips WHERE {where or 'TRUE'}")
        rows = con.sql(
            "SELECT s.clip_id, s.video_id, coalesce(s.duration_s, 0) AS duration_s, "
            f"""coalesce(v.source, '{UNKNOWN_SOURCE}') AS source_name, m.*
                FROM selected s
                JOIN (SELECT clip_id, {flags} FROM selected) m USING (clip_id)
                LEFT JOIN (SELECT video_id, {source} AS source FROM videos GROUP BY video_id) v USING (video_id)
                ORDER BY s.clip_id"""
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise SubsetError(f"SQL error in --where or a mixture predicate: {exc}") from exc
    return rows.to_pydict()


def _component_predicate(component: Component, index: int, columns: dict[str, pa.DataType]) -> str:
    parts = [f"({component.where})"] if component.where else []
    for key, wanted in (component.match or {}).items():
        column = key if key in columns else f"taxonomy_{key}"
        if column not in columns:
            raise SubsetError(
                f"mixture component {component.name or index + 1}: no column {key!r} (or taxonomy_{key}) in the clip "
                "index"
            )
        kind = columns[column]
        if isinstance(wanted, bool):
            parts.append(f'"{column}" = {str(wanted).upper()}')
            continue
        labels = "[" + ", ".join(sql_string(v) for v in (wanted if isinstance(wanted, list) else [wanted])) + "]"
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            parts.append(f'list_has_any("{column}", {labels})')
        else:
            parts.append(f'list_contains({labels}, CAST("{column}" AS VARCHAR))')
    return " AND ".join(parts)


def _sample(
    candidates: dict[str, list], mixture: Mixture, total: Total, seed: int
) -> tuple[list[int], list[dict[str, Any]], list[str]]:
    """Indices of the chosen candidates, what each component took, and notes on components that fell short."""
    components = mixture.components or [Component(name="all", where="TRUE", weight=1.0)]
    hours = np.asarray(candidates["duration_s"], dtype=float) / 3600
    size = hours if total.clips is None else np.ones(len(hours))  # what the budget is counted in
    weights = np.array([c.weight for c in components])
    shares = weights / weights.sum()
    members = [np.flatnonzero(np.asarray(candidates[f"member_{i}"], dtype=bool)) for i in range(len(components))]
    targets = shares * _budget(total, members, size, shares, weighted=bool(mixture.components))
    rng = np.random.default_rng(seed)
    orders = [m[rng.permutation(len(m))] for m in members]
    draw = _draw(orders, size, targets, _CapTracker(mixture.caps, candidates))
    unit = "clips" if total.clips is not None else "hours"
    report, notes = _component_report(components, shares, targets, members, draw, hours, unit)
    return draw.chosen, report, notes


def _budget(total: Total, members: list[np.ndarray], size: np.ndarray, shares: np.ndarray, weighted: bool) -> float:
    """The total to draw (in clips or hours): as asked; else, with components, the largest total each can fill
    at its share; else every selected clip."""
    budget = total.clips if total.clips is not None else total.hours
    if budget is not None:
        return budget
    available = np.array([size[m].sum() for m in members])
    return float(np.min(available / shares)) if weighted else float(available.sum())


@dataclass
class _Draw:
    chosen: list[int]  # candidate indices, in the order they were taken
    owner: list[int]  # the component that took each chosen clip
    taken: np.ndarray  # per component, in budget units


def _draw(orders: list[np.ndarray], size: np.ndarray, targets: np.ndarray, caps: _CapTracker) -> _Draw:
    """Components take clips in turn, the one furthest below its target first, each from its own random order,
    skipping clips already taken or over a cap, until every component reaches its target or runs out."""
    cursor = [0] * len(orders)
    draw = _Draw(chosen=[], owner=[], taken=np.zeros(len(orders)))
    used = np.zeros(len(size), dtype=bool)
    open_components = set(range(len(orders)))
    while open_components:
        i = min(open_components, key=lambda k: (draw.taken[k] / targets[k] if targets[k] > 0 else 1.0, k))
        if draw.taken[i] >= targets[i] - 1e-12:
            open_components.discard(i)
            continue
        picked = None
        while cursor[i] < len(orders[i]):
            candidate = int(orders[i][cursor[i]])
            cursor[i] += 1
            if not used[candidate] and caps.allows(candidate):
                picked = candidate
                break
        if picked is None:
            open_components.discard(i)
            continue
        used[picked] = True
        caps.take(picked)
        draw.chosen.append(picked)
        draw.owner.append(i)
        draw.taken[i] += size[picked]
    return draw


def _component_report(
    components: list[Component],
    shares: np.ndarray,
    targets: np.ndarray,
    members: list[np.ndarray],
    draw: _Draw,
    hours: np.ndarray,
    unit: str,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Per component: share, target, clips and hours taken, clips available, realised share; and a note for each
    component that fell short of its target."""
    report, notes = [], []
    total_taken = draw.taken.sum()
    for i, component in enumerate(components):
        mine = [c for c, o in zip(draw.chosen, draw.owner, strict=True) if o == i]
        report.append(
            {
                "name": component.name or f"component-{i + 1}",
                "share": float(shares[i]),
                f"target_{unit}": float(targets[i]),
                "clips": len(mine),
                "hours": float(hours[mine].sum()) if mine else 0.0,
                "available_clips": len(members[i]),
                "realised_share": float(draw.taken[i] / total_taken) if total_taken else 0.0,
            }
        )
        if draw.taken[i] < targets[i] * 0.999:
            notes.append(
                f"{report[-1]['name']} has {draw.taken[i]:.3f} of its {targets[i]:.3f} {unit}: too few matching clips "
                "(or caps reached)"
            )
    return report, notes


class _CapTracker:
    def __init__(self, caps: Caps, candidates: dict[str, list]) -> None:
        self.caps = caps
        self.video = candidates["video_id"]
        self.source = candidates["source_name"]
        self.hours = [d / 3600 for d in candidates["duration_s"]]
        self.video_hours: dict[str, float] = {}
        self.video_clips: dict[str, int] = {}
        self.source_hours: dict[str, float] = {}
        self.source_clips: dict[str, int] = {}

    def allows(self, i: int) -> bool:
        caps, video, source, hours = self.caps, self.video[i], self.source[i], self.hours[i]
        return not (
            (
                caps.max_hours_per_video is not None
                and self.video_hours.get(video, 0.0) + hours > caps.max_hours_per_video
            )
            or (caps.max_clips_per_video is not None and self.video_clips.get(video, 0) + 1 > caps.max_clips_per_video)
            or (
                caps.max_hours_per_source is not None
                and self.source_hours.get(source, 0.0) + hours > caps.max_hours_per_source
            )
            or (
                caps.max_clips_per_source is not None
                and self.source_clips.get(source, 0) + 1 > caps.max_clips_per_source
            )
        )

    def take(self, i: int) -> None:
        video, source, hours = self.video[i], self.source[i], self.hours[i]
        self.video_hours[video] = self.video_hours.get(video, 0.0) + hours
        self.video_clips[video] = self.video_clips.get(video, 0) + 1
        self.source_hours[source] = self.source_hours.get(source, 0.0) + hours
        self.source_clips[source] = self.source_clips.get(source, 0) + 1


def _copy_shards(corpus: Corpus, clip_rows: pa.Table, out_dir: Path) -> tuple[pa.Table, int]:
    """New shards with every file of each chosen clip, packed in clip-ID order like `curate` packs them."""
    settings = corpus.manifest.get("config", {}).get("corpus", {})
    max_clips = int(settings.get("shard_max_clips", 500))
    max_bytes = float(settings.get("shard_max_mb", 1024.0)) * 1e6
    clip_ids, shards = clip_rows["clip_id"].to_pylist(), clip_rows["shard"].to_pylist()
    wanted = set(clip_ids)
    source: dict[str, str] = {}  # clip_id -> the shard holding its files
    size: dict[str, int] = {}  # clip_id -> bytes of its files
    for shard in sorted({s for s in shards if s}):
        for name, (_, member_size) in _existing_shard(corpus, shard).items():
            clip_id = name.split(".", 1)[0]
            if clip_id in wanted:
                source[clip_id] = shard
                size[clip_id] = size.get(clip_id, 0) + member_size
    materialised = [c for c in clip_ids if c in source]  # not the clips of a source curated with --no-materialize
    groups = pack_shards(materialised, size.__getitem__, max_clips, max_bytes)
    new_shard: dict[str, str] = {}
    for number, group in enumerate(groups):
        name = shard_name(number)
        write_shard(out_dir / name, ((c, corpus.clip_members(source[c], c)) for c in group))
        new_shard.update(dict.fromkeys(group, name))
    column = clip_rows.schema.get_field_index("shard")
    return clip_rows.set_column(column, "shard", pa.array([new_shard.get(c) for c in clip_ids], pa.string())), len(
        groups
    )


def _existing_shard(corpus: Corpus, shard: str) -> dict[str, tuple[int, int]]:
    """The shard's member table; SubsetError when the shard is missing or unreadable."""
    try:
        return corpus.shard_members(shard, strict=True)
    except (OSError, tarfile.TarError) as exc:
        raise SubsetError(
            f"{corpus.location}/{shard}: shard named in the clip index is missing or unreadable ({exc}); the source "
            "is incomplete"
        ) from exc


def _reference_shards(corpus: Corpus, clip_rows: pa.Table) -> pa.Table:
    """Shard paths pointing into the source corpus (those shards also hold clips outside the subset): absolute paths,
    or store URLs for a corpus on object storage (its local root is only the index mirror)."""
    column = clip_rows.schema.get_field_index("shard")
    paths = [_source_shard(corpus, s) for s in clip_rows["shard"].to_pylist()]
    return clip_rows.set_column(column, "shard", pa.array(paths, pa.string()))


def _source_shard(corpus: Corpus, shard: str | None) -> str | None:
    """Where a shard named in the source index is, readable from anywhere; already absolute names are kept."""
    if shard is None or is_remote(shard) or Path(shard).is_absolute():
        return shard
    if corpus.store is not None:
        return f"{corpus.location}/{shard}"
    return str(corpus.root.resolve() / shard)


def _write_index(corpus: Corpus, con: duckdb.DuckDBPyConnection, clip_rows: pa.Table, out_dir: Path) -> None:
    """The four index tables for the chosen clips, plus every annotation table cut to the chosen clips or videos."""
    clip_ids = clip_rows["clip_id"].to_pylist()
    video_ids = sorted(set(clip_rows["video_id"].to_pylist()))
    kept_per_video = (
        dict(
            zip(*np.unique(np.array(clip_rows["video_id"].to_pylist(), dtype=object), return_counts=True), strict=True)
        )
        if clip_ids
        else {}
    )
    videos = con.sql(
        "SELECT * FROM videos WHERE video_id IN (SELECT unnest($ids)) ORDER BY uri", params={"ids": video_ids}
    ).to_arrow_table()
    if "clips_kept" in videos.column_names:
        counts = pa.array(
            [int(kept_per_video.get(v, 0)) for v in videos["video_id"].to_pylist()],
            videos.schema.field("clips_kept").type,
        )
        videos = videos.set_column(videos.schema.get_field_index("clips_kept"), "clips_kept", counts)
    write_parquet(out_dir / "videos.parquet", videos)
    write_parquet(out_dir / "clips" / "part-00000.parquet", clip_rows)
    if (
        "dropped_clips" in corpus.tables
    ):  # the subset drops nothing itself; keep the table, empty, for tools that expect it
        write_parquet(out_dir / "dropped_clips.parquet", corpus.schema("dropped_clips").empty_table())
    for name, paths in corpus.tables.items():
        if name in ("videos", "clips", "dropped_clips"):
            continue
        columns = corpus.columns(name)
        keep = _rows_to_keep(columns)
        if keep is None:  # not tied to clips or videos (provenance ...): copied as it is
            for path in paths:
                target = out_dir / path.relative_to(corpus.root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            continue
        params = {key: ids for key, ids in (("clips", clip_ids), ("videos", video_ids)) if f"${key}" in keep}
        table = con.sql(f'SELECT * FROM "{name}" WHERE {keep}', params=params).to_arrow_table()
        relative = paths[0].relative_to(corpus.root)
        target = relative.parent / "part-00000.parquet" if paths[0].name.startswith("part-") else relative
        write_parquet(out_dir / target, table)


def _rows_to_keep(columns: list[str]) -> str | None:
    """A filter for an annotation table: its rows of the chosen clips, plus video-level rows (no clip) of their
    videos."""
    in_clips, in_videos = "clip_id IN (SELECT unnest($clips))", "video_id IN (SELECT unnest($videos))"
    if "clip_id" in columns and "video_id" in columns:
        return f"{in_clips} OR (clip_id IS NULL AND {in_videos})"
    if "clip_id" in columns:
        return in_clips
    return in_videos if "video_id" in columns else None


def _manifest(
    corpus: Corpus, out_dir: Path, clip_rows: pa.Table, hours_out: float, shards: int, copy: bool
) -> dict[str, Any]:
    video_table = pq.read_table(out_dir / "videos.parquet", columns=["duration_s"])
    durations = [d or 0.0 for d in video_table["duration_s"].to_pylist()]
    return {
        "format_version": FORMAT_VERSION,
        "humannet_version": __version__,
        "analysis_fingerprint": corpus.manifest.get("analysis_fingerprint"),
        "config": corpus.manifest.get("config", {}),
        "counts": {
            "videos": video_table.num_rows,
            "videos_kept": video_table.num_rows,
            "clips": clip_rows.num_rows,
            "hours_in": sum(durations) / 3600,
            "hours_out": hours_out,
            "shards": shards,
        },
        "materialized": bool(corpus.manifest.get("materialized", True)),
    }
