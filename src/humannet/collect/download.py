"""Pool -> files on disk: resumable yt-dlp downloads by a bounded set of worker threads.

Each worker claims one queued row at a time, downloads it with yt-dlp (format selection,
transfer retries that resume where a connection broke, rate limit, size and duration caps),
checks the result is a decodable video, parses subtitles into narrations and writes the
`NAME.humannet.json` sidecar last: a video with a sidecar is finished. Failures go back to the
queue with exponential backoff until `max_attempts`, then are recorded as failed. Unfinished
`.part` files live in `partial_dir` and are resumed by the next run after a crash.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humannet.collect.canonical import UnsafeURLError, check_url, file_stem, path_inside
from humannet.collect.hosts import HostLookupError, PrivateHostError, check_public_host
from humannet.collect.metadata import SIDECAR_SUFFIX, normalise_info, read_sidecar, write_sidecar
from humannet.collect.pool import Pool, PoolRow, worker_name
from humannet.collect.settings import CollectConfig
from humannet.collect.subtitles import parse_subtitles

log = logging.getLogger(__name__)

# Errors no retry can fix; anything else (5xx, timeouts, dropped connections) is retried.
_PERMANENT = re.compile(
    r"unsupported url|http error (400|401|403|404|410|451)|private video|video unavailable|not available|removed|"
    r"not a video|larger than|too long|playlist|scheme|requested format|no video formats|drm",
    re.IGNORECASE,
)


class DownloadFailure(RuntimeError):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class DownloadSummary:
    done: int = 0
    already_done: int = 0
    retried: int = 0
    recovered: int = 0
    bytes: int = 0
    seconds_of_video: float = 0.0
    failed: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def lines(self) -> list[tuple[str, str]]:
        failed = ", ".join(f"{k} {n}" for k, n in self.failed.most_common())
        return [
            ("downloaded", f"{self.done} ({self.bytes / 1e6:.1f} MB, {self.seconds_of_video / 3600:.3f} h of video)"),
            ("finished before (sidecar found)", str(self.already_done)),
            ("attempts to retry later", str(self.retried)),
            ("abandoned downloads resumed", str(self.recovered)),
            ("failed for good", f"{len(self.failures)} ({failed})" if self.failures else "0"),
        ]


def backoff_s(attempt: int, config: CollectConfig) -> float:
    """Wait before attempt `attempt + 1`: backoff_s, doubled per attempt, capped at backoff_max_s."""
    return min(config.backoff_s * 2 ** max(attempt - 1, 0), config.backoff_max_s)


def _error_key(message: str) -> str:
    match = re.search(r"http error \d+", message, re.IGNORECASE)
    if match:
        return match.group(0).lower()
    return message.split(":", 1)[0].strip()[:60] or "error"


class _YtDlpLog:
    """yt-dlp's messages into logging at debug level (errors are recorded on the pool row instead),
    remembering the screen messages that explain a silent abort such as the size cap."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, message: str) -> None:
        self.messages.append(message)
        log.debug("yt-dlp: %s", message)

    info = warning = error = debug

    def size_cap_hit(self) -> bool:
        return any("larger than max-filesize" in m for m in self.messages)


