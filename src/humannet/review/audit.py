"""Audit of a corpus before it leaves the lab: licences, review results, and what built it.

Licences: kept clips and clip-hours by licence (`license_spdx`, normalised from the free text
of the inputs by `review/licenses.py`; corpora written before that column existed are
normalised here), each with a use category derived from the licence's terms:
`open` (commercial use and redistribution allowed; attribution or share-alike may apply),
`non_commercial`, `restricted` (no redistribution: platform-standard, all rights reserved,
stock-footage licences) and `unknown`. Unknown, non-commercial and restricted are flagged.

Review: clips dropped or quarantined by the unsafe-content review and by the screen filter's
text measure, clips flagged for identifying text (by kind), clips a review stage did not check
(it could not run on them, or was off when their video was curated: the video carries no stamp
of it in `videos.parquet`'s `review_stamps`), faces and text hidden in the written clips (from
the clips' JSON in the shards).

Build: every stage, version and settings hash behind the index columns (`provenance.parquet`),
with review stages that filled different videos with different versions or settings marked.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from humannet.corpus.reader import Corpus, open_corpus, open_unchecked
from humannet.review.licenses import UNKNOWN as UNKNOWN_ID
from humannet.review.licenses import license_table
from humannet.review.policy import CONTENT_REVIEWS, unreviewed
from humannet.storage import is_remote

OPEN, NON_COMMERCIAL, RESTRICTED, UNKNOWN = "open", "non_commercial", "restricted", "unknown"
FLAGGED = frozenset({NON_COMMERCIAL, RESTRICTED, UNKNOWN})
REVIEW_DROP_KEYS = ("unsafe", "quarantined")


def license_category(license_id: str) -> str:
    if license_id == UNKNOWN_ID:
        return UNKNOWN
    terms = license_table().get(license_id).terms
    if not terms.redistribution:
        return RESTRICTED
    return OPEN if terms.commercial_use else NON_COMMERCIAL


def normalize_license(text: Any) -> tuple[str, str]:
    """(licence ID, category) for a free-text licence."""
    license_id = license_table().normalize(text).id
    return license_id, license_category(license_id)


@dataclass
class LicenceRow:
    license: str
    category: str
    videos: int = 0
    clips: int = 0
    clip_hours: float = 0.0
    spellings: list[str] = field(default_factory=list)  # the raw texts that mapped here

    @property
    def flagged(self) -> bool:
        return self.category in FLAGGED


@dataclass
class ReviewAudit:
    dropped_by_reason: dict[str, dict[str, float]] = field(default_factory=dict)  # review reason key -> clips, hours
    pii_clips: int = 0
    pii_by_kind: dict[str, int] = field(default_factory=dict)
    not_reviewed_clips: int = 0  # clips some content review did not check
    not_reviewed_by_stage: dict[str, int] = field(default_factory=dict)  # the same, per review stage
    review_stamps_recorded: bool = True  # False: videos.parquet predates `review_stamps`, stages off are not counted
    max_unsafe_score: float | None = None
    clips_with_media: int = 0
    faces_hidden_clips: int = 0  # clips with at least one written frame with a face hidden
    faces_blurred_frames: int = 0
    text_hidden_clips: int = 0
    # stage, version, config section and hash, columns, videos
    stage_versions: list[dict[str, Any]] = field(default_factory=list)
    # review stages whose columns come from more than one version or setting
    mixed_stages: list[str] = field(default_factory=list)


@dataclass
class AuditReport:
    rows: list[LicenceRow]
    flagged_clips: list[dict[str, str | None]]  # clip_id, video_id, raw licence, name, category
    review: ReviewAudit = field(default_factory=ReviewAudit)

    @property
    def clips(self) -> int:
        return sum(r.clips for r in self.rows)

    @property
    def clip_hours(self) -> float:
        return sum(r.clip_hours for r in self.rows)

    def to_dict(self) -> dict:
        return {
            "clips": self.clips,
            "clip_hours": self.clip_hours,
            "flagged_clips_total": len(self.flagged_clips),
            "licenses": [{**asdict(r), "flagged": r.flagged} for r in self.rows],
            "flagged_clips": self.flagged_clips,
            "review": asdict(self.review),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def format_table(self) -> str:
        header = f"{'license':<24} {'category':<15} {'videos':>7} {'clips':>7} {'clip h':>9}  flag"
        lines = [header, "-" * len(header)]
        for r in self.rows:
            lines.append(
                f"{r.license:<24} {r.category:<15} {r.videos:>7} {r.clips:>7} {r.clip_hours:>9.3f}  "
                f"{'!' if r.flagged else ''}"
            )
        lines.append("-" * len(header))
        lines.append(f"{'total':<40} {sum(r.videos for r in self.rows):>7} {self.clips:>7} {self.clip_hours:>9.3f}")
        flagged_hours = sum(r.clip_hours for r in self.rows if r.flagged)
        lines.append(
            f"flagged (unknown, non-commercial or restricted): {len(self.flagged_clips)} clips, {flagged_hours:.3f} h"
        )
        lines += ["", *self._review_lines()]
        return "\n".join(lines)

    def _review_lines(self) -> list[str]:
        r = self.review
        lines = ["review"]
        if r.dropped_by_reason:
            for key, tally in sorted(r.dropped_by_reason.items()):
                lines.append(f"  dropped by {key}: {int(tally['clips'])} clips, {tally['hours']:.3f} h")
        else:
            lines.append("  dropped by review: none")
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(r.pii_by_kind.items())) or "none"
        lines.append(f"  identifying text on screen: {r.pii_clips} clips ({kinds})")
        by_stage = ", ".join(f"{stage} {n}" for stage, n in r.not_reviewed_by_stage.items())
        lines.append(
            f"  not reviewed (a review stage was off or could not run): {r.not_reviewed_clips} clips ({by_stage})"
        )
        if not r.review_stamps_recorded:
            lines.append(
                "  videos.parquet has no review_stamps (written by an older humannet), so review stages that were "
                "off are not counted; `humannet review CORPUS` rewrites the index with them"
            )
        if r.max_unsafe_score is not None:
            lines.append(f"  highest unsafe_score among kept clips: {r.max_unsafe_score:.3f}")
        lines.append(
            f"  faces hidden: {r.faces_hidden_clips} of {r.clips_with_media} written clips ({r.faces_blurred_frames} "
            f"frames); identifying text hidden: {r.text_hidden_clips} clips"
        )
        lines.append("stages that built the index (stage, version, config section: hash, columns, videos)")
        for s in r.stage_versions:
            videos = "all" if s["videos"] is None else str(s["videos"])
            settings = f"{s['config_section'] or '-'}: {s['config_hash'] or '-'}"
            lines.append(
                f"  {s['stage']:<14} {s['stage_version']:<24} {settings}  {s['columns']} columns, {videos} videos"
            )
        if r.mixed_stages:
            lines.append(
                f"  mixed: {', '.join(r.mixed_stages)} filled videos with different versions or settings; run "
                "`humannet review CORPUS`"
            )
        return lines


def audit(location: str | Path | Corpus) -> AuditReport:
    """Kept clips of a corpus grouped by licence (joined from videos.parquet on video_id), plus the review and build
    audit.

    `location`: an opened corpus, a store URL (opened with `open_corpus`), or a local folder, read as it is
    (only the files the audit needs must be there).
    """
    opened = _as_corpus(location)
    corpus = opened.root  # the folder, or the local mirror of a store's index
    video_columns = pq.read_schema(corpus / "videos.parquet").names
    wanted = ["video_id", "license"] + (["license_spdx"] if "license_spdx" in video_columns else [])
    videos = pq.read_table(corpus / "videos.parquet", columns=wanted).to_pylist()
    licence_of = {v["video_id"]: (v["license"], v.get("license_spdx")) for v in videos if v["video_id"] is not None}
    rows: dict[tuple[str, str], LicenceRow] = {}
    seen_videos: dict[tuple[str, str], set[str]] = {}
    flagged = []
    for part in sorted((corpus / "clips").glob("*.parquet")):
        table = pq.read_table(part, columns=["clip_id", "video_id", "duration_s"]).sort_by("clip_id")
        for clip_id, video_id, duration in zip(*(table[name].to_pylist() for name in table.column_names), strict=True):
            raw, spdx = licence_of.get(video_id, (None, None))
            name = spdx or normalize_license(raw)[0]
            category = license_category(name)
            row = rows.setdefault((name, category), LicenceRow(name, category))
            row.clips += 1
            row.clip_hours += (duration or 0.0) / 3600
            if raw and raw not in row.spellings:
                row.spellings.append(raw)
            seen_videos.setdefault((name, category), set()).add(video_id)
            if category in FLAGGED:
                flagged.append(
                    {
                        "clip_id": clip_id,
                        "video_id": video_id,
                        "license_raw": raw,
                        "license": name,
                        "category": category,
                    }
                )
    for key, row in rows.items():
        row.videos = len(seen_videos[key])
        row.spellings.sort()
    ordered = sorted(rows.values(), key=lambda r: (-r.clip_hours, r.license))
    return AuditReport(rows=ordered, flagged_clips=flagged, review=review_audit(opened))


def _as_corpus(location: str | Path | Corpus) -> Corpus:
    if isinstance(location, Corpus):
        return location
    if is_remote(str(location)):
        return open_corpus(str(location))
    return open_unchecked(location)


def review_audit(opened: Corpus) -> ReviewAudit:
    corpus = opened.root
    result = ReviewAudit()
    dropped_path = corpus / "dropped_clips.parquet"
    if dropped_path.exists():
        dropped = pq.read_table(dropped_path, columns=["duration_s", "reason"]).to_pylist()
        tallies: dict[str, dict[str, float]] = defaultdict(lambda: {"clips": 0, "hours": 0.0})
        for row in dropped:
            reason = row["reason"] or ""
            key = reason.split(":", 1)[0].strip()
            if key in REVIEW_DROP_KEYS:
                label = key if key == "unsafe" else "quarantined (unsafe)"
            elif key == "screen" and "text_area_fraction" in reason:
                label = "screen (text area, from the on-screen text review)"
            else:
                continue
            tallies[label]["clips"] += 1
            tallies[label]["hours"] += (row["duration_s"] or 0.0) / 3600
        result.dropped_by_reason = dict(tallies)
    reviewed_by = _reviewed_by(corpus)
    result.review_stamps_recorded = reviewed_by is not None
    clip_parts = sorted((corpus / "clips").glob("*.parquet"))
    kinds: Counter[str] = Counter()
    not_reviewed: Counter[str] = Counter({stage: 0 for stage in CONTENT_REVIEWS})
    for part in clip_parts:
        names = pq.read_schema(part).names
        columns = [c for c in ("video_id", "pii_flags", "review_issues", "unsafe_score") if c in names]
        for row in pq.read_table(part, columns=columns).to_pylist():
            flags = row.get("pii_flags") or []
            result.pii_clips += bool(flags)
            kinds.update(flags)
            stamped = reviewed_by.get(row["video_id"], frozenset()) if reviewed_by is not None else CONTENT_REVIEWS
            gaps = unreviewed(frozenset(stamped), row.get("review_issues") or [])
            not_reviewed.update({gap.split(":", 1)[0] for gap in gaps})
            result.not_reviewed_clips += bool(gaps)
            score = row.get("unsafe_score")
            if score is not None and score == score:
                result.max_unsafe_score = max(result.max_unsafe_score or 0.0, score)
    result.pii_by_kind = dict(sorted(kinds.items()))
    result.not_reviewed_by_stage = dict(sorted(not_reviewed.items()))
    _hidden_counts(opened, result)
    _stage_versions(corpus, result)
    return result


def _reviewed_by(corpus: Path) -> dict[str, frozenset[str]] | None:
    """The review stages that ran on each video, from `videos.parquet`; None when it predates `review_stamps`."""
    path = corpus / "videos.parquet"
    if "review_stamps" not in pq.read_schema(path).names:
        return None
    rows = pq.read_table(path, columns=["video_id", "review_stamps"]).to_pylist()
    return {row["video_id"]: frozenset(s["stage"] for s in row["review_stamps"] or []) for row in rows}


def _hidden_counts(corpus: Corpus, result: ReviewAudit) -> None:
    """Faces and text hidden, from each written clip's JSON (the shards' small members only are read)."""
    for shard in corpus.shards():
        names = [name for name in corpus.shard_members(shard, strict=True) if name.endswith(".json")]
        for data in map(json.loads, corpus.read_members(shard, names).values()):
            result.clips_with_media += 1
            frames = int(data.get("privacy", {}).get("faces_blurred_frames") or 0)
            result.faces_blurred_frames += frames
            result.faces_hidden_clips += frames > 0
            result.text_hidden_clips += bool(data.get("pii_hidden", {}).get("frames"))


def _stage_versions(corpus: Path, result: ReviewAudit) -> None:
    path = corpus / "provenance.parquet"
    if not path.exists():
        return
    groups: dict[tuple, set[str]] = defaultdict(set)
    for row in pq.read_table(path).to_pylist():
        key = (row["stage"], row["stage_version"], row["config_section"], row["config_hash"], row["videos"])
        groups[key].add(f"{row['table']}.{row['column']}")
    stamps: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for (stage, version, section, digest, videos), columns in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1], item[0][3], item[0][4] or 0)
    ):
        result.stage_versions.append(
            {
                "stage": stage,
                "stage_version": version,
                "config_section": section,
                "config_hash": digest,
                "columns": len(columns),
                "videos": videos,
            }
        )
        if videos is not None:
            stamps[stage].add((version, digest))
    result.mixed_stages = sorted(stage for stage, seen in stamps.items() if len(seen) > 1)
