"""The URL pool: every candidate video once, with its state, attempts, errors and provenance.

An embedded SQLite database in WAL mode, so several processes (search, import, download
workers) can use it at once. Adding is idempotent (the canonical ID is the key; provenance
rows accumulate). A download worker claims a row with one `UPDATE ... RETURNING` inside
`BEGIN IMMEDIATE`, so no two workers ever get the same video.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class State(StrEnum):
    NEW = "new"  # found, full metadata not fetched yet
    FILTERED = "filtered"  # rejected by a source filter; `reason` says which
    QUEUED = "queued"  # waiting for download (or for its next attempt)
    DOWNLOADING = "downloading"  # claimed by a worker
    DONE = "done"  # on disk (`path`), sidecar written
    FAILED = "failed"  # gave up; `last_error` says why


SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_at REAL,
    path TEXT,
    meta TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_state ON videos (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS provenance (
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (id, kind, value)
);
"""


@dataclass
class Candidate:
    """What a finder hands to the pool: one video, where it was found, and what is known of it."""

    id: str
    url: str
    source: str  # platform or dataset: 'youtube', 'kinetics', 'folder' ...
    state: State = State.NEW
    reason: str | None = None
    path: str | None = None  # for videos already on disk or in object storage
    meta: dict[str, Any] = field(default_factory=dict)
    provenance: list[tuple[str, str]] = field(default_factory=list)  # (kind, value): ('query', 'knead dough POV')


@dataclass
class PoolRow:
    id: str
    url: str
    source: str
    state: State
    reason: str | None
    attempts: int
    last_error: str | None
    path: str | None
    meta: dict[str, Any]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _row(record: sqlite3.Row) -> PoolRow:
    return PoolRow(
        id=record["id"],
        url=record["url"],
        source=record["source"],
        state=State(record["state"]),
        reason=record["reason"],
        attempts=record["attempts"],
        last_error=record["last_error"],
        path=record["path"],
        meta=json.loads(record["meta"]),
    )


