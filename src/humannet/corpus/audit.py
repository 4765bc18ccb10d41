"""Licence audit of a corpus: clips and clip-hours by licence, with the ones a lab cannot train on flagged.

Licences arrive as free text from input lists ("CC BY 4.0; attribution: …", "Apache-2.0
(repository licence)", empty). A small table of patterns maps common spellings to one
name and a use category; anything it does not recognise is `unknown`, never guessed.
Categories: `open` (commercial use allowed, attribution or share-alike may apply),
`non_commercial` (NC, research or academic only), `restricted` (all rights reserved,
platform standard licences), `unknown`. Unknown, non-commercial and restricted are flagged.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

OPEN, NON_COMMERCIAL, RESTRICTED, UNKNOWN = "open", "non_commercial", "restricted", "unknown"
FLAGGED = frozenset({NON_COMMERCIAL, RESTRICTED, UNKNOWN})

# (pattern on the lower-cased text with '-', '_' and '/' turned into spaces, name, category); the first match wins.
LICENCE_TABLE: list[tuple[str, str, str]] = [
    (r"\bcc0\b|\bcc zero\b|creative commons zero", "CC0-1.0", OPEN),
    (r"public domain", "public-domain", OPEN),
    (r"non ?commercial|research (use )?only|academic (use )?only|not for commercial", "non-commercial", NON_COMMERCIAL),
    (r"all rights reserved|standard youtube licen[cs]e|youtube standard", "all-rights-reserved", RESTRICTED),
    (r"apache", "Apache-2.0", OPEN),
    (r"\bmit\b", "MIT", OPEN),
    (r"\bbsd\b.*\b2\b|\bbsd 2", "BSD-2-Clause", OPEN),
    (r"\bbsd\b", "BSD-3-Clause", OPEN),
    (r"\bpexels\b", "Pexels", OPEN),
    (r"\bpixabay\b", "Pixabay", OPEN),
    (r"\bunsplash\b", "Unsplash", OPEN),
    (r"\bmixkit\b", "Mixkit", OPEN),
]
CC_PATTERN = re.compile(r"\bcc\b|creative commons")
CC_VERSION = re.compile(r"\b([1-4]\.0)\b|\b([1-4])\b")


def normalize_license(text: str | None) -> tuple[str, str]:
    """(name, category) for a free-text licence; Creative Commons variants get SPDX-style names."""
    if text is None or not text.strip():
        return "unknown", UNKNOWN
    plain = re.sub(r"[-_/]+", " ", text.lower())
    if CC_PATTERN.search(plain) and not re.search(r"\bcc0\b|\bcc zero\b|creative commons zero", plain):
        return _creative_commons(plain)
    for pattern, name, category in LICENCE_TABLE:
        if re.search(pattern, plain):
            return name, category
    return "unknown", UNKNOWN


def _creative_commons(plain: str) -> tuple[str, str]:
    parts = ["CC", "BY"]
    non_commercial = bool(re.search(r"\bnc\b|non ?commercial", plain))
    if non_commercial:
        parts.append("NC")
    if re.search(r"\bnd\b|no ?deriv", plain):
        parts.append("ND")
    elif re.search(r"\bsa\b|share ?alike", plain):
        parts.append("SA")
    version = CC_VERSION.search(plain)
    if version:
        parts.append(version.group(1) or f"{version.group(2)}.0")
    return "-".join(parts), NON_COMMERCIAL if non_commercial else OPEN


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
class AuditReport:
    rows: list[LicenceRow]
    flagged_clips: list[dict[str, str | None]]  # clip_id, video_id, raw licence, name, category

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
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def format_table(self) -> str:
        header = f"{'license':<24} {'category':<15} {'videos':>7} {'clips':>7} {'clip h':>9}  flag"
        lines = [header, "-" * len(header)]
        for r in self.rows:
            lines.append(f"{r.license:<24} {r.category:<15} {r.videos:>7} {r.clips:>7} {r.clip_hours:>9.3f}  {'!' if r.flagged else ''}")
        lines.append("-" * len(header))
        lines.append(f"{'total':<40} {sum(r.videos for r in self.rows):>7} {self.clips:>7} {self.clip_hours:>9.3f}")
        flagged_hours = sum(r.clip_hours for r in self.rows if r.flagged)
        lines.append(f"flagged (unknown, non-commercial or restricted): {len(self.flagged_clips)} clips, {flagged_hours:.3f} h")
        return "\n".join(lines)


def audit(corpus_dir: str | Path) -> AuditReport:
    """Kept clips of a corpus grouped by normalised licence (joined from videos.parquet on video_id)."""
    corpus = Path(corpus_dir)
    videos = pq.read_table(corpus / "videos.parquet", columns=["video_id", "license"]).to_pylist()
    licence_of = {v["video_id"]: v["license"] for v in videos if v["video_id"] is not None}
    rows: dict[tuple[str, str], LicenceRow] = {}
    seen_videos: dict[tuple[str, str], set[str]] = {}
    flagged = []
    for part in sorted((corpus / "clips").glob("*.parquet")):
        table = pq.read_table(part, columns=["clip_id", "video_id", "duration_s"]).sort_by("clip_id")
        for clip_id, video_id, duration in zip(*(table[name].to_pylist() for name in table.column_names), strict=True):
            raw = licence_of.get(video_id)
            name, category = normalize_license(raw)
            row = rows.setdefault((name, category), LicenceRow(name, category))
            row.clips += 1
            row.clip_hours += (duration or 0.0) / 3600
            if raw and raw not in row.spellings:
                row.spellings.append(raw)
            seen_videos.setdefault((name, category), set()).add(video_id)
            if category in FLAGGED:
                flagged.append({"clip_id": clip_id, "video_id": video_id, "license_raw": raw, "license": name, "category": category})
    for key, row in rows.items():
        row.videos = len(seen_videos[key])
        row.spellings.sort()
    ordered = sorted(rows.values(), key=lambda r: (-r.clip_hours, r.license))
    return AuditReport(rows=ordered, flagged_clips=flagged)
