"""One writer per corpus: the lock on a folder and on a store, stale locks, and what the user sees."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import fsspec
import pytest

from humannet.corpus.lock import LOCK_FILE, CorpusLock, CorpusLocked


def dead_pid() -> int:
    """The pid of a process that has just exited (reaped, so nothing else has it yet in practice)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    with CorpusLock(str(tmp_path), "curate", lease_s=60):
        owner = json.loads((tmp_path / LOCK_FILE).read_text())
        assert owner["host"] == socket.gethostname() and owner["command"] == "curate"
        with pytest.raises(CorpusLocked) as refused:
            CorpusLock(str(tmp_path), "review", lease_s=60).acquire()
        assert f"another humannet curate (pid {owner['pid']} on host {owner['host']}" in str(refused.value)
        assert "is writing this corpus" in str(refused.value)
    assert not (tmp_path / LOCK_FILE).exists()  # released
    with CorpusLock(str(tmp_path), "review", lease_s=60):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["command"] == "review"


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(tmp_path):
    left = {"host": socket.gethostname(), "pid": dead_pid(), "command": "curate", "expires": time.time() + 3600}
    (tmp_path / LOCK_FILE).write_text(json.dumps(left))
    with CorpusLock(str(tmp_path), "curate", lease_s=60) as lock:
        assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == lock.owner["token"]


def test_a_lock_from_another_host_holds_until_its_lease_ends(tmp_path):
    other = {"host": "elsewhere.invalid", "pid": 1, "command": "curate", "expires": time.time() + 3600}
    (tmp_path / LOCK_FILE).write_text(json.dumps(other))
    with pytest.raises(CorpusLocked, match="pid 1 on host elsewhere.invalid"):
        CorpusLock(str(tmp_path), "curate", lease_s=60).acquire()
    with CorpusLock(str(tmp_path), "curate", lease_s=60, force=True):  # --force-unlock
        pass
    (tmp_path / LOCK_FILE).write_text(json.dumps({**other, "expires": time.time() - 1}))
    with CorpusLock(str(tmp_path), "curate", lease_s=60):
        pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_the_lock_on_an_object_store_is_an_object_with_a_lease():
    url = "memory://locks-test/corpus"
    store = fsspec.filesystem("memory")
    with CorpusLock(url, "curate", lease_s=30) as lock:
        owner = json.loads(store.cat_file(f"/locks-test/corpus/{LOCK_FILE}"))
        assert owner["token"] == lock.owner["token"] and owner["expires"] > time.time() + 20
        with pytest.raises(CorpusLocked, match="is writing this corpus"):
            CorpusLock(url, "curate", lease_s=30).acquire()
    assert not store.exists(f"/locks-test/corpus/{LOCK_FILE}")
    left = {"host": socket.gethostname(), "pid": dead_pid(), "command": "curate", "expires": time.time() + 3600}
    store.pipe_file(f"/locks-test/corpus/{LOCK_FILE}", json.dumps(left).encode())
    with CorpusLock(url, "curate", lease_s=30):
        pass
