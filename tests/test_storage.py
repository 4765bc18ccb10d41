"""Atomic local writes: a file or folder appears whole, or not at all."""

from __future__ import annotations

import pytest

from humannet.storage import atomic_output, atomic_write_bytes


def test_atomic_output_renames_a_whole_file_or_folder_into_place(tmp_path):
    target = tmp_path / "deep" / "data.bin"
    with atomic_output(target) as temp:
        assert temp.parent == target.parent and temp.name.startswith(".") and temp.name.endswith(".part")
        temp.write_bytes(b"first")
        assert not target.exists()  # readers see nothing until the block ends
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    folder = tmp_path / "export"
    folder.mkdir()  # an empty folder is replaced
    with atomic_output(folder) as temp:
        (temp / "meta").mkdir(parents=True)
        (temp / "meta" / "info.json").write_text("{}")
    assert (folder / "meta" / "info.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "export"]


def test_atomic_output_leaves_the_old_file_and_no_temporary_when_the_block_fails(tmp_path):
    target = tmp_path / "index.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "folder") as temp:
        (temp / "sub").mkdir(parents=True)
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.parquet"]