class Downloader:
    def __init__(self, pool_path: Path, out_dir: Path, config: CollectConfig, workers: int | None = None) -> None:
        self.pool_path = pool_path
        self.out_dir = out_dir
        self.partial_dir = Path(config.partial_dir)
        self.config = config
        self.workers = workers or config.workers

    def run(self, on_finished: Callable[[PoolRow, str | None], None] = lambda row, error: None) -> DownloadSummary:
        """Download every queued row (waiting for due retries) with `workers` threads."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        summary = DownloadSummary()
        with Pool(self.pool_path) as pool:
            summary.recovered = pool.recover_abandoned(self.config.lease_s)
        threads = [
            threading.Thread(target=self._work, args=(summary, on_finished), daemon=True) for _ in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return summary

    def _work(self, summary: DownloadSummary, on_finished: Callable[[PoolRow, str | None], None]) -> None:
        with Pool(self.pool_path) as pool:
            while True:
                row = pool.claim(worker_name())
                if row is None:
                    due = pool.next_due()
                    if due is None:
                        return
                    time.sleep(min(max(due - time.time(), 0.05), 5.0))
                    continue
                error = self._attempt(pool, row, summary)
                on_finished(row, error)
                if self.config.sleep_between_s:
                    time.sleep(self.config.sleep_between_s)

    def _attempt(self, pool: Pool, row: PoolRow, summary: DownloadSummary) -> str | None:
        try:
            try:
                path, meta, fresh = self.fetch(row)
            except (OSError, ValueError, RuntimeError) as exc:
                if isinstance(exc, DownloadFailure):
                    raise
                raise DownloadFailure(
                    f"{type(exc).__name__}: {exc}"
                ) from exc  # disk full, unreadable sidecar ...: retried, never fatal
        except DownloadFailure as exc:
            message = str(exc)
            give_up = exc.permanent or row.attempts >= self.config.max_attempts
            if give_up:
                self._discard(row.id)
            retry_at = None if give_up else time.time() + backoff_s(row.attempts, self.config)
            pool.fail(row.id, message, retry_at)
            with summary._lock:
                if give_up:
                    summary.failed[_error_key(message)] += 1
                    summary.failures.append((row.url, message))
                else:
                    summary.retried += 1
            log.warning("%s (attempt %d): %s", row.url, row.attempts, message)
            return message
        pool.finish(row.id, str(path), meta)
        with summary._lock:
            if fresh:
                summary.done += 1
                summary.bytes += path.stat().st_size
                summary.seconds_of_video += float(meta.get("duration_s") or 0)
            else:
                summary.already_done += 1
        return None

    def fetch(self, row: PoolRow) -> tuple[Path, dict[str, Any], bool]:
        """Download one pool row; returns the video path, its sidecar metadata and whether it was
        downloaded now (False: found finished from an earlier run)."""
        try:
            url = check_url(row.url)
            stem = file_stem(row.id)
            path_inside(self.out_dir, stem, SIDECAR_SUFFIX)
        except UnsafeURLError as exc:
            raise DownloadFailure(f"url: {exc}", permanent=True) from exc
        self._check_host(url)
        finished = self._finished(stem)
        if finished is not None:
            return finished, read_sidecar(finished), False
        info = self._download(url, stem)
        path = self._downloaded_path(info, stem)
        probe = self._verify(path)
        # what the pool row already says (a manifest's declared licence and title, or search metadata) wins over the
        # download's own
        meta = {
            **normalise_info(info),
            **row.meta,
            "canonical_id": row.id,
            "width": probe.width,
            "height": probe.height,
        }
        meta["duration_s"] = meta.get("duration_s") or probe.duration_s
        narrations = list(row.meta.get("narrations") or []) + self._narrations(info)
        if narrations:
            meta["narrations"] = narrations
        write_sidecar(path, meta)
        return path, meta, True

    def _check_host(self, url: str) -> None:
        """Refuse a URL whose host is not public, unless `allow_private_hosts` (see collect/hosts.py)."""
        if self.config.allow_private_hosts:
            return
        try:
            check_public_host(url)
        except PrivateHostError as exc:
            raise DownloadFailure(
                f"host: {exc}; private, loopback and link-local hosts are refused (collect.allow_private_hosts)",
                permanent=True,
            ) from exc
        except HostLookupError as exc:
            raise DownloadFailure(f"host: {exc}") from exc

    def _discard(self, video_id: str) -> None:
        """Remove what a failed video left (metadata, subtitles, partial data): nothing half-made stays."""
        stem = file_stem(video_id)
        for folder in (self.out_dir, self.partial_dir):
            for leftover in folder.glob(f"{stem}.*"):
                if leftover.is_file():
                    leftover.unlink()

    def _finished(self, stem: str) -> Path | None:
        sidecar = self.out_dir / f"{stem}{SIDECAR_SUFFIX}"
        if not sidecar.is_file():
            return None
        from humannet.collect.inputs import VIDEO_SUFFIXES

        for candidate in sorted(self.out_dir.glob(f"{stem}.*")):
            if candidate.suffix.lower() in VIDEO_SUFFIXES and candidate.stem == stem:
                return candidate
        return None

    def _options(self, stem: str, messages: _YtDlpLog) -> dict[str, Any]:
        config = self.config
        options: dict[str, Any] = {
            "logger": messages,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "noplaylist": True,
            "format": config.format,
            "merge_output_format": "mp4",
            "outtmpl": {"default": f"{stem}.%(ext)s"},
            "paths": {"home": str(self.out_dir.resolve()), "temp": str(self.partial_dir.resolve())},
            "continuedl": True,
            "overwrites": False,
            "retries": config.retries,
            "fragment_retries": config.retries,
            "retry_sleep_functions": {"http": lambda n: min(2.0**n, 30.0), "fragment": lambda n: min(2.0**n, 30.0)},
            "socket_timeout": config.socket_timeout_s,
            "max_filesize": int(config.max_filesize_mb * 1e6),
            "writeinfojson": True,
            "allow_playlist_files": False,
        }
        if config.rate_limit_bytes:
            options["ratelimit"] = config.rate_limit_bytes
        if config.subtitles:
            options.update(
                writesubtitles=True,
                writeautomaticsub=True,
                subtitleslangs=config.subtitle_langs,
                subtitlesformat="vtt/srt/best",
            )
        return options

    def _download(self, url: str, stem: str) -> dict[str, Any]:
        import yt_dlp

        messages = _YtDlpLog()
        try:
            with yt_dlp.YoutubeDL(self._options(stem, messages)) as ydl:
                info = ydl.extract_info(url, download=False)
                if info is None:
                    raise DownloadFailure("yt-dlp returned no metadata")
                if info.get("_type") in ("playlist", "multi_video"):
                    count = len(list(info.get("entries") or []))
                    raise DownloadFailure(
                        f"playlist: the URL holds {count} videos; add it with `humannet collect channels`",
                        permanent=True,
                    )
                self._check_caps(info)
                info = ydl.process_ie_result(info, download=True)
        except yt_dlp.utils.YoutubeDLError as exc:
            message = str(exc).removeprefix("ERROR: ").strip()
            raise DownloadFailure(message, permanent=bool(_PERMANENT.search(message))) from exc
        if messages.size_cap_hit():
            raise DownloadFailure(
                f"size: the file is larger than the cap of {self.config.max_filesize_mb:g} MB", permanent=True
            )
        return info

    def _check_caps(self, info: dict[str, Any]) -> None:
        duration = info.get("duration")
        if isinstance(duration, int | float) and duration > self.config.max_duration_s:
            raise DownloadFailure(
                f"duration: {duration:.0f} s too long (cap {self.config.max_duration_s:g} s)", permanent=True
            )
        formats = info.get("requested_formats") or [info]
        for chosen in formats:
            scheme = str(chosen.get("url") or "").split(":", 1)[0].lower()
            if chosen.get("url") and scheme not in ("http", "https"):
                raise DownloadFailure(
                    f"scheme: format {chosen.get('format_id')} uses {scheme}:, only http and https are fetched",
                    permanent=True,
                )
        # a public page may point its media or subtitles at a private host
        subtitles = (info.get("requested_subtitles") or {}).values()
        for media_url in {str(item.get("url") or "") for item in [*formats, *subtitles]}:
            if media_url.startswith(("http://", "https://")):
                self._check_host(media_url)
        size = sum(int(f.get("filesize") or f.get("filesize_approx") or 0) for f in formats)
        if size > self.config.max_filesize_mb * 1e6:
            raise DownloadFailure(
                f"size: {size / 1e6:.0f} MB is larger than the cap of {self.config.max_filesize_mb:g} MB",
                permanent=True,
            )

    def _downloaded_path(self, info: dict[str, Any], stem: str) -> Path:
        downloads = info.get("requested_downloads") or []
        found = downloads[0].get("filepath") if downloads else info.get("filepath")
        if not found or not Path(found).is_file():
            raise DownloadFailure("download produced no file (size cap reached or transfer aborted)")
        path = Path(found).resolve()
        if path.parent != self.out_dir.resolve() or not path.name.startswith(stem + "."):
            raise DownloadFailure(f"yt-dlp wrote {path.name} outside the expected name", permanent=True)
        if path.stat().st_size > self.config.max_filesize_mb * 1e6:
            path.unlink()
            raise DownloadFailure(
                f"size: file is larger than the cap of {self.config.max_filesize_mb:g} MB", permanent=True
            )
        return path

    def _verify(self, path: Path) -> Any:
        from humannet.media.probe import ProbeError, probe_video

        try:
            return probe_video(str(path))
        except ProbeError as exc:
            path.unlink(missing_ok=True)
            raise DownloadFailure(f"not a video: {exc}", permanent=True) from exc

    def _narrations(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        manual = set((info.get("subtitles") or {}).keys())
        for language, track in (info.get("requested_subtitles") or {}).items():
            if not track.get("filepath"):
                continue
            filepath = self.out_dir / Path(track["filepath"]).name  # yt-dlp moved it from the temporary folder
            try:
                text = filepath.read_text(errors="replace")
            except OSError:
                continue
            lines = parse_subtitles(text, source="subtitles" if language in manual else "automatic_captions")
            if lines:
                return lines
        return []
