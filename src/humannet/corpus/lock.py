"""One writer per corpus: a lock file, `humannet.lock`, in the corpus folder or store prefix.

Object stores have no flock, so the lock is a small JSON object naming its owner (host, pid, start
time, command) and a lease: the time after which a writer on another host that stopped refreshing
it is taken to be gone. The holder refreshes the lease every third of `run.lock_lease_s`. A lock
whose owner is on this host is stale as soon as its process is gone, whatever its lease says.

A local lock is created with O_EXCL, so two processes cannot both create it. On a store the
lock is written and read back: two writers starting within the same moment on stores without
conditional writes could both see their own lock for an instant, and the later writer then
finds the other's; this is a guard against the usual mistakes (a retried job, two people), not
a distributed consensus.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from humannet import HumannetError
from humannet.storage import atomic_write_bytes, filesystem, is_remote

log = logging.getLogger(__name__)

LOCK_FILE = "humannet.lock"


class CorpusLocked(HumannetError, RuntimeError):
    """Another humannet process is writing this corpus."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def is_stale(owner: dict[str, Any], now: float | None = None) -> bool:
    """On this host: its process is gone. On another host: its lease ran out."""
    if owner.get("host") == socket.gethostname():
        return not _alive(int(owner.get("pid", 0)))
    return (now or time.time()) > float(owner.get("expires", 0))


class CorpusLock:
    """Held for a `with` block by one command writing the corpus at `out` (a folder or a store URL)."""

    def __init__(
        self, out: str, command: str, lease_s: float, options: dict[str, Any] | None = None, force: bool = False
    ) -> None:
        self.out = str(out).rstrip("/")
        self.command = command
        self.lease_s = lease_s
        self.force = force
        self.remote = is_remote(self.out)
        self.fs, root = filesystem(self.out, options)
        self.path = f"{root.rstrip('/')}/{LOCK_FILE}"
        self.owner = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "command": command,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "token": uuid.uuid4().hex,
        }
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps({**self.owner, "expires": time.time() + self.lease_s}).encode()

    def read(self) -> dict[str, Any] | None:
        """The lock's owner, or None when there is no lock (an unreadable lock counts as stale: `{}`)."""
        try:
            return json.loads(self.fs.cat_file(self.path))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return {}

    def _create(self) -> bool:
        """Write the lock if there is none; True when it is ours."""
        if self.remote:
            if self.fs.exists(self.path):
                return False
            self.fs.pipe_file(self.path, self._record())
            return (self.read() or {}).get("token") == self.owner["token"]
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "wb") as file:
            file.write(self._record())
        return True

    def acquire(self) -> None:
        for _ in range(3):
            if self._create():
                break
            holder = self.read()
            if holder is None:
                continue  # released meanwhile
            if self.force or not holder or is_stale(holder):
                log.warning("taking over the lock of %s: %s", self.out, holder or "unreadable")
                self.fs.rm_file(self.path)
                continue
            raise CorpusLocked(
                f"{self.out}: another humannet {holder.get('command', 'command')} (pid {holder.get('pid')} on host "
                f"{holder.get('host')}, since {holder.get('started')}) is writing this corpus; wait for it to "
                f"finish; if it is no longer running, delete {self.out}/{LOCK_FILE} (or pass curate --force-unlock)"
            )
        else:
            raise CorpusLocked(
                f"{self.out}: could not take the corpus lock ({LOCK_FILE}): another writer keeps taking it"
            )
        self._refresher = threading.Thread(target=self._refresh, name="corpus-lock-lease", daemon=True)
        self._refresher.start()

    def _refresh(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            holder = self.read()
            if not holder or holder.get("token") != self.owner["token"]:
                log.warning("the lock of %s was broken by another writer (%s)", self.out, holder)
                return
            if self.remote:
                self.fs.pipe_file(self.path, self._record())
            else:
                atomic_write_bytes(Path(self.path), self._record())

    def release(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
        holder = self.read()
        if holder and holder.get("token") == self.owner["token"]:
            self.fs.rm_file(self.path)

    def __enter__(self) -> CorpusLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
