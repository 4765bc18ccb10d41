"""Where search results and video metadata come from: yt-dlp live, or a recording of its output.

A recording is a JSON Lines file, one info dict per line exactly as `yt-dlp -J` prints it
(`-J --flat-playlist` for a search or channel listing). The live extractor can append to such a
file (`--record`), and the replay extractor answers from it (`--from-json`), so search and
channel crawling run and are tested without a network, and a crawl can be re-filtered later.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from humannet import HumannetError
from humannet.collect.canonical import info_id
from humannet.collect.hosts import HostLookupError, PrivateHostError, check_public_host


class ExtractionError(HumannetError, RuntimeError):
    """yt-dlp (or the recording) could not give metadata for a URL; the message says why."""


class Extractor(ABC):
    @abstractmethod
    def extract(self, url: str, flat: bool) -> dict[str, Any]:
        """Info dict for `url`: a listing of lightweight entries when `flat`, else full metadata of one video."""


class YtDlpExtractor(Extractor):
    """yt-dlp's Python API, no download. Optionally appends every answer to a recording file. Like downloads, it
    refuses URLs on non-public hosts unless `allow_private_hosts` (see collect/hosts.py)."""

    def __init__(
        self,
        socket_timeout_s: float = 30.0,
        playlist_end: int | None = None,
        record: Path | None = None,
        allow_private_hosts: bool = False,
    ) -> None:
        self.allow_private_hosts = allow_private_hosts
        self.options = {
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "skip_download": True,
            "socket_timeout": socket_timeout_s,
        }
        self.playlist_end = playlist_end
        self.record = record
        self._lock = threading.Lock()

    def extract(self, url: str, flat: bool) -> dict[str, Any]:
        import yt_dlp

        if not self.allow_private_hosts and url.startswith(("http://", "https://")):  # not `ytsearch20:...`
            try:
                check_public_host(url)
            except (PrivateHostError, HostLookupError) as exc:
                raise ExtractionError(f"host: {exc} (collect.allow_private_hosts)") from exc
        options = dict(self.options, extract_flat="in_playlist" if flat else False, noplaylist=not flat)
        if flat and self.playlist_end:
            options["playlistend"] = self.playlist_end
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.sanitize_info(ydl.extract_info(url, download=False))
        except yt_dlp.utils.YoutubeDLError as exc:
            raise ExtractionError(_clean(str(exc))) from exc
        if not isinstance(info, dict):
            raise ExtractionError("yt-dlp returned no metadata")
        info.setdefault("original_url", url)
        if self.record is not None:
            with self._lock, self.record.open("a") as handle:
                handle.write(json.dumps(info, ensure_ascii=False) + "\n")
        return info


class RecordedExtractor(Extractor):
    """Answers from a recording (see module docstring): listings by the URL asked for, videos by
    URL or by canonical ID."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_url: dict[str, dict[str, Any]] = {}
        self.by_id: dict[str, dict[str, Any]] = {}
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ExtractionError(f"{path}: cannot read the recording: {exc}") from exc
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                info = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExtractionError(f"{path}: line {number} is not JSON: {exc}") from exc
            for key in ("original_url", "webpage_url"):
                if info.get(key):
                    self.by_url.setdefault(str(info[key]), info)
            if info.get("_type", "video") == "video":
                self.by_id.setdefault(info_id(info), info)

    def extract(self, url: str, flat: bool) -> dict[str, Any]:
        info = self.by_url.get(url)
        if info is None and not flat:
            from humannet.collect.canonical import canonical_id

            info = self.by_id.get(canonical_id(url))
        if info is None:
            raise ExtractionError(f"{url}: not in the recording {self.path}")
        return info


def _clean(message: str) -> str:
    return message.removeprefix("ERROR: ").strip()