class Pool:
    """One connection to the pool database; open one per thread or process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 60000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._write() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(self, candidates: list[Candidate]) -> int:
        """Insert candidates not yet in the pool (existing rows keep their state); record every
        provenance either way. Returns how many were new."""
        now = time.time()
        added = 0
        with self._write() as db:
            for c in candidates:
                cursor = db.execute(
                    "INSERT INTO videos (id, url, source, state, reason, path, meta, added_at, updated_at) VALUES (?, "
                    "?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (
                        c.id,
                        c.url,
                        c.source,
                        c.state.value,
                        c.reason,
                        c.path,
                        json.dumps(c.meta, sort_keys=True),
                        now,
                        now,
                    ),
                )
                added += cursor.rowcount
                db.executemany(
                    "INSERT OR IGNORE INTO provenance (id, kind, value, added_at) VALUES (?, ?, ?, ?)",
                    [(c.id, kind, value, now) for kind, value in c.provenance],
                )
        return added

    def known(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._db.execute(f"SELECT id FROM videos WHERE id IN ({marks})", chunk))
        return found

    def get(self, video_id: str) -> PoolRow | None:
        record = self._db.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
        return _row(record) if record else None

    def rows(self, state: State | None = None) -> list[PoolRow]:
        if state is None:
            return [_row(r) for r in self._db.execute("SELECT * FROM videos ORDER BY id")]
        return [_row(r) for r in self._db.execute("SELECT * FROM videos WHERE state = ? ORDER BY id", (state.value,))]

    def provenance(self, video_id: str) -> list[tuple[str, str]]:
        return [
            (r["kind"], r["value"])
            for r in self._db.execute(
                "SELECT kind, value FROM provenance WHERE id = ? ORDER BY kind, value", (video_id,)
            )
        ]

    def resolve(self, video_id: str, state: State, meta: dict[str, Any], reason: str | None = None) -> None:
        """Settle a NEW row once its full metadata is known: queued, or filtered with the reason."""
        with self._write() as db:
            db.execute(
                "UPDATE videos SET state = ?, reason = ?, meta = ?, updated_at = ? WHERE id = ? AND state = ?",
                (state.value, reason, json.dumps(meta, sort_keys=True), time.time(), video_id, State.NEW.value),
            )

    def requeue_failed(self) -> int:
        """Give failed rows a fresh set of attempts (after fixing a cause: network, disk, settings)."""
        with self._write() as db:
            return db.execute(
                "UPDATE videos SET state = ?, attempts = 0, next_attempt_at = 0, updated_at = ? WHERE state = ?",
                (State.QUEUED.value, time.time(), State.FAILED.value),
            ).rowcount

    def recover_abandoned(self, lease_s: float) -> int:
        """Put back rows whose worker died: on this host when its process is gone, anywhere when the
        claim is older than `lease_s`. Their partial `.part` files stay and are resumed."""
        host = socket.gethostname()
        now = time.time()
        stale = []
        for record in self._db.execute(
            "SELECT id, claimed_by, claimed_at FROM videos WHERE state = ?", (State.DOWNLOADING.value,)
        ):
            owner_host, _, pid = (record["claimed_by"] or ":").rpartition(":")
            dead_here = owner_host == host and pid.isdigit() and not _alive(int(pid))
            if dead_here or (record["claimed_at"] or 0) < now - lease_s:
                stale.append(record["id"])
        with self._write() as db:
            for video_id in stale:
                db.execute(
                    "UPDATE videos SET state = ?, claimed_by = NULL, next_attempt_at = 0, updated_at = ? WHERE id = ? "
                    "AND state = ?",
                    (State.QUEUED.value, now, video_id, State.DOWNLOADING.value),
                )
        return len(stale)

    def claim(self, worker: str) -> PoolRow | None:
        """Atomically take the next queued row that is due; None when nothing is due now."""
        now = time.time()
        with self._write() as db:
            record = db.execute(
                "UPDATE videos SET state = ?, claimed_by = ?, claimed_at = ?, attempts = attempts + 1, updated_at = ? "
                "WHERE id = (SELECT id FROM videos WHERE state = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, "
                "id LIMIT 1) RETURNING *",
                (State.DOWNLOADING.value, worker, now, now, State.QUEUED.value, now),
            ).fetchone()
        return _row(record) if record else None

    def next_due(self) -> float | None:
        """When the earliest queued row becomes due (epoch seconds), or None when nothing is queued."""
        record = self._db.execute(
            "SELECT MIN(next_attempt_at) FROM videos WHERE state = ?", (State.QUEUED.value,)
        ).fetchone()
        return record[0]

    def finish(self, video_id: str, path: str, meta: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE videos SET state = ?, path = ?, meta = ?, last_error = NULL, claimed_by = NULL, updated_at = "
                "? WHERE id = ?",
                (State.DONE.value, path, json.dumps(meta, sort_keys=True), time.time(), video_id),
            )

    def fail(self, video_id: str, error: str, retry_at: float | None) -> None:
        """Record an attempt's error: back to the queue until `retry_at`, or failed for good when None."""
        state = State.QUEUED if retry_at is not None else State.FAILED
        with self._write() as db:
            db.execute(
                "UPDATE videos SET state = ?, last_error = ?, reason = ?, next_attempt_at = ?, claimed_by = NULL, "
                "updated_at = ? WHERE id = ?",
                (state.value, error, None if retry_at is not None else error, retry_at or 0, time.time(), video_id),
            )

    def counts(self) -> dict[str, Counter[str]]:
        """Counts by state, by source (and state) and by reason of filtered and failed rows."""
        from humannet.records import reason_key

        by_state: Counter[str] = Counter()
        by_source: Counter[str] = Counter()
        by_reason: Counter[str] = Counter()
        for record in self._db.execute("SELECT state, source, reason FROM videos"):
            by_state[record["state"]] += 1
            by_source[f"{record['source']} {record['state']}"] += 1
            if record["state"] in (State.FILTERED.value, State.FAILED.value):
                by_reason[f"{record['state']}: {reason_key(record['reason'])}"] += 1
        return {"state": by_state, "source": by_source, "reason": by_reason}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def done_videos(path: str | os.PathLike[str]) -> list[tuple[str, dict[str, Any]]]:
    """(file path or URI, metadata) of every done row, read without writing to the pool. Raises
    ValueError naming the file when it is not a humannet pool."""
    try:
        # as_uri escapes '#', '?' and '%', which SQLite would otherwise read as the end of the file name
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=60.0)
        try:
            records = db.execute(
                "SELECT path, meta FROM videos WHERE state = ? AND path IS NOT NULL ORDER BY id", (State.DONE.value,)
            ).fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: not a humannet URL pool ({exc})") from exc
    return [(str(location), json.loads(meta)) for location, meta in records]
