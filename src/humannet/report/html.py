"""`humannet report`: one HTML file a person can open offline to see what a corpus holds.

Plots are Plotly figures; plotly.js is inlined once at the top of the page, so the file needs no
network (no CDN). Sample thumbnails are decoded from the clips in the shards with PyAV and
embedded as base64 JPEG. Sections whose columns a corpus lacks are left out with a note.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import plotly.graph_objects as go
from plotly.io import to_html
from plotly.subplots import make_subplots

from humannet import HumannetError, __version__
from humannet.corpus.reader import Corpus
from humannet.corpus.stats import NO_LABEL, CorpusStats, compute_stats, most_specific_shares, taxonomy_parents

THUMB_WIDTH = 192
STRUCTURAL_COLUMNS = frozenset({"start_s", "end_s", "duration_s", "start_frame", "end_frame", "scene_index"})
PLOT_HEIGHT = 360
QUALITY_SCORES = (  # shown first, in this order; other score columns follow alphabetically
    "blur_score",
    "motion_score",
    "screen_score",
    "dark_fraction",
    "bright_fraction",
    "occlusion_fraction",
    "frozen_fraction",
    "person_fraction",
    "hand_fraction",
    "face_fraction",
    "human_motion_score",
    "viewpoint_confidence",
)


@dataclass
class Section:
    title: str
    body: str  # HTML


class ReportWriteError(HumannetError, OSError):
    """The report's file cannot be written where -o points; the message names it and says why."""


def write_report(corpus: Corpus, out_path: Path, thumbnails_per_category: int = 8, seed: int = 0) -> None:
    """Compute the statistics, draw every plot the corpus has data for, and write one self-contained HTML file
    (creating its folder; a place it cannot be written is a ReportWriteError, found before the work)."""
    _writable(out_path)
    stats = compute_stats(corpus)
    con = corpus.connect()
    figures = _Figures()
    sections = [
        Section("Overview", _overview(stats)),
        Section(
            "Funnel: where input was lost",
            figures.add(_funnel_figure(stats)) + figures.add(_drop_reasons_figure(stats)),
        ),
        Section("Durations", figures.add(_duration_figure(con))),
        Section("Viewpoint and motion", _label_splits(stats, figures)),
        Section("Taxonomy", _taxonomy(stats, con, figures)),
        Section("Quality scores", _quality(corpus, con, figures)),
    ]
    if thumbnails_per_category:
        sections.append(
            Section("Samples per category", _thumbnail_grid(corpus, con, stats, thumbnails_per_category, seed))
        )
    page = _page(corpus, sections)
    try:
        out_path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportWriteError(f"{out_path}: cannot write the report: {exc.strerror or exc}") from exc


def _writable(out_path: Path) -> None:
    """Create the report's folder now, so a path that cannot hold it fails before the statistics are computed."""
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportWriteError(
            f"{out_path}: cannot create its folder {out_path.parent}: {exc.strerror or exc}"
        ) from exc


