"""Copy released clips into a release folder: new shards holding only them, and their index rows pointing there.

Which clips are released, and the JSON each one ships with, is decided in `review/release.py`;
this module only copies, through the corpus reader and the one shard writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from humannet.corpus.reader import Corpus
from humannet.corpus.writer import pack_shards, shard_name, write_shard
from humannet.storage import write_parquet


@dataclass(frozen=True)
class ReleasedClip:
    clip_id: str
    shard: str  # where its files are in the source corpus
    clip_json: bytes  # the JSON it ships with, in place of the corpus's


def copy_released_clips(
    corpus: Corpus, out_dir: Path, clips: list[ReleasedClip], max_clips: int, max_bytes: float
) -> dict[str, str]:
    """The clips repacked in clip-ID order with their video and side files (JSON side files stay behind);
    returns clip_id -> new shard. OSError or tarfile.TarError when a source shard is missing or unreadable."""
    ordered = sorted(clips, key=lambda c: c.clip_id)
    size = {c.clip_id: sum(span[1] for span in _shipped(corpus, c, strict=True).values()) for c in ordered}
    new_shard: dict[str, str] = {}
    for number, group in enumerate(pack_shards(ordered, lambda c: size[c.clip_id], max_clips, max_bytes)):
        name = shard_name(number)
        write_shard(out_dir / name, ((c.clip_id, _files(corpus, c)) for c in group))
        new_shard.update(dict.fromkeys((c.clip_id for c in group), name))
    return new_shard


def _shipped(corpus: Corpus, clip: ReleasedClip, strict: bool = False) -> dict[str, tuple[int, int]]:
    """The clip's members that ship as they are: all but JSON files (the clip's JSON is rewritten)."""
    prefix = f"{clip.clip_id}."
    members = corpus.shard_members(clip.shard, strict)
    return {name: span for name, span in members.items() if name.startswith(prefix) and not name.endswith(".json")}


def _files(corpus: Corpus, clip: ReleasedClip) -> dict[str, bytes]:
    files = corpus.read_members(clip.shard, _shipped(corpus, clip))
    files[f"{clip.clip_id}.json"] = clip.clip_json
    return files


def write_released_index(corpus: Corpus, out_dir: Path, new_shard: dict[str, str]) -> None:
    """The released clips' index rows, `shard` pointing into the release."""
    table = corpus.read("clips")
    table = table.filter(pc.is_in(table["clip_id"], value_set=pa.array(sorted(new_shard), type=pa.string())))
    shards = pa.array([new_shard[clip_id] for clip_id in table["clip_id"].to_pylist()], type=pa.string())
    table = table.set_column(table.schema.get_field_index("shard"), "shard", shards)
    write_parquet(out_dir / "clips" / "part-00000.parquet", table)
