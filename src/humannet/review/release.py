"""`humannet release CORPUS --policy NAME -o RELEASE/`: the part of a corpus a policy lets ship, and why the rest may
not.

Every clip that reached the end of curation (kept clips, and clips the unsafe-content review
dropped or quarantined) gets a decision under the policy (`review/policy.py`): `release` (the
clip file ships), `reference` (only its source URL and span ship) or `withhold`. The release
folder holds:

  clips/part-00000.parquet   the released clips' index rows, `shard` pointing into this release
  shards/shard-NNNNNN.tar    new shards with only released clips; each clip's JSON rewritten
                             with the current review results, its licence and attribution, and
                             without the local path of its source
  references.parquet         clips released as references: source URL, span, licence
  videos.parquet             videos with a released or referenced clip (no local paths)
  release_manifest.parquet   every clip considered, with licence, attribution, review results
                             and the decision with its reason
  release_summary.json       counts and hours by decision, withheld reason and licence; the policy
  SUMMARY.md                 the same, for people (also printed)
  ATTRIBUTION.md             per released or referenced video: title, author, source, licence
  provenance.parquet         copied from the corpus
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from humannet import HumannetError
from humannet.config import Config
from humannet.corpus.card import write_card
from humannet.corpus.export.release import ReleasedClip, copy_released_clips, write_released_index
from humannet.corpus.provenance import PROVENANCE_FILE
from humannet.corpus.reader import Corpus, CorpusReadError, open_corpus
from humannet.engine.state import Ledger
from humannet.records import Clip, Status, Video
from humannet.review.licenses import LicenseInfo, license_table, normalize_license
from humannet.review.policy import REFERENCE, RELEASE, WITHHOLD, ClipReview, Decision, ReleasePolicy, decide
from humannet.storage import atomic_write_bytes, write_parquet

REVIEW_REASON_KEYS = ("unsafe", "quarantined")  # clips dropped by the review, still listed in the manifest

MANIFEST_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("video_id", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("license_raw", pa.string()),
        ("license_spdx", pa.string()),
        ("license_issue", pa.string()),
        ("attribution", pa.string()),
        ("source_url", pa.string()),
        ("unsafe_score", pa.float64()),
        ("pii_flags", pa.list_(pa.string())),
        ("pii_regions_hidden", pa.int64()),
        ("faces_hidden", pa.bool_()),
        ("faces_blurred_frames", pa.int64()),
        ("review_issues", pa.list_(pa.string())),
        ("corpus_status", pa.string()),
        ("decision", pa.string()),
        ("reason", pa.string()),
    ]
)

REFERENCE_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("video_id", pa.string()),
        ("source_url", pa.string()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("start_frame", pa.int64()),
        ("end_frame", pa.int64()),
        ("license_spdx", pa.string()),
        ("reason", pa.string()),
    ]
)


class ReleaseError(HumannetError, RuntimeError):
    """The release cannot be written as asked; the message says why."""


@dataclass
class Candidate:
    clip: Clip
    video: Video
    shard: str | None
    clip_json: dict[str, Any]
    license: LicenseInfo
    decision: Decision


@dataclass
class ReleaseReport:
    policy: str
    summary: dict[str, Any]
    text: str


def source_url(video: Video) -> str | None:
    for key in ("url", "webpage_url", "source_url", "source"):
        value = video.meta.get(key)
        if isinstance(value, str) and re.match(r"https?://", value):
            return value
    return None


def author_of(video: Video) -> str | None:
    for key in ("channel", "uploader", "author", "creator", "artist"):
        value = video.meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raw = video.meta.get("license")
    if isinstance(raw, str):  # "CC BY 4.0; attribution: Intel IoT DevKit sample videos"
        match = re.search(r"attribution:\s*([^;]+)", raw, re.IGNORECASE)
        if match:
            return match.group(1).strip()
    return None


def title_of(video: Video) -> str:
    title = video.meta.get("title")
    return title.strip() if isinstance(title, str) and title.strip() else Path(video.uri).stem


def attribution(video: Video, license: LicenseInfo, changes: list[str]) -> str:
    """Title, author, source, licence (the TASL form CC asks for), and what was changed."""
    parts = [f'"{title_of(video)}"']
    author = author_of(video)
    parts.append(f"by {author}" if author else "author not recorded")
    url = source_url(video)
    if url:
        parts.append(f"({url})")
    text = " ".join(parts) + f", licensed {license.id}"
    if license.url:
        text += f" ({license.url})"
    if changes:
        text += f"; changes: {', '.join(changes)}"
    return text


def _changes(clip_json: dict[str, Any]) -> list[str]:
    changes = ["cut into clips and re-encoded"]
    if clip_json.get("privacy", {}).get("faces_blurred_frames"):
        changes.append("faces blurred")
    if clip_json.get("pii_hidden", {}).get("frames"):
        changes.append("identifying text blurred")
    return changes


def read_clip_jsons(corpus: Corpus, shards: set[str]) -> dict[str, dict[str, Any]]:
    """Every JSON member of the shards by name without `.json` (missing shards are skipped)."""
    out: dict[str, dict[str, Any]] = {}
    for shard in sorted(shards):
        names = [name for name in corpus.shard_members(shard) if name.endswith(".json")]
        for name, data in corpus.read_members(shard, names).items():
            out[name[: -len(".json")]] = json.loads(data)
    return out


def _open_corpus(corpus_dir: Path) -> Corpus:
    if not (corpus_dir / "manifest.json").exists() or not (corpus_dir / "state" / "videos").is_dir():
        raise ReleaseError(
            f"{corpus_dir}: not a finished humannet corpus (no manifest.json or state/); run `humannet curate` first"
        )
    try:
        return open_corpus(corpus_dir)
    except CorpusReadError as exc:
        raise ReleaseError(str(exc)) from exc


def _candidates(corpus: Corpus, policy: ReleasePolicy) -> list[Candidate]:
    corpus_dir = corpus.root
    manifest = corpus.manifest
    ledger = Ledger(corpus_dir)
    videos, _ = ledger.load_videos(manifest["analysis_fingerprint"])
    shard_of = {
        clip_id: f"shards/{name}.tar" for name, record in ledger.load_shards().items() for clip_id in record["clips"]
    }
    clip_jsons = read_clip_jsons(corpus, set(shard_of.values()))
    out = []
    for video in sorted(videos.values(), key=lambda v: v.video_id or ""):
        if video.status is Status.FAILED or video.video_id is None:
            continue
        spdx = video.meta.get("license_spdx")
        license = license_table().get(spdx) if spdx else normalize_license(video.meta.get("license")).license
        for clip in sorted(video.clips, key=lambda c: c.clip_id):
            review_dropped = (
                clip.status is not Status.KEPT and (clip.reason or "").split(":", 1)[0] in REVIEW_REASON_KEYS
            )
            if video.status is not Status.KEPT and not review_dropped:
                continue
            if clip.status is not Status.KEPT and not review_dropped:
                continue
            shard = shard_of.get(clip.clip_id) if clip.status is Status.KEPT else None
            clip_json = clip_jsons.get(clip.clip_id, {})
            review = ClipReview(
                license=license,
                quarantine_reason=clip.reason if review_dropped else None,
                unsafe_score=clip.scores.get("unsafe_score"),
                pii_flags=list(clip.labels.get("pii_flags", [])),
                pii_hidden=bool(clip_json.get("pii_hidden", {}).get("regions")),
                faces_hidden=clip_json.get("privacy", {}).get("method") in ("blur", "pixelate", "box"),
                review_issues=list(clip.labels.get("review_issues", [])),
                reviewed_by=frozenset(video.stamps),
                has_media=shard is not None,
            )
            out.append(Candidate(clip, video, shard, clip_json, license, decide(policy, review)))
    return out


def write_release(corpus_dir: Path, out_dir: Path, config: Config, policy_name: str) -> ReleaseReport:
    if policy_name not in config.review.policies:
        known = ", ".join(sorted(config.review.policies))
        raise ReleaseError(
            f"no release policy {policy_name!r} (configured: {known}); add one as [review.policies.{policy_name}]"
        )
    policy = config.review.policies[policy_name]
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ReleaseError(f"{out_dir} exists and is not empty; write a release to a new folder")
    if out_dir.resolve() == corpus_dir.resolve():
        raise ReleaseError("the release folder must not be the corpus folder")
    corpus = _open_corpus(corpus_dir)
    candidates = _candidates(corpus, policy)
    out_dir.mkdir(parents=True, exist_ok=True)
    released = [
        ReleasedClip(c.clip.clip_id, c.shard, json.dumps(released_clip_json(c), sort_keys=True, default=str).encode())
        for c in candidates
        if c.decision.decision == RELEASE and c.shard is not None
    ]
    new_shard = copy_released_clips(
        corpus, out_dir, released, config.corpus.shard_max_clips, config.corpus.shard_max_mb * 1e6
    )
    write_released_index(corpus, out_dir, new_shard)
    _write_references(out_dir, [c for c in candidates if c.decision.decision == REFERENCE])
    _write_videos(corpus_dir, out_dir, candidates)
    write_card(out_dir)
    write_parquet(
        out_dir / "release_manifest.parquet",
        pa.Table.from_pylist([_manifest_row(c) for c in candidates], schema=MANIFEST_SCHEMA),
    )
    atomic_write_bytes(out_dir / "ATTRIBUTION.md", attribution_markdown(candidates, policy_name).encode())
    if (corpus_dir / PROVENANCE_FILE).exists():
        shutil.copyfile(corpus_dir / PROVENANCE_FILE, out_dir / PROVENANCE_FILE)
    summary = release_summary(candidates, policy_name, policy, corpus_dir)
    text = format_summary(summary)
    atomic_write_bytes(out_dir / "release_summary.json", json.dumps(summary, indent=2).encode())
    atomic_write_bytes(out_dir / "SUMMARY.md", (text + "\n").encode())
    return ReleaseReport(policy_name, summary, text)


def _manifest_row(c: Candidate) -> dict[str, Any]:
    privacy = c.clip_json.get("privacy", {})
    return {
        "clip_id": c.clip.clip_id,
        "video_id": c.clip.video_id,
        "start_s": c.clip.start_s,
        "end_s": c.clip.end_s,
        "duration_s": c.clip.duration_s,
        "license_raw": _text(c.video.meta.get("license")),
        "license_spdx": c.license.id,
        "license_issue": c.clip.labels.get("license_issue"),
        "attribution": attribution(c.video, c.license, _changes(c.clip_json)),
        "source_url": source_url(c.video),
        "unsafe_score": c.clip.scores.get("unsafe_score"),
        "pii_flags": list(c.clip.labels.get("pii_flags", [])),
        "pii_regions_hidden": c.clip_json.get("pii_hidden", {}).get("regions", 0),
        "faces_hidden": privacy.get("method") in ("blur", "pixelate", "box"),
        "faces_blurred_frames": privacy.get("faces_blurred_frames"),
        "review_issues": list(c.clip.labels.get("review_issues", [])),
        "corpus_status": c.clip.status.value,
        "decision": c.decision.decision,
        "reason": c.decision.reason or None,
    }


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value, default=str)


def released_clip_json(c: Candidate) -> dict[str, Any]:
    """The corpus JSON with the current review results and licence, the attribution, and no local path."""
    data = dict(c.clip_json)
    data.pop("source_uri", None)
    data["scores"] = dict(sorted(c.clip.scores.items()))
    data["labels"] = dict(sorted(c.clip.labels.items()))
    for key in ("unsafe", "pii"):
        data.pop(key, None)
    data.update(c.clip.details)
    data["license_spdx"] = c.license.id
    data["license_terms"] = c.license.terms.to_dict()
    data["source_url"] = source_url(c.video)
    data["attribution"] = attribution(c.video, c.license, _changes(c.clip_json))
    return data


def _write_references(out_dir: Path, references: list[Candidate]) -> None:
    rows = [
        {
            "clip_id": c.clip.clip_id,
            "video_id": c.clip.video_id,
            "source_url": source_url(c.video),
            "title": title_of(c.video),
            "author": author_of(c.video),
            "start_s": c.clip.start_s,
            "end_s": c.clip.end_s,
            "start_frame": c.clip.start_frame,
            "end_frame": c.clip.end_frame,
            "license_spdx": c.license.id,
            "reason": c.decision.reason,
        }
        for c in references
    ]
    write_parquet(out_dir / "references.parquet", pa.Table.from_pylist(rows, schema=REFERENCE_SCHEMA))


def _write_videos(corpus_dir: Path, out_dir: Path, candidates: list[Candidate]) -> None:
    shipped = {c.video.video_id: c.video for c in candidates if c.decision.decision != WITHHOLD}
    table = pq.read_table(corpus_dir / "videos.parquet")
    table = table.filter(pc.is_in(table["video_id"], value_set=pa.array(sorted(shipped), type=pa.string())))
    ids = table["video_id"].to_pylist()
    table = table.drop_columns([name for name in ("uri",) if name in table.column_names])  # local paths stay in the lab
    for name, values in (
        ("source_url", [source_url(shipped[i]) for i in ids]),
        ("author", [author_of(shipped[i]) for i in ids]),
    ):
        if name in table.column_names:  # the corpus may already carry it from the collection sidecar
            table = table.drop_columns([name])
        table = table.append_column(name, pa.array(values, type=pa.string()))
    write_parquet(out_dir / "videos.parquet", table)


def attribution_markdown(candidates: list[Candidate], policy_name: str) -> str:
    by_video: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.decision.decision != WITHHOLD:
            by_video[c.video.video_id or ""].append(c)
    lines = [
        "# Attribution",
        "",
        f"This release (policy `{policy_name}`) contains clips cut from the videos below, or references to them.",
        "The copyright in each video stays with its owner; each is used under the licence named here.",
        "Clips were cut, re-encoded and had faces (and flagged on-screen text) blurred: they are adaptations.",
        "",
        "| video | title | author | source | licence | clips | shipped as |",
        "|---|---|---|---|---|---|---|",
    ]
    for video_id in sorted(by_video):
        group = by_video[video_id]
        video, license = group[0].video, group[0].license
        licence_text = f"[{license.id}]({license.url})" if license.url else license.id
        kinds = ", ".join(sorted({c.decision.decision for c in group}))
        cells = [
            video_id,
            _cell(title_of(video)),
            _cell(author_of(video) or "not recorded"),
            _cell(source_url(video) or "not recorded"),
            licence_text,
        ]
        lines.append("| " + " | ".join([*cells, str(len(group)), kinds]) + " |")
    if not by_video:
        lines.append("| (no video shipped) | | | | | | |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def release_summary(
    candidates: list[Candidate], policy_name: str, policy: ReleasePolicy, corpus_dir: Path
) -> dict[str, Any]:
    def tally(items: list[Candidate]) -> dict[str, Any]:
        return {"clips": len(items), "hours": round(sum(c.clip.duration_s for c in items) / 3600, 6)}

    decisions = {
        name: tally([c for c in candidates if c.decision.decision == name]) for name in (RELEASE, REFERENCE, WITHHOLD)
    }
    reasons: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.decision.decision != RELEASE:
            reasons[f"{c.decision.decision}: {c.decision.reason.split(':', 1)[0]}"].append(c)
    licences: dict[str, Counter[str]] = defaultdict(Counter)
    for c in candidates:
        licences[c.license.id][c.decision.decision] += 1
    details = Counter(
        f"{c.decision.decision}: {c.decision.reason}" for c in candidates if c.decision.decision != RELEASE
    )
    return {
        "policy": policy_name,
        "policy_settings": policy.model_dump(mode="json"),
        "corpus": str(corpus_dir),
        "clips_considered": len(candidates),
        "decisions": decisions,
        "not_released_by_reason": {key: tally(items) for key, items in sorted(reasons.items())},
        "not_released_details": dict(details.most_common()),
        "by_license": {key: dict(sorted(counts.items())) for key, counts in sorted(licences.items())},
    }


def format_summary(summary: dict[str, Any]) -> str:
    d = summary["decisions"]
    lines = [
        f"release under policy '{summary['policy']}': {summary['clips_considered']} clips considered",
        f"  released (media):  {d[RELEASE]['clips']} clips, {d[RELEASE]['hours']:.4f} h",
        f"  references only:   {d[REFERENCE]['clips']} clips, {d[REFERENCE]['hours']:.4f} h",
        f"  withheld:          {d[WITHHOLD]['clips']} clips, {d[WITHHOLD]['hours']:.4f} h",
    ]
    if summary["not_released_by_reason"]:
        lines.append("not released, by reason:")
        for key, tally in summary["not_released_by_reason"].items():
            lines.append(f"  {key}: {tally['clips']} clips, {tally['hours']:.4f} h")
        lines.append("details:")
        for text, count in summary["not_released_details"].items():
            lines.append(f"  {count} x {text}")
    lines.append("by licence: " + "; ".join(f"{key} {dict(counts)}" for key, counts in summary["by_license"].items()))
    return "\n".join(lines)
