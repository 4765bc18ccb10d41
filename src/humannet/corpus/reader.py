"""Open a corpus folder for reading: check it is a whole humannet corpus, then hand out its tables.

Every tool that reads a corpus (stats, report, query, subsets, the viewer, the training loader)
starts here, so a missing folder, a run killed before it wrote the index, or a corpus written
by another format version gets the same one-line explanation everywhere, instead of a
Parquet or DuckDB traceback deep inside a command.

    corpus = open_corpus("corpus/")          # raises CorpusReadError with a clear message
    con = corpus.connect()                   # DuckDB with views videos, clips, dropped_clips, errors, ...
    con.sql("SELECT viewpoint, count(*) FROM clips GROUP BY 1").fetchall()
    data = corpus.read_member(shard, f"{clip_id}.mp4")   # bytes of one file inside a shard
    files = corpus.clip_members(shard, clip_id)           # every file of one clip, by member name
    with corpus.member_file(shard, f"{clip_id}.mp4") as path: ...   # one member as a local file

Every tool that opens a shard goes through these methods, so it works on object storage too.

A corpus on object storage (`open_corpus("s3://bucket/corpus")`) is read the same way: its
index (the manifest and every Parquet file) is mirrored into a local cache folder, files whose
size changed are fetched again, and shards are read from the store with ranged reads
(`open_shard`), never downloaded whole. Credentials and endpoints come from fsspec's usual
sources (environment such as `AWS_ENDPOINT_URL`, config files) or `storage_options`.

Tables are found on disk, not listed here: besides the four index tables, every other Parquet
file in the corpus (annotation tables such as `captions/trees.parquet` or `provenance.parquet`)
becomes a view named after its path (`captions_trees`, `provenance`). A folder of
`part-*.parquet` files is one table named after the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from humannet import HumannetError
from humannet.storage import atomic_output, atomic_write_bytes, filesystem, is_remote, scratch_root, uri_key

if TYPE_CHECKING:
    import duckdb

FORMAT_VERSION = 1  # the corpus layout this humannet writes; manifest.json records it (absent = 1)
READABLE_VERSIONS = range(1, FORMAT_VERSION + 1)
INDEX_TABLES = ("videos", "clips", "dropped_clips", "errors")
SHARD_READ_BLOCK = 8 * 2**20  # bytes per ranged read from a store: a few clips' files each
SKIPPED_DIRS = frozenset({"state", "shards"})  # the resume ledger and the media, not tables


class CorpusReadError(HumannetError, RuntimeError):
    """The folder cannot be read as a corpus; the message says why and what to do."""


@dataclass
class Corpus:
    """A checked corpus folder. Build it with `open_corpus`."""

    root: Path
    manifest: dict[str, Any]
    format_version: int
    tables: dict[str, list[Path]]  # view name -> Parquet files, in name order
    warnings: list[str] = field(default_factory=list)  # readable, but something a user should know
    store: tuple[Any, str] | None = (
        None  # (fsspec filesystem, corpus path in it) for a corpus on object storage; `root` is then its index mirror
    )
    storage_options: dict[str, Any] | None = None  # fsspec's, for shards named by store URL (`--reference` subsets)
    _url_stores: dict[str, Any] = field(default_factory=dict, repr=False)  # URL scheme -> its filesystem
    # shard -> (its version when read, its member table)
    _member_tables: dict[str, tuple[str, dict[str, tuple[int, int]]]] = field(default_factory=dict, repr=False)

    def connect(self, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table (files are read lazily, at query time), that reads only.

        Users' SQL runs on it (`humannet query`, `--where`, mixture predicates shared as files), so once the views
        exist DuckDB may open files under the corpus folder only (a store corpus's is its index mirror): no `COPY
        ... TO`, no reading other files, no `ATTACH`, `INSTALL` or `LOAD`, and the configuration is locked so SQL
        cannot lift this.
        """
        import duckdb

        root = self.root.absolute()
        con = duckdb.connect(database)
        for name, paths in self.tables.items():
            files = ", ".join(sql_string(str(root / p.relative_to(self.root))) for p in paths)
            con.execute(
                f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet([{files}], union_by_name = true)'
            )
        con.execute(f"SET allowed_directories = [{sql_string(f'{root}/')}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con

    def schema(self, table: str) -> pa.Schema:
        """The Arrow schema of a table (read from the Parquet footers only); KeyError if absent."""
        schemas = [pq.read_schema(path) for path in self.tables[table]]
        return pa.unify_schemas(schemas) if len(schemas) > 1 else schemas[0]

    def columns(self, table: str) -> list[str]:
        """Column names of a table, or [] when the corpus has no such table."""
        return list(self.schema(table).names) if table in self.tables else []

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table as Arrow; `columns` that the table lacks are left out, not an error."""
        if table not in self.tables:
            raise KeyError(f"{self.root} has no table {table!r} (tables: {', '.join(self.tables)})")
        present = None if columns is None else [c for c in columns if c in self.columns(table)]
        parts = [pq.read_table(path, columns=present) for path in self.tables[table]]
        return pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]

    @property
    def location(self) -> str:
        """Where the corpus is, as the user named it: a folder, or a store URL."""
        if self.store is None:
            return str(self.root)
        fs, path = self.store
        return fs.unstrip_protocol(path)

    def open_shard(self, shard: str) -> IO[bytes]:
        """A readable, seekable binary file of one shard: the local file, or ranged reads from the store. OSError when
        missing.

        `shard` is relative to the corpus, or (in a `--reference` subset) an absolute path or a store URL.
        """
        on_store = self._on_store(shard)
        if on_store is None:
            return open(self.root / shard, "rb")  # noqa: SIM115 (the caller closes it)
        fs, path = on_store
        try:
            return fs.open(path, "rb", block_size=SHARD_READ_BLOCK)
        except OSError:
            raise
        except Exception as exc:  # store errors (permissions, network) as the OSError callers handle
            raise OSError(f"{fs.unstrip_protocol(path)}: {type(exc).__name__}: {exc}") from exc

    def _on_store(self, shard: str) -> tuple[Any, str] | None:
        """(filesystem, path in it) of a shard on object storage; None for a local file."""
        if is_remote(shard):
            scheme = shard.partition("://")[0]
            if scheme not in self._url_stores:
                self._url_stores[scheme] = filesystem(shard, self.storage_options)[0]
            fs = self._url_stores[scheme]
            return fs, fs._strip_protocol(shard)
        if self.store is None:
            return None
        fs, path = self.store
        return fs, f"{path}/{shard}"

    def shards(self) -> list[str]:
        """The shard files present (`shards/*.tar`, relative to the corpus), in name order."""
        if self.store is None:
            return [path.relative_to(self.root).as_posix() for path in sorted((self.root / "shards").glob("*.tar"))]
        fs, path = self.store
        return sorted(f"shards/{found.rsplit('/', 1)[-1]}" for found in fs.glob(f"{path}/shards/*.tar"))

    def shard_version(self, shard: str) -> str:
        """Changes when a local shard file is rewritten (a store's shards are whole objects, never rewritten in place:
        "").
        OSError when a local shard is missing."""
        if self._on_store(shard) is not None:
            return ""
        stat = (self.root / shard).stat()
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    def shard_members(self, shard: str, strict: bool = False) -> dict[str, tuple[int, int]]:
        """Member name -> (byte offset of its data, size) for one shard, in the shard's order.

        Read once and kept until the shard file changes. A missing or unreadable shard gives {}, or with
        `strict` raises OSError or tarfile.TarError. A shard cut short (a failed upload or copy) is unreadable:
        tarfile alone would list the members before the cut and make the others look absent.
        """
        try:
            version = self.shard_version(shard)
            cached = self._member_tables.get(shard)
            if cached is None or cached[0] != version:
                with self.open_shard(shard) as handle, tarfile.open(fileobj=handle, mode="r:") as tar:
                    table = {m.name: (m.offset_data, m.size) for m in tar.getmembers() if m.isfile()}
                    size = handle.seek(0, io.SEEK_END)
                    if size < tar.offset + tarfile.BLOCKSIZE:  # no end-of-archive block where the members end
                        raise tarfile.ReadError(f"{shard}: cut short ({size} bytes, members end at {tar.offset})")
                cached = self._member_tables[shard] = (version, table)
        except (tarfile.TarError, OSError):
            if strict:
                raise
            return {}
        return cached[1]

    def read_member(self, shard: str, name: str) -> bytes | None:
        """The bytes of one file (`{clip_id}.mp4`, `.json`, `.pose.npz`, ...) in a shard; None when the shard or member
        is missing. OSError or tarfile.TarError when the shard is there but cannot be read."""
        return self.read_members(shard, [name]).get(name)

    def read_members(self, shard: str, names: Iterable[str]) -> dict[str, bytes]:
        """The bytes of several files of one shard, read through one open file; names the shard lacks are left out
        ({} when the shard is missing). The member table makes each read a seek straight to the member.

        A shard that is there but cannot be read (store errors, a corrupt or cut tar) raises OSError or
        tarfile.TarError: counting its members as absent would silently lower whatever the caller counts.
        """
        try:
            table = self.shard_members(shard, strict=True)
        except FileNotFoundError:
            return {}
        wanted = [name for name in names if name in table]
        if not wanted:
            return {}
        with self.open_shard(shard) as handle:
            out = {}
            for name in wanted:
                offset, size = table[name]
                handle.seek(offset)
                out[name] = handle.read(size)
                if len(out[name]) != size:
                    raise OSError(f"{self.location}/{shard}: {name} ends early")
            return out

    def clip_members(self, shard: str, clip_id: str) -> dict[str, bytes]:
        """Every file of one clip (`{clip_id}.mp4`, `.json`, `.pose.npz`, ...) by member name, in the shard's order."""
        prefix = f"{clip_id}."
        names = [name for name in self.shard_members(shard) if name.startswith(prefix)]
        return self.read_members(shard, names)

    @contextlib.contextmanager
    def member_file(self, shard: str, name: str) -> Iterator[Path]:
        """One file of a shard as a local file (for decoders that want a path), removed on leaving.

        The file keeps the member's name (and so its suffix). FileNotFoundError when the shard or member is missing.
        """
        table = self.shard_members(shard)
        if name not in table:
            raise FileNotFoundError(f"{self.location}/{shard}: no member {name}")
        offset, size = table[name]
        folder = Path(tempfile.mkdtemp(prefix="member-", dir=scratch_root()))
        try:
            local = folder / Path(name).name
            with self.open_shard(shard) as handle, open(local, "wb") as out:
                handle.seek(offset)
                remaining = size
                while remaining > 0:
                    block = handle.read(min(SHARD_READ_BLOCK, remaining))
                    if not block:
                        raise OSError(f"{self.location}/{shard}: {name} ends early")
                    out.write(block)
                    remaining -= len(block)
            yield local
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @cached_property
    def counts(self) -> dict[str, Any]:
        return dict(self.manifest.get("counts", {}))


def open_corpus(path: str | Path, storage_options: dict[str, Any] | None = None) -> Corpus:
    """Check that `path` holds a complete, readable corpus and describe its tables.

    Raises CorpusReadError for: a missing folder, a folder that is not a corpus, a partial
    corpus (a curate run stopped before it wrote the index), an unreadable manifest, or a format
    version this humannet cannot read. A corpus whose ledger holds work finished after the
    index was written is readable (the index is whole, just older) and gets a warning.
    `path` may be a store URL (`s3://...`); `storage_options` are fsspec's for it, and for shards named by store URL
    in a `--reference` subset.
    """
    if is_remote(str(path)):
        return _open_on_store(str(path), storage_options)
    root = Path(path)
    if not root.exists():
        raise CorpusReadError(f"{root}: no such folder")
    if not root.is_dir():
        raise CorpusReadError(f"{root}: is a file, not a corpus folder")
    manifest_path = root / "manifest.json"
    missing = [name for name in ("manifest.json", "videos.parquet", "clips") if not (root / name).exists()]
    if missing:
        raise CorpusReadError(_missing_message(root, missing))
    manifest = _read_manifest(manifest_path)
    version = manifest.get("format_version", 1)
    if not isinstance(version, int) or version not in READABLE_VERSIONS:
        raise CorpusReadError(_version_message(root, version))
    tables = _find_tables(root)
    if "clips" not in tables:
        raise CorpusReadError(
            f"{root}: clips/ holds no Parquet files; the corpus is incomplete (rerun the curate command that wrote it)"
        )
    corpus = Corpus(
        root=root, manifest=manifest, format_version=version, tables=tables, storage_options=storage_options
    )
    corpus.warnings.extend(_ledger_warnings(corpus))
    return corpus


def open_unchecked(root: str | Path) -> Corpus:
    """A local folder as a Corpus without `open_corpus`'s checks or tables, for tools that read only some of its
    files (an index file or two, the shards) and have always worked on folders that are not whole corpora."""
    return Corpus(root=Path(root), manifest={}, format_version=FORMAT_VERSION, tables={})


def _open_on_store(url: str, options: dict[str, Any] | None) -> Corpus:
    """Mirror the index of a corpus on a store into the local cache, open the mirror, and read shards from the store."""
    url = url.rstrip("/")
    try:
        fs, root = filesystem(url, options)
        found = fs.find(root, detail=True)
    except Exception as exc:  # no credentials, no such bucket, endpoint down: say which and why
        raise CorpusReadError(f"{url}: cannot list the corpus ({type(exc).__name__}: {exc})") from exc
    index = {}  # relative path -> (object path, version stamp)
    for remote, info in found.items():
        relative = remote[len(root) :].lstrip("/")
        parts = relative.split("/")
        if parts[0] in SKIPPED_DIRS or any(part.startswith(".") for part in parts):
            continue
        if relative == "manifest.json" or relative.endswith(".parquet"):
            version = info.get("ETag") or info.get("LastModified") or info.get("mtime") or ""
            index[relative] = (remote, f"{info.get('size')}:{version}")
    if "manifest.json" not in index:
        raise CorpusReadError(
            f"{url}: not a humannet corpus (no manifest.json); create one with `humannet curate VIDEOS --out {url}`"
        )
    mirror = scratch_root() / f"read-{hashlib.sha1(url.encode()).hexdigest()[:16]}"
    try:
        _mirror_index(fs, index, mirror)
    except Exception as exc:
        raise CorpusReadError(f"{url}: cannot fetch the index ({type(exc).__name__}: {exc})") from exc
    corpus = open_corpus(mirror, options)
    corpus.store = (fs, root)
    return corpus


def _mirror_index(fs: Any, index: dict[str, tuple[str, str]], mirror: Path) -> None:
    """Make `mirror` hold exactly the index files, fetching those whose version stamp (size and ETag or time)
    changed."""
    mirror.mkdir(parents=True, exist_ok=True)
    stamps_path = mirror / ".stamps.json"
    try:
        stamps = json.loads(stamps_path.read_text())
    except (OSError, json.JSONDecodeError):
        stamps = {}
    for local in [
        p for p in mirror.rglob("*") if p.is_file() and not p.name.startswith(".")
    ]:  # dot files: stamps, other readers' downloads
        if local.relative_to(mirror).as_posix() not in index:
            local.unlink(missing_ok=True)  # gone from the store since the last read
    for relative, (remote, stamp) in sorted(index.items()):
        local = mirror / relative
        if local.is_file() and stamps.get(relative) == stamp:
            continue
        with atomic_output(local) as partial:  # another reader of the same corpus never sees half a file
            fs.get_file(remote, str(partial))
        stamps[relative] = stamp
    atomic_write_bytes(stamps_path, json.dumps({relative: stamps[relative] for relative in index}).encode())


def _missing_message(root: Path, missing: list[str]) -> str:
    ledger = root / "state" / "videos"
    if ledger.is_dir():
        finished = sum(1 for _ in ledger.glob("*.json"))
        return (
            f"{root}: partial corpus: a curate run stopped before writing the index ({', '.join(missing)} missing; "
            f"the ledger holds {finished} finished videos). Rerun the same `humannet curate ... --out {root}` to "
            "finish it"
        )
    return (
        f"{root}: not a humannet corpus (no {', '.join(missing)}); create one with `humannet curate VIDEOS --out "
        f"{root}`"
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusReadError(
            f"{path}: unreadable manifest ({exc}); rerun the curate command that wrote the corpus to rewrite it"
        ) from exc
    if not isinstance(manifest, dict):
        raise CorpusReadError(f"{path}: manifest is not a JSON object")
    return manifest


def _version_message(root: Path, version: Any) -> str:
    if isinstance(version, int) and version > FORMAT_VERSION:
        return (
            f"{root}: corpus format version {version} is newer than this humannet reads (up to {FORMAT_VERSION}); "
            "upgrade humannet"
        )
    return (
        f"{root}: corpus format version {version!r} is not readable by this humannet (reads "
        f"{READABLE_VERSIONS.start}-{FORMAT_VERSION}); curate the videos again with `humannet curate ... --rebuild`"
    )


def _find_tables(root: Path) -> dict[str, list[Path]]:
    tables: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.parquet")):
        relative = path.relative_to(root)
        if relative.parts[0] in SKIPPED_DIRS or any(part.startswith(".") for part in relative.parts):
            continue
        stem = relative.parent if path.name.startswith("part-") else relative.with_suffix("")
        name = re.sub(r"\W+", "_", stem.as_posix().lower()).strip("_")
        if name:
            tables.setdefault(name, []).append(path)
    ordered = {name: tables.pop(name) for name in INDEX_TABLES if name in tables}
    ordered.update(sorted(tables.items()))
    return ordered


def _ledger_warnings(corpus: Corpus) -> list[str]:
    """Videos or shards the ledger finished after the index was written: a later run was stopped part-way."""
    ledger = corpus.root / "state"
    if not ledger.is_dir():
        return []
    warnings = []
    indexed = {uri_key(uri) for uri in corpus.read("videos", ["uri"]).column("uri").to_pylist() if uri}
    fingerprint = corpus.manifest.get("analysis_fingerprint")
    unindexed = 0
    for record in (ledger / "videos").glob("*.json"):
        if record.stem in indexed:
            continue
        try:  # a ledger entry from other analysis settings is not part of this corpus
            current = json.loads(record.read_text()).get("analysis_hash") == fingerprint
        except (OSError, json.JSONDecodeError):
            current = False
        unindexed += current
    if unindexed:
        warnings.append(
            f"{unindexed} videos were analysed after the index was written (a later curate run stopped part-way); "
            "rerun it to add them"
        )
    shards = sum(1 for _ in (ledger / "shards").glob("*.json")) if (ledger / "shards").is_dir() else 0
    if shards > corpus.counts.get("shards", shards):
        warnings.append(
            f"{shards - corpus.counts['shards']} shards were written after the index (a later curate run stopped "
            "part-way); rerun it to index them"
        )
    return warnings


def select_problem(sql: str) -> str | None:
    """Why `sql` is not exactly one SELECT (or WITH ... SELECT) statement, or None when it is.

    DuckDB's parser decides, so a `;` inside a string literal is not a second statement. Raises duckdb.Error when the
    SQL does not parse (the caller reports DuckDB's message as for any SQL error).
    """
    import duckdb

    statements = duckdb.extract_statements(sql)
    if len(statements) != 1:
        return f"expected one SQL statement, got {len(statements)}: only a single SELECT is run"
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        return f"only SELECT statements are run (the corpus is read-only), got {kind.name}"
    return None


def sql_string(text: str) -> str:
    """`text` as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"
