"""The URL pool: idempotent adds, provenance, atomic claims under concurrent processes, recovery."""

from __future__ import annotations

import multiprocessing
import os
import time

from humannet.collect.pool import Candidate, Pool, State, done_videos


def _candidates(ids: range, query: str) -> list[Candidate]:
    return [
        Candidate(
            id=f"test:{i}",
            url=f"https://example.com/{i}.mp4",
            source="test",
            state=State.QUEUED,
            provenance=[("query", query)],
        )
        for i in ids
    ]


def test_adding_is_idempotent_and_provenance_accumulates(tmp_path):
    with Pool(tmp_path / "pool.sqlite") as pool:
        assert pool.add(_candidates(range(5), "knead dough")) == 5
        assert pool.add(_candidates(range(3, 8), "knead dough POV")) == 3
        assert pool.add(_candidates(range(5), "knead dough")) == 0
        assert len(pool.rows()) == 8
        assert pool.provenance("test:3") == [("query", "knead dough"), ("query", "knead dough POV")]
        assert pool.provenance("test:0") == [("query", "knead dough")]


def _worker(path: str, start: int, results) -> None:
    """Add an overlapping range of ids, then claim and finish rows until none is left."""
    with Pool(path) as pool:
        pool.add(_candidates(range(start, start + 60), f"worker {start}"))
        claimed = []
        while True:
            row = pool.claim(f"host:{os.getpid()}")
            if row is None:
                if pool.next_due() is None:
                    break
                time.sleep(0.01)
                continue
            claimed.append(row.id)
            pool.finish(row.id, f"/videos/{row.id}.mp4", {"title": row.id})
        results.put(claimed)


def test_concurrent_processes_add_and_claim_each_row_exactly_once(tmp_path):
    path = str(tmp_path / "pool.sqlite")
    Pool(path).close()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(path, start, results)) for start in (0, 20, 40, 60)]
    for process in workers:
        process.start()
    claimed = [row for _ in workers for row in results.get(timeout=120)]
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    with Pool(path) as pool:
        rows = pool.rows()
        assert len(rows) == 120  # ids 0..119, overlapping adds stored once
        assert {r.state for r in rows} == {State.DONE}
        assert all(r.attempts == 1 for r in rows)
        assert sum(len(pool.provenance(r.id)) for r in rows) == 240  # 4 workers x 60 adds, each recorded
    assert sorted(claimed) == sorted(f"test:{i}" for i in range(120))  # nobody claimed a row twice
    assert len(done_videos(path)) == 120


def test_failures_back_off_then_give_up_and_abandoned_claims_come_back(tmp_path):
    with Pool(tmp_path / "pool.sqlite") as pool:
        pool.add(_candidates(range(2), "q"))
        row = pool.claim("host:1")
        pool.fail(row.id, "HTTP Error 503", retry_at=time.time() + 60)
        assert pool.get(row.id).state is State.QUEUED and pool.get(row.id).last_error == "HTTP Error 503"
        other = pool.claim("host:1")
        assert other.id != row.id  # the failed one is not due yet
        assert pool.claim("host:1") is None
        pool.fail(other.id, "Unsupported URL", retry_at=None)
        assert pool.get(other.id).state is State.FAILED and pool.get(other.id).reason == "Unsupported URL"
        # a claim by a process that no longer exists on this host is put back
        pool.add(_candidates(range(2, 3), "q"))
        dead = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
        dead.start()
        dead.join()
        import socket

        stolen = pool.claim(f"{socket.gethostname()}:{dead.pid}")
        assert pool.get(stolen.id).state is State.DOWNLOADING
        assert pool.recover_abandoned(lease_s=3600) == 1
        assert pool.get(stolen.id).state is State.QUEUED
        assert pool.requeue_failed() == 1
        counts = pool.counts()
        assert counts["state"] == {"queued": 3}


def test_a_file_that_is_not_a_pool_is_refused(tmp_path):
    import sqlite3

    import pytest

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ValueError, match="not a humannet URL pool"):
        done_videos(other)


def test_a_pool_path_with_hash_percent_or_question_mark_opens_that_file(tmp_path):
    def done(pool_path, name: str) -> None:
        with Pool(pool_path) as pool:
            pool.add([Candidate(id=f"path:{name}", url=name, source="test", state=State.DONE, path=f"/v/{name}.mp4")])

    done(tmp_path / "takes", "wrong")  # what 'takes#2/pool.sqlite' would open if '#' ended the file name
    for folder in ("takes#2", "100%25", "why?mode=rw"):
        done(tmp_path / folder / "pool.sqlite", folder)
        assert done_videos(tmp_path / folder / "pool.sqlite") == [(f"/v/{folder}.mp4", {})], folder
