"""The corpus as the Hugging Face `datasets` package sees it (the real package, offline): the dataset card steers
`load_dataset(corpus)` to the clip index, and the shards load as WebDataset when only some videos have a title or a
licence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
datasets = pytest.importorskip("datasets")

from humannet.corpus.writer import clip_metadata, shard_name, write_index, write_shard  # noqa: E402
from humannet.records import Clip, Video  # noqa: E402

MP4 = b"\x00\x00\x00\x18ftypmp42"  # the loader keeps mp4 members as bytes; no decoding here


def videos_with_clips(clips_per_video: list[int], titled: set[int]) -> list[Video]:
    """Videos `v0`, `v1`, ... with that many clips each; only the `titled` ones have a title and a licence (as from a
    `uri,license,title` list where some rows leave them empty)."""
    videos = []
    for v, count in enumerate(clips_per_video):
        meta = {"title": f"video {v}", "license": "CC BY 4.0"} if v in titled else {}
        video = Video(uri=f"/in/v{v}.mp4", meta=meta, video_id=f"v{v}")
        video.clips = [
            Clip(Clip.make_id(video.video_id, 10 * c, 10 * c + 10), video.video_id, c, c + 1, 10 * c, 10 * c + 10, 0)
            for c in range(count)
        ]
        videos.append(video)
    return videos


def write_corpus(root: Path, videos: list[Video]) -> list[str]:
    """Shards and index as curate writes them, plus the JSON files that make `datasets` guess its JSON builder."""
    shard = shard_name(0)
    members = []
    for video in videos:
        for clip in video.clips:
            clip.shard = shard
            members.append((clip.clip_id, {f"{clip.clip_id}.mp4": MP4, f"{clip.clip_id}.json": _json(clip, video)}))
    write_shard(root / shard, members)
    write_index(root, videos)
    (root / "manifest.json").write_text(json.dumps({"format_version": 1, "counts": {"shards": 1}}))
    (root / "state" / "videos").mkdir(parents=True)
    (root / "state" / "videos" / "0123.json").write_text(json.dumps({"uri": "/in/v0.mp4"}))
    return [clip_id for clip_id, _ in members]


def _json(clip: Clip, video: Video) -> bytes:
    return json.dumps(clip_metadata(clip, video), sort_keys=True).encode()


def test_shards_load_as_webdataset_when_only_later_clips_have_a_title(tmp_path):
    """Features are inferred from the first five clips: untitled ones there, a titled one after, must still load."""
    clip_ids = write_corpus(tmp_path / "corpus", videos_with_clips([6, 1], titled={1}))
    shards = [str(tmp_path / "corpus" / shard_name(0))]
    rows = datasets.load_dataset("webdataset", data_files=shards, split="train", cache_dir=str(tmp_path / "hf"))
    assert rows["__key__"] == clip_ids
    assert [(r["title"], r["license"]) for r in rows["json"]] == [("", "")] * 6 + [("video 1", "CC BY 4.0")]


def test_the_card_makes_load_dataset_read_the_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    clip_ids = write_corpus(corpus, videos_with_clips([2, 3], titled={0}))
    cache = str(tmp_path / "hf")
    clips = datasets.load_dataset(str(corpus), split="train", cache_dir=cache)
    assert clips["clip_id"] == clip_ids and clips.to_list() == pq.read_table(corpus / "clips").to_pylist()
    videos = datasets.load_dataset(str(corpus), "videos", split="train", cache_dir=cache)
    assert videos["video_id"] == ["v0", "v1"] and videos["title"] == ["video 0", None]
    card = (corpus / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n") and "dataset_info:" in card
    declared = datasets.load_dataset_builder(str(corpus), cache_dir=cache).info.features
    assert declared == datasets.Features.from_arrow_schema(pq.read_schema(corpus / "clips" / "part-00000.parquet"))
