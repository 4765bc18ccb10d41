"""The one shard writer: rollover, member order, fixed headers, and nothing half-written."""

from __future__ import annotations

import tarfile

import pytest

from humannet.corpus.writer import pack_shards, write_shard


def test_pack_shards_rolls_over_by_clip_count_and_by_size():
    assert pack_shards(list(range(5)), lambda _: 1, max_clips=2, max_bytes=100) == [[0, 1], [2, 3], [4]]
    # the size is checked before each clip: the clip that crosses the limit stays in its shard
    assert pack_shards([5, 5, 1, 1], float, max_clips=10, max_bytes=6) == [[5, 5], [1, 1]]
    assert pack_shards([], float, max_clips=10, max_bytes=6) == []


def test_write_shard_orders_members_and_gives_the_same_bytes_every_time(tmp_path):
    clips = [
        ("a", {"a.json": b"{}", "a.mp4": b"video a"}),
        ("b", {"b.pose.npz": b"p", "b.json": b"{}", "b.mp4": b"video b", "b.camera.npz": b"c"}),
    ]
    write_shard(tmp_path / "one.tar", clips)
    write_shard(tmp_path / "two.tar", iter(clips))
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    with tarfile.open(tmp_path / "one.tar") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["a.mp4", "a.json", "b.mp4", "b.json", "b.camera.npz", "b.pose.npz"]
        assert {(m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0o644, 0, 0, "", "")}
        assert tar.extractfile("b.mp4").read() == b"video b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.tar", "two.tar"]  # no temporary left behind


def test_a_shard_whose_clips_fail_to_read_is_not_written(tmp_path):
    def clips():
        yield "a", {"a.mp4": b"video a"}
        raise OSError("staged clip vanished")

    with pytest.raises(OSError, match="vanished"):
        write_shard(tmp_path / "shards" / "shard-000000.tar", clips())
    assert list((tmp_path / "shards").iterdir()) == []
