"""Object storage (s3://, gs://, az://, ... through fsspec) for inputs and corpora.

Decoders and encoders want local files, so remote data is used through local copies:
- an input video is downloaded to a scratch file for the worker that processes it, and
  deleted when the worker is done with it;
- a corpus on a store is worked on in a local working folder (`RemoteCorpus`): the ledger
  is pulled at the start of a run; every ledger record, shard, index file and the manifest
  is pushed as soon as it is written locally, so a killed run resumes from the store alone;
- workers stage clips in a scratch folder and push them to `state/staging/` on the store,
  where the driver pulls them to pack shards.

Each store write is a single whole-object PUT, which object stores make atomic, so the
all-or-nothing guarantee of local renames carries over. Credentials and endpoints come from
fsspec's usual sources (environment, config files) plus `storage.options`.

Local files appear whole or not at all: every writer goes through `atomic_output` (or
`atomic_write_bytes`), which writes beside the target under a hidden temporary name, flushes
it to disk and renames it into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import stat
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class StorageConfig(BaseModel, extra="forbid"):
    options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            'fsspec storage options for remote inputs and corpora, e.g. {endpoint_url = "http://127.0.0.1:9000"} '
            "for an S3-compatible server."
        ),
    )
    scratch_dir: str | None = Field(
        None,
        description=(
            "Local folder for working copies of remote videos and corpora; unset = the system temporary folder."
        ),
    )


class atomic_output:  # lower case, like contextlib's context-manager classes
    """A temporary path beside `path` to write a file or a folder at, renamed into place when the block ends well.

    Readers see the old `path` (or none) or the whole new one, never a part. The temporary name is
    hidden (a leading dot) and ends in `.part`, so folder scans skip it and a killed run's leftover
    is recognisable; it is removed when the block raises. A folder may replace an empty folder.
    A writer that outlives one block (an encoder open across calls) calls `commit` or `discard` itself.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")

    def __enter__(self) -> Path:
        return self.temp

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def commit(self) -> None:
        """Flush what was written at the temporary path to disk and rename it into place."""
        try:
            for written in sorted(self.temp.rglob("*")) if self.temp.is_dir() else [self.temp]:
                if written.is_file():
                    with open(written, "rb") as handle:
                        os.fsync(handle.fileno())
            os.replace(self.temp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        if self.temp.is_dir():
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            self.temp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    with atomic_output(path) as temp:
        temp.write_bytes(data)


def uri_key(uri: str) -> str:
    """A short file name for an input URI (the ledger's record of a video is `state/videos/{uri_key}.json`)."""
    return hashlib.sha1(uri.encode()).hexdigest()[:20]


ABSENT = "absent"  # the file stamp of an input that is not there


def file_stamps(uris: Iterable[str], options: dict[str, Any] | None = None) -> dict[str, str]:
    """What tells an input replaced in place from the file analysed, without reading it: size and modification time
    of a local file, size and ETag (or last-modified time) of an object; `ABSENT` where there is no file.

    Objects are looked up with one listing per folder, not one request each (a run may have a million inputs).
    """
    stamps: dict[str, str] = {}
    folders: dict[str, list[str]] = defaultdict(list)
    for uri in uris:
        if is_remote(uri):
            folders[uri.rsplit("/", 1)[0]].append(uri)
            continue
        try:
            found = os.stat(uri.removeprefix("file://"))
            stamps[uri] = f"{found.st_size}:{found.st_mtime_ns}" if stat.S_ISREG(found.st_mode) else ABSENT
        except OSError:
            stamps[uri] = ABSENT
    for folder, members in folders.items():
        try:
            fs, path = filesystem(folder, options)
            listing = {info["name"].rstrip("/").rsplit("/", 1)[-1]: info for info in fs.ls(path, detail=True)}
        except Exception:  # no such folder, or no listing (http): each file on its own
            listing = {}
        for uri in members:
            info = listing.get(uri.rsplit("/", 1)[1]) or _object_info(uri, options)
            stamps[uri] = _object_stamp(info) if info and info.get("type") != "directory" else ABSENT
    return stamps


def _object_info(uri: str, options: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        fs, path = filesystem(uri, options)
        return fs.info(path)
    except Exception:
        return None


def _object_stamp(info: dict[str, Any]) -> str:
    version = next((info[key] for key in ("ETag", "etag", "LastModified", "mtime", "updated") if info.get(key)), "")
    return f"{info.get('size')}:{version}"


def is_remote(uri: str) -> bool:
    """True for fsspec URLs of object stores and remote filesystems; plain paths and file:// are local."""
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme not in ("file", "local") and len(scheme) > 1


def filesystem(uri: str, options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem and the path inside it; `skip_instance_cache` keeps forked or spawned workers from sharing
    clients."""
    import fsspec.core

    return fsspec.core.url_to_fs(uri, skip_instance_cache=True, **(options or {}))


def scratch_root(config: StorageConfig | None = None) -> Path:
    root = (
        Path(config.scratch_dir) if config and config.scratch_dir else Path(tempfile.gettempdir()) / "humannet-scratch"
    )
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def local_copy(uri: str, options: dict[str, Any] | None = None, scratch: Path | None = None) -> Iterator[str]:
    """A local path for `uri`: the path itself when local, else a scratch download deleted afterwards."""
    if not is_remote(uri):
        yield uri
        return
    fs, path = filesystem(uri, options)
    suffix = Path(path).suffix
    folder = Path(tempfile.mkdtemp(prefix="input-", dir=scratch or scratch_root()))
    local = folder / f"source{suffix}"
    try:
        fs.get_file(path, str(local))
        yield str(local)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def list_remote_videos(uri: str, suffixes: frozenset[str], options: dict[str, Any] | None = None) -> list[str]:
    """Every object under a remote prefix whose name ends in a video suffix, as full URLs."""
    fs, path = filesystem(uri, options)
    protocol = uri.split("://", 1)[0]
    return sorted(f"{protocol}://{found}" for found in fs.find(path) if Path(found).suffix.lower() in suffixes)


class RemoteCorpus:
    """A corpus on a store, worked on through a local working folder that mirrors it."""

    # the ledger, and the captions the caption trees are built from
    PULLED = (
        "state/videos",
        "state/shards",
        "state/captions",
    )

    def __init__(self, url: str, options: dict[str, Any] | None = None, scratch: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.options = options or {}
        self.fs, self.root = filesystem(self.url, self.options)
        key = hashlib.sha1(self.url.encode()).hexdigest()[:16]
        self.local = (scratch or scratch_root()) / f"corpus-{key}"
        self.local.mkdir(parents=True, exist_ok=True)

    def remote(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def pull_state(self) -> None:
        """Replace the local ledger with the store's: the store is the truth."""
        for folder in self.PULLED:
            local = self.local / folder
            shutil.rmtree(local, ignore_errors=True)
            local.mkdir(parents=True, exist_ok=True)
            remote = self.remote(folder)
            if self.fs.exists(remote):
                for found in self.fs.find(remote):
                    self.fs.get_file(found, str(local / Path(found).name))

    def push(self, relative: str, delete_local: bool = False) -> None:
        local = self.local / relative
        self.fs.put_file(str(local), self.remote(relative))
        if delete_local:
            local.unlink()

    def pull_staging(self, video_id: str) -> None:
        """Replace the local staging folder of a video with the store's (a killed run's copy may be of clips staged
        again since, with other settings)."""
        remote = self.remote(f"state/staging/{video_id}")
        local = self.local / "state" / "staging" / video_id
        shutil.rmtree(local, ignore_errors=True)
        if not self.fs.exists(remote):
            return
        local.mkdir(parents=True, exist_ok=True)
        for found in self.fs.find(remote):
            self.fs.get_file(found, str(local / Path(found).name))

    def remove(self, relative: str) -> None:
        remote = self.remote(relative)
        if self.fs.exists(remote):
            self.fs.rm(remote, recursive=True)

    def clear(self) -> None:
        folders = ("state", "shards", "clips", "captions")
        for name in (
            *folders,
            "videos.parquet",
            "dropped_clips.parquet",
            "errors.parquet",
            "provenance.parquet",
            "manifest.json",
        ):
            self.remove(name)
        shutil.rmtree(self.local, ignore_errors=True)
        self.local.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def staging_folder(
    staging_root: str, video_id: str, options: dict[str, Any] | None = None, scratch: Path | None = None
) -> Iterator[Path]:
    """A worker's folder for one video's staged clips.

    Local staging is used in place. Remote staging is copied to a scratch folder first (so a
    resumed run skips clips already staged) and mirrored back afterwards: files deleted meanwhile
    (a clip staged again) go first, mp4s before side files, then the new side files, the mp4s last,
    so a clip whose mp4 is on the store has all its side files there too.
    """
    if not is_remote(staging_root):
        folder = Path(staging_root) / video_id
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    fs, root = filesystem(f"{staging_root.rstrip('/')}/{video_id}", options)
    folder = Path(tempfile.mkdtemp(prefix="staging-", dir=scratch or scratch_root()))
    try:
        before: dict[str, float] = {}
        if fs.exists(root):
            for found in fs.find(root):
                target = folder / Path(found).name
                fs.get_file(found, str(target))
                before[target.name] = target.stat().st_mtime
        yield folder
        deleted = [name for name in before if not (folder / name).exists()]
        for name in sorted(deleted, key=lambda name: (not name.endswith(".mp4"), name)):
            fs.rm_file(f"{root}/{name}")
        changed = [
            p for p in folder.iterdir() if not p.name.startswith(".") and before.get(p.name) != p.stat().st_mtime
        ]
        for path in sorted(changed, key=lambda p: (p.suffix == ".mp4", p.name)):
            fs.put_file(str(path), f"{root}/{path.name}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_parquet(path: Path, table: Any) -> None:
    """A Parquet file (zstd) written whole, so readers never see half of one."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue())
