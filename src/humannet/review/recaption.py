"""`humannet recaption CORPUS`: caption again, once the VLM server is back, the clips whose VLM caption failed.

A clip the VLM gave no caption keeps the template's, marked `caption_backend = 'template (vlm failed)'`
(captions/annotators.py). This finds those clips in the ledger, reads each back from its shard into a scratch
folder as materialisation staged it (mp4, side files, and its JSON as the staged meta), and runs the
caption annotator on it with the settings given. Then, shard by shard, it rewrites the shard with the
new clip JSON (every other member's bytes as they were) and commits the new columns to the ledger;
at the end the index, provenance and caption trees are rewritten from the ledger, as `humannet review`
does (review/rerun.py). Every other clip, and every shard without a marked clip, stays as it is.

A clip whose VLM fails again stays marked, with the new reason. A run killed part-way leaves each shard
either old or new, and the ledger says which clips are still marked, so running the command again asks
only for those (the VLM answer cache makes the ones already answered free).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humannet import HumannetError
from humannet.annotate.clip_annotator import META_SUFFIX, StagedClip, annotate_clip, read_staged_meta
from humannet.captions.annotators import VLM_FAILED, CaptionAnnotator
from humannet.captions.tree import remember_caption, write_caption_trees
from humannet.corpus.provenance import Producer
from humannet.corpus.reader import Corpus, open_unchecked
from humannet.corpus.writer import write_shard
from humannet.engine.state import Ledger
from humannet.media.probe import probe_video
from humannet.records import Clip, ItemError, Status, Video
from humannet.review.rerun import analysed_videos, rewrite_index
from humannet.storage import scratch_root

STAGED_KEYS = ("index", "annotation_errors", "annotators")  # what annotate_clip writes into the staged meta


class RecaptionError(HumannetError, RuntimeError):
    """The corpus cannot be captioned again as asked; the message says why and what to do."""


@dataclass
class RecaptionRun:
    marked: int = 0
    recaptioned: int = 0
    shards: list[str] = field(default_factory=list)  # the shards rewritten
    still_failing: dict[str, str] = field(default_factory=dict)  # clip_id -> why the VLM failed again

    def format(self) -> str:
        if not self.marked:
            return f"nothing to re-caption: no clip has caption_backend '{VLM_FAILED}'"
        lines = [
            f"re-captioned {self.recaptioned} of {self.marked} clip(s) marked '{VLM_FAILED}'; "
            f"still failing: {len(self.still_failing)}; shards rewritten: {len(self.shards)}"
        ]
        lines += [f"  {clip_id}: {reason}" for clip_id, reason in sorted(self.still_failing.items())]
        if self.still_failing:
            lines.append("run `humannet recaption` again once the server answers: it asks only for these")
        return "\n".join(lines)


def recaption(corpus_dir: Path, config: Any, fingerprint: str, producers: list[Producer]) -> RecaptionRun:
    """Caption the marked clips of the corpus again with `config`'s VLM and rewrite what holds their captions.

    `fingerprint` is the analysis fingerprint the corpus's ledger must carry and `producers` those of its index
    columns, both from the catalogue (`stages.py`), as for `humannet review`.
    """
    ledger = Ledger(corpus_dir)
    videos = analysed_videos(corpus_dir, ledger, fingerprint, config.dedup)
    shard_clips = {name: record["clips"] for name, record in ledger.load_shards().items()}
    shard_of = {clip_id: f"shards/{name}.tar" for name, clips in shard_clips.items() for clip_id in clips}
    marked = {
        clip.clip_id: (clip, video)
        for video in videos.values()
        if video.status is Status.KEPT
        for clip in video.kept_clips
        if clip.labels.get("caption_backend") == VLM_FAILED and clip.clip_id in shard_of
    }
    run = RecaptionRun(marked=len(marked))
    if not marked:
        return run
    captions = config.captions
    if not captions.enabled or captions.backend != "openai":
        raise RecaptionError(
            f"{len(marked)} clip(s) are marked '{VLM_FAILED}', but the captioner configured is "
            f"{'off' if not captions.enabled else repr(captions.backend)}: it would give them the template caption "
            "they have. Caption them with the VLM: --set captions.backend=openai (and captions.openai.base_url=...)"
        )
    annotator = CaptionAnnotator(captions)
    annotator.setup()
    stamp = {annotator.name: annotator.stamp(config)}
    corpus = open_unchecked(corpus_dir)
    for name, clip_ids in sorted(shard_clips.items()):
        todo = [marked[clip_id] for clip_id in clip_ids if clip_id in marked]
        if not todo:
            continue
        shard = f"shards/{name}.tar"
        new_json = _caption_again(corpus, shard, todo, annotator, stamp, corpus_dir, run)
        write_shard(corpus_dir / shard, _members_with(corpus, shard, clip_ids, new_json))
        run.shards.append(shard)
        for video in {video.uri: video for _, video in todo}.values():
            ledger.commit_video(video, fingerprint)
    everything = list(videos.values())
    rewrite_index(corpus_dir, everything, shard_of, producers)
    write_caption_trees(corpus_dir, everything)
    return run


def _caption_again(
    corpus: Corpus,
    shard: str,
    todo: list[tuple[Clip, Video]],
    annotator: CaptionAnnotator,
    stamp: dict[str, str],
    corpus_dir: Path,
    run: RecaptionRun,
) -> dict[str, bytes]:
    """The new `{clip_id}.json` of each clip, by clip ID; the records in `todo` gain their new columns and errors."""
    out: dict[str, bytes] = {}
    old: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="recaption-", dir=scratch_root()) as scratch:
        folder = Path(scratch)
        for clip, _ in todo:  # all of them first: the annotator sends a video's staged clips to the VLM at once
            for member, data in corpus.clip_members(shard, clip.clip_id).items():
                if member == f"{clip.clip_id}.json":  # without its stamps, so the annotator counts it as to do
                    old[clip.clip_id] = json.loads(data)
                    meta = {k: v for k, v in old[clip.clip_id].items() if k not in STAGED_KEYS}
                    (folder / f"{clip.clip_id}.{META_SUFFIX}").write_text(json.dumps(meta))
                else:
                    (folder / member).write_bytes(data)
        for clip, video in todo:
            mp4 = folder / f"{clip.clip_id}.mp4"
            probe = probe_video(str(mp4))
            staged = StagedClip(clip, video, mp4, probe.width, probe.height, probe.fps, stamps=stamp)
            annotate_clip(staged, [annotator], stamp)
            result = read_staged_meta(mp4, clip.clip_id)
            out[clip.clip_id] = json.dumps(_merged(old[clip.clip_id], result), sort_keys=True).encode()
            _update_record(clip, video, result)
            remember_caption(corpus_dir, clip.clip_id, result)
            if clip.labels.get("caption_backend") == VLM_FAILED:
                run.still_failing[clip.clip_id] = (result.get("caption") or {}).get("fallback_reason") or "no caption"
            else:
                run.recaptioned += 1
    return out


def _merged(old: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The clip's JSON with the caption annotator's new output; what other annotators wrote stays."""
    merged = {**old, **{key: value for key, value in result.items() if key not in STAGED_KEYS}}
    index = result.get("index", {})
    merged["labels"] = dict(sorted({**old.get("labels", {}), **index.get("labels", {})}.items()))
    merged["scores"] = dict(sorted({**old.get("scores", {}), **index.get("scores", {})}.items()))
    mine = f"{CaptionAnnotator.name}: "
    others = [message for message in old.get("annotation_errors", []) if not message.startswith(mine)]
    merged["annotation_errors"] = others + result.get("annotation_errors", [])
    merged["annotators"] = {**old.get("annotators", {}), **result.get("annotators", {})}
    return merged


def _update_record(clip: Clip, video: Video, result: dict[str, Any]) -> None:
    """The ledger's copy of the clip: new index columns, and the caption errors of this run in place of the old."""
    index = result.get("index", {})
    clip.labels.update(index.get("labels", {}))
    clip.scores.update(index.get("scores", {}))
    prefix = f"{clip.clip_id}: "
    video.errors = [e for e in video.errors if not (e.stage == CaptionAnnotator.name and e.message.startswith(prefix))]
    for message in result.get("annotation_errors", []):
        stage, _, detail = message.partition(": ")
        video.errors.append(ItemError(stage=stage, type="AnnotationError", message=f"{prefix}{detail}"))


def _members_with(
    corpus: Corpus, shard: str, clip_ids: list[str], new_json: dict[str, bytes]
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """The shard's clips in their order, each with its files as they are but for the new JSON."""
    for clip_id in clip_ids:
        files = corpus.clip_members(shard, clip_id)
        if clip_id in new_json:
            files[f"{clip_id}.json"] = new_json[clip_id]
        yield clip_id, files
