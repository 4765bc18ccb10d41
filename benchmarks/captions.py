"""Measurements on a finished corpus: caption-schema validity and taxonomy agreement with hand
labels (the accuracy benchmark), and the default captioner's cost per clip (the throughput benchmark).

Both read only the corpus: the clip index and the clip JSONs and keypoint tracks in the shards.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import ValidationError

from humannet.annotate.clip_annotator import StagedClip
from humannet.captions.annotators import CaptionAnnotator, CaptionConfig, TaxonomyAnnotator
from humannet.captions.embeddings import TextEmbedder
from humannet.captions.schema import Caption
from humannet.captions.taxonomy import load_taxonomy
from humannet.corpus.reader import open_unchecked
from humannet.records import Clip, Video


def shard_clips(corpus: Path) -> Iterator[dict[str, bytes]]:
    """Members of each clip in the corpus's shards, by suffix ("json", "mp4", "pose.npz", ...)."""
    reader = open_unchecked(corpus)
    for shard in reader.shards():
        by_clip: dict[str, list[str]] = {}
        for name in reader.shard_members(shard, strict=True):
            by_clip.setdefault(name.partition(".")[0], []).append(name)
        for names in by_clip.values():
            yield {name.partition(".")[2]: data for name, data in reader.read_members(shard, names).items()}


def evaluate_captions(corpus: Path, labels_path: Path, environments: dict[str, str]) -> dict[str, Any]:
    """Per labelled video (majority over its clips): taxonomy viewpoint vs `view`, caption people
    (`subjects.min_count` >= 1) vs `people`, environment label vs `environments[file]`; and the share
    of clip captions that validate against the caption schema."""
    labels = json.loads(labels_path.read_text())["clips"]
    videos = {
        row["video_id"]: Path(row["uri"]).name
        for row in pq.read_table(corpus / "videos.parquet").to_pylist()
        if row["video_id"]
    }
    per_video: dict[str, list[dict[str, Any]]] = {}
    valid = total = 0
    invalid: list[str] = []
    for members in shard_clips(corpus):
        record = json.loads(members["json"])
        total += 1
        try:
            caption = Caption.model_validate(record.get("caption"))
            valid += 1
        except ValidationError as exc:
            invalid.append(f"{record['clip_id']}: {exc.errors()[0]['msg']}")
            caption = None
        per_video.setdefault(videos.get(record["video_id"], record["video_id"]), []).append(
            {"record": record, "caption": caption}
        )
    view, people, environment = Counter(), Counter(), Counter()
    misses: list[str] = []
    for name, clips in sorted(per_video.items()):
        truth = labels.get(name)
        if truth is None:
            continue
        views = [_viewpoint(c["record"]) for c in clips]
        predicted_view = Counter(views).most_common(1)[0][0]
        view[(truth["view"], predicted_view)] += 1
        if truth["view"] != predicted_view:
            misses.append(f"{name}: view {truth['view']} -> {predicted_view}")
        seen = Counter(bool(c["caption"] and c["caption"].subjects.min_count >= 1) for c in clips).most_common(1)[0][0]
        people[(bool(truth["people"]), seen)] += 1
        if seen != bool(truth["people"]):
            misses.append(f"{name}: people {truth['people']} -> {seen}")
        if name in environments:
            labelled = [
                t["path"].split("/")
                for c in clips
                for t in c["record"].get("taxonomy", [])
                if t["axis"] == "environment"
            ]
            hit = any(environments[name] in path for path in labelled)
            environment["agree" if hit else ("disagree" if labelled else "no label")] += 1
            if not hit:
                misses.append(
                    f"{name}: environment {environments[name]} -> {sorted({p[-1] for p in labelled}) or 'none'}"
                )
    return {
        "clips": total,
        "caption_schema_valid": valid,
        "caption_schema_validity": valid / total if total else None,
        "invalid": invalid,
        "viewpoint": {f"{t}->{p}": n for (t, p), n in sorted(view.items())},
        "viewpoint_agreement": sum(n for (t, p), n in view.items() if t == p) / max(1, sum(view.values())),
        "people": {f"people={t} caption={p}": n for (t, p), n in sorted(people.items())},
        "people_agreement": sum(n for (t, p), n in people.items() if t == p) / max(1, sum(people.values())),
        "environment": dict(environment),
        "misses": misses,
    }


def _viewpoint(record: dict[str, Any]) -> str:
    return next(
        (t["label"] for t in record.get("taxonomy", []) if t["axis"] == "viewpoint" and t["label"] in ("ego", "exo")),
        "none",
    )


def measure_caption_throughput(corpus: Path, config: CaptionConfig | None = None) -> dict[str, Any]:
    """Re-run the taxonomy and template caption annotators on every clip in the shards, timing each
    (model loading is timed apart: it happens once per worker)."""
    config = (config or CaptionConfig()).model_copy(update={"backend": "template"})
    embedder = TextEmbedder()
    started = time.perf_counter()
    embedder.encode(["warm up"])
    load_s = time.perf_counter() - started
    taxonomy = load_taxonomy()
    labeller, captioner = TaxonomyAnnotator(config, embedder, taxonomy), CaptionAnnotator(config, embedder, taxonomy)
    videos: dict[str, Video] = {}
    timings: list[float] = []
    with tempfile.TemporaryDirectory(prefix="humannet-captions-") as scratch:
        for members in shard_clips(corpus):
            record = json.loads(members["json"])
            clip = Clip(
                record["clip_id"],
                record["video_id"],
                record["start_s"],
                record["end_s"],
                record["start_frame"],
                record["end_frame"],
                record["scene_index"],
                scores=dict(record.get("scores", {})),
                labels=dict(record.get("labels", {})),
            )
            video = videos.setdefault(
                record["video_id"],
                Video(uri=record["source_uri"], video_id=record["video_id"], meta={"title": record.get("title")}),
            )
            mp4 = Path(scratch) / f"{clip.clip_id}.mp4"
            mp4.write_bytes(members.get("mp4", b""))
            files = {suffix: data for suffix, data in members.items() if suffix not in ("mp4", "json")}
            staged = StagedClip(clip=clip, video=video, mp4=mp4, width=0, height=0, fps=0.0, files=files)
            begin = time.perf_counter()
            staged.metadata.update(labeller.annotate(staged).metadata)
            captioner.annotate(staged)
            timings.append(time.perf_counter() - begin)
    return {
        "clips": len(timings),
        "ms_per_clip": 1000 * sum(timings) / len(timings) if timings else None,
        "ms_per_clip_max": 1000 * max(timings) if timings else None,
        "model_load_s": load_s,
        "method": (
            "taxonomy + template caption annotators re-run on the shards' clips in one process, model load timed apart"
        ),
    }
