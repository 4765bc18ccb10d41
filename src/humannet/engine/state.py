"""The resume ledger: what is finished, committed one small file at a time.

Each finished video is one JSON file under `state/videos/`, written to a temporary name,
flushed and renamed, so a file is either complete or absent whatever moment the process is
killed. Each finished shard is recorded the same way under `state/shards/` after its tar has
been renamed into place. A rerun reads these files and skips what they cover.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from humannet.records import Video
from humannet.storage import atomic_write_bytes, uri_key


class Ledger:
    """`publish` is called with each record's path relative to the corpus once it is written (a remote corpus pushes
    it)."""

    def __init__(self, corpus_dir: Path, publish: Callable[[str], None] | None = None) -> None:
        self.corpus_dir = corpus_dir
        self.publish = publish
        self.root = corpus_dir / "state"
        self.videos_dir = self.root / "videos"
        self.shards_dir = self.root / "shards"
        self.staging_dir = self.root / "staging"

    def commit_video(self, video: Video, analysis_hash: str) -> None:
        record = {"analysis_hash": analysis_hash, "video": video.to_dict()}
        self._write(self.videos_dir / f"{uri_key(video.uri)}.json", json.dumps(record).encode())

    def load_videos(self, analysis_hash: str) -> tuple[dict[str, Video], int]:
        """Finished videos by URI whose analysis settings match; and how many were stale."""
        videos: dict[str, Video] = {}
        stale = 0
        if not self.videos_dir.is_dir():
            return videos, stale
        for path in sorted(self.videos_dir.glob("*.json")):
            record = json.loads(path.read_text())
            if record["analysis_hash"] != analysis_hash:
                stale += 1
                continue
            video = Video.from_dict(record["video"])
            videos[video.uri] = video
        return videos, stale

    def commit_shard(
        self, name: str, clip_ids: list[str], uris: list[str], write_fingerprint: str | None = None
    ) -> None:
        """`write_fingerprint`: the clip settings the shard was written with (curate.write_fingerprint)."""
        record = {"shard": name, "clips": clip_ids, "uris": uris, "write_fingerprint": write_fingerprint}
        self._write(self.shards_dir / f"{name}.json", json.dumps(record).encode())

    def _write(self, path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data)
        if self.publish is not None:
            self.publish(path.relative_to(self.corpus_dir).as_posix())

    def load_shards(self) -> dict[str, dict[str, Any]]:
        if not self.shards_dir.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.shards_dir.glob("*.json"))}

    def staging_for(self, video_id: str) -> Path:
        return self.staging_dir / video_id


def uris_in_shards(shards: dict[str, dict[str, Any]], videos: dict[str, Video]) -> set[str]:
    """The inputs whose clips are in shards (deduplication keeps them whatever comes later); a file replaced in place
    keeps its URI in its old shards, not its clips."""
    found: set[str] = set()
    for record in shards.values():
        packed = set(record["clips"])
        for uri in record["uris"]:
            if uri in videos and any(clip.clip_id in packed for clip in videos[uri].clips):
                found.add(uri)
    return found