class _Figures:
    """Renders figures to HTML divs; the first one carries plotly.js inline, the rest reuse it."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, figure: go.Figure | None) -> str:
        if figure is None:
            return ""
        figure.update_layout(template="plotly_white", margin={"l": 50, "r": 20, "t": 50, "b": 40})
        self.count += 1
        return to_html(
            figure,
            full_html=False,
            include_plotlyjs=self.count == 1,
            config={"displaylogo": False},
            default_width="100%",
        )


def _overview(stats: CorpusStats) -> str:
    rows = [
        (
            "source videos",
            f"{stats.videos['inputs']} ({stats.videos['kept']} kept, {stats.videos['dropped']} dropped, "
            f"{stats.videos['failed']} failed)",
        ),
        ("hours in / out", f"{stats.hours_in:.3f} / {stats.hours_out:.3f}"),
        ("clips", f"{stats.clips} kept, {stats.clips_dropped} dropped spans"),
        ("scenes", f"{stats.scenes['detected']} detected, {stats.scenes['with_clips']} with kept clips"),
    ]
    rows += [
        (name, f"{row['frames']} frames in {row['clips']} clips ({row['what']})")
        for name, row in stats.annotated_frames.items()
    ]
    if stats.robot_ready is not None:
        rows.append(("robot-ready", f"{stats.robot_ready['segments']} segments, {stats.robot_ready['hours']:.3f} h"))
    if stats.environment is not None:
        env = stats.environment
        rows.append(
            (
                "environment diversity",
                f"{env['leaf_categories_covered']} leaf categories, normalised entropy {env['normalised_entropy']:.3f}",
            )
        )
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    absent = f"<p class='note'>Not in this corpus: {html.escape(', '.join(stats.absent))}</p>" if stats.absent else ""
    return f"<table class='overview'>{table}</table>{absent}"


def _funnel_figure(stats: CorpusStats) -> go.Figure:
    videos, clips = stats.funnel["videos"], stats.funnel["clips"]
    steps = [
        ("input videos", videos["inputs"]["hours"]),
        ("kept videos", videos["kept"]["hours"]),
        ("candidate spans", clips["candidates_in_kept_videos"]["hours"]),
        ("kept clips", clips["kept"]["hours"]),
    ]
    figure = go.Figure(
        go.Funnel(
            y=[s[0] for s in steps], x=[s[1] for s in steps], texttemplate="%{value:.3f} h (%{percentInitial:.0%})"
        )
    )
    figure.update_layout(title="Hours at each step", height=PLOT_HEIGHT)
    return figure


def _drop_reasons_figure(stats: CorpusStats) -> go.Figure | None:
    bars = []
    for stage, rows in (
        ("videos failed", stats.funnel["videos"]["failed"]),
        ("videos dropped", stats.funnel["videos"]["dropped"]),
    ):
        bars += [(stage, key, row["count"]) for key, row in rows.items()]
    bars += [("clips dropped", key, row["count"]) for key, row in stats.funnel["clips"]["dropped"].items()]
    if not bars:
        return None
    figure = go.Figure()
    for stage in dict.fromkeys(b[0] for b in bars):
        mine = [b for b in bars if b[0] == stage]
        figure.add_bar(name=stage, x=[b[2] for b in mine], y=[f"{stage}: {b[1]}" for b in mine], orientation="h")
    figure.update_layout(
        title="Drop reasons per stage (count)",
        height=max(PLOT_HEIGHT, 28 * len(bars) + 120),
        yaxis={"autorange": "reversed"},
    )
    return figure


def _duration_figure(con) -> go.Figure:
    videos = [d for (d,) in con.sql("SELECT duration_s FROM videos WHERE duration_s IS NOT NULL").fetchall()]
    clips = [d for (d,) in con.sql("SELECT duration_s FROM clips").fetchall()]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("source videos (s)", "kept clips (s)"))
    figure.add_histogram(x=videos, name="source videos", row=1, col=1)
    figure.add_histogram(x=clips, name="kept clips", row=1, col=2)
    figure.update_layout(title="Duration histograms", showlegend=False, height=PLOT_HEIGHT)
    return figure


def _label_splits(stats: CorpusStats, figures: _Figures) -> str:
    parts = []
    for column in ("viewpoint", "motion_categories"):
        distribution = stats.labels.get(column)
        if distribution is None:
            parts.append(f"<p class='note'>No {column} column in this corpus.</p>")
            continue
        labels = list(distribution)
        figure = make_subplots(
            rows=1, cols=2, specs=[[{"type": "domain"}, {"type": "xy"}]], subplot_titles=("share of clips", "hours")
        )
        figure.add_pie(
            labels=labels, values=[distribution[k]["clips"] for k in labels], row=1, col=1, hole=0.4, sort=False
        )
        figure.add_bar(x=labels, y=[distribution[k]["hours"] for k in labels], row=1, col=2, showlegend=False)
        figure.update_layout(title=column, height=PLOT_HEIGHT)
        parts.append(figures.add(figure))
    return "".join(parts)


def _taxonomy(stats: CorpusStats, con, figures: _Figures) -> str:
    axes = {column: d for column, d in stats.labels.items() if column.startswith("taxonomy_")}
    if not axes:
        return "<p class='note'>No taxonomy columns (taxonomy_&lt;axis&gt;) in this corpus.</p>"
    parts = []
    for column, distribution in axes.items():
        labels = [k for k in distribution if k != NO_LABEL] + ([NO_LABEL] if NO_LABEL in distribution else [])
        hours = [f"{distribution[k]['hours']:.3f} h" for k in labels]
        figure = go.Figure(go.Bar(x=[distribution[k]["clips"] for k in labels], y=labels, orientation="h", text=hours))
        figure.update_layout(
            title=f"{column} (clips; a clip counts under its label and every ancestor)",
            height=max(260, 24 * len(labels) + 120),
        )
        figure.update_yaxes(autorange="reversed")
        parts.append(figures.add(figure))
        parts.append(figures.add(_taxonomy_sunburst(con, column)))
    return "".join(parts)


def _taxonomy_sunburst(con, column: str) -> go.Figure | None:
    """The axis as a tree: each clip counted once, under its most specific label; None for a flat axis or without the
    taxonomy."""
    parents = taxonomy_parents(column[len("taxonomy_") :])
    if not any(parents.values()):
        return None
    shares, _ = most_specific_shares(con, column, parents)
    if not shares:
        return None
    shown: set[str] = set()
    for label in shares:
        node: str | None = label
        while node is not None and node not in shown:
            shown.add(node)
            node = parents.get(node)
    root = column[len("taxonomy_") :]
    ids = [root, *sorted(shown)]
    tree_parents = ["", *(parents.get(i) or root for i in ids[1:])]
    values = [0.0, *(shares.get(i, 0.0) for i in ids[1:])]
    figure = go.Figure(go.Sunburst(ids=ids, labels=ids, parents=tree_parents, values=values, branchvalues="remainder"))
    figure.update_layout(title=f"{column} as a tree (clips under their most specific label)", height=460)
    return figure


def _quality(corpus: Corpus, con, figures: _Figures) -> str:
    import pyarrow as pa

    kept = {f.name for f in corpus.schema("clips") if pa.types.is_floating(f.type) and f.name not in STRUCTURAL_COLUMNS}
    dropped = set(corpus.columns("dropped_clips"))
    scores = [name for name in QUALITY_SCORES if name in kept] + sorted(kept - set(QUALITY_SCORES))
    if not scores:
        return "<p class='note'>No score columns in this corpus.</p>"
    cols = 3
    rows = math.ceil(len(scores) / cols)
    figure = make_subplots(rows=rows, cols=cols, subplot_titles=scores, vertical_spacing=min(0.08, 0.6 / rows))
    for i, name in enumerate(scores):
        row, col = i // cols + 1, i % cols + 1
        values = [v for (v,) in con.sql(f'SELECT "{name}" FROM clips WHERE isfinite("{name}")').fetchall()]
        figure.add_histogram(
            x=values,
            name="kept clips",
            legendgroup="kept",
            showlegend=i == 0,
            marker_color="#1f77b4",
            opacity=0.75,
            row=row,
            col=col,
        )
        if name in dropped:
            values = [v for (v,) in con.sql(f'SELECT "{name}" FROM dropped_clips WHERE isfinite("{name}")').fetchall()]
            figure.add_histogram(
                x=values,
                name="dropped spans",
                legendgroup="dropped",
                showlegend=i == 0,
                marker_color="#d62728",
                opacity=0.6,
                row=row,
                col=col,
            )
    figure.update_layout(
        title="Score distributions: kept clips and dropped spans", barmode="overlay", height=220 * rows + 120
    )
    return figures.add(figure)


def _categories(stats: CorpusStats) -> list[tuple[str, str]]:
    """(column, label) pairs to show samples of: viewpoint, motion and every taxonomy label in use."""
    pairs = []
    for column, distribution in stats.labels.items():
        pairs += [(column, label) for label in distribution if label != NO_LABEL]
    return pairs


def _thumbnail_grid(corpus: Corpus, con, stats: CorpusStats, per_category: int, seed: int) -> str:
    categories = _categories(stats)
    if not categories:
        categories = [("", "all clips")]
    list_columns = {c for c in stats.labels if _is_list(corpus, c)}
    rng = np.random.default_rng(seed)
    caption = "caption_short" if "caption_short" in corpus.columns("clips") else "NULL"
    picks: dict[tuple[str, str], list[tuple[str, str, float, str | None]]] = {}
    for column, label in categories:
        if not column:
            where, params = "TRUE", {}
        elif column in list_columns:
            where, params = f'list_contains("{column}", $label)', {"label": label}
        else:
            where, params = f'CAST("{column}" AS VARCHAR) = $label', {"label": label}
        sql = (
            f"SELECT clip_id, shard, duration_s, {caption} FROM clips WHERE shard IS NOT NULL AND {where} ORDER BY "
            "clip_id"
        )
        rows = con.sql(sql, params=params).fetchall()
        if len(rows) > per_category:
            rows = [rows[i] for i in sorted(rng.choice(len(rows), per_category, replace=False))]
        picks[(column, label)] = rows
    thumbs = _thumbnails(corpus, {clip_id: shard for rows in picks.values() for clip_id, shard, _, _ in rows})
    blocks = []
    for (column, label), rows in picks.items():
        cells = []
        for clip_id, _, duration, text in rows:
            image = thumbs.get(clip_id)
            picture = (
                f"<img src='data:image/jpeg;base64,{image}' alt='{html.escape(clip_id)}'>"
                if image
                else "<div class='missing'>no frame</div>"
            )
            words = f"<br><i>{html.escape(text)}</i>" if text else ""
            cells.append(
                f"<figure>{picture}<figcaption>{html.escape(clip_id)}<br>{duration:.1f} s{words}</figcaption></figure>"
            )
        heading = f"{html.escape(column)} = {html.escape(label)}" if column else html.escape(label)
        body = "".join(cells) or "<p class='note'>no materialised clips</p>"
        blocks.append(f"<h3>{heading}</h3><div class='grid'>{body}</div>")
    return "".join(blocks)


def _is_list(corpus: Corpus, column: str) -> bool:
    import pyarrow as pa

    kind = corpus.schema("clips").field(column).type
    return pa.types.is_list(kind) or pa.types.is_large_list(kind)


def _thumbnails(corpus: Corpus, shard_of: dict[str, str]) -> dict[str, str]:
    """Base64 JPEG of each clip's middle frame, read from its shard; clips whose file is missing or undecodable get
    none."""
    out: dict[str, str] = {}
    for clip_id, shard in sorted(shard_of.items(), key=lambda item: (item[1], item[0])):
        data = corpus.read_member(shard, f"{clip_id}.mp4")
        image = _middle_frame_jpeg(data) if data else None
        if image:
            out[clip_id] = image
    return out


def _middle_frame_jpeg(data: bytes) -> str | None:
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            frames = stream.frames or 0
            target = frames // 2 if frames else 0
            image = None
            for index, frame in enumerate(container.decode(stream)):
                image = frame
                if index >= target:
                    break
            if image is None:
                return None
            height = max(2, round(image.height * THUMB_WIDTH / image.width))
            bgr = image.reformat(width=THUMB_WIDTH, height=height, format="bgr24").to_ndarray()
    except (av.FFmpegError, IndexError, ValueError):
        return None
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else None


STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 2em; }
table.overview th { text-align: left; padding: 2px 16px 2px 0; font-weight: 600; } table.overview td { padding: 2px 0; }
.note { color: #777; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
.grid figure { margin: 0; width: 192px; font-size: 11px; color: #555; word-break: break-all; }
.grid img { width: 192px; display: block; border-radius: 3px; }
.missing { width: 192px; height: 108px; background: #eee; display: flex; align-items: center; justify-content: center; }
nav a { margin-right: 12px; }
"""


def _page(corpus: Corpus, sections: list[Section]) -> str:
    anchors = [f"s{i}" for i in range(len(sections))]
    nav = "".join(f"<a href='#{a}'>{html.escape(s.title)}</a>" for a, s in zip(anchors, sections, strict=True))
    body = "".join(f"<h2 id='{a}'>{html.escape(s.title)}</h2>{s.body}" for a, s in zip(anchors, sections, strict=True))
    title = f"humannet corpus report: {corpus.location.rstrip('/').rsplit('/', 1)[-1] or corpus.location}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='note'>{html.escape(corpus.location)} · format version "
        f"{corpus.format_version} · "
        f"humannet {html.escape(__version__)}</p><nav>{nav}</nav>{body}</body></html>\n"
    )
