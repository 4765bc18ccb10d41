"""Listing URLs (searches, channels, playlists) -> filtered candidates in the pool.

Flat extraction first: one cheap request per listing gives lightweight entries that are
filtered on what they carry (title, duration, channel). Only entries that pass and are not in
the pool yet get their full metadata fetched, and are filtered again on it (licence,
resolution, language); each rejection is stored with its reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from humannet.collect.canonical import UnsafeURLError, check_url, info_id
from humannet.collect.extractor import ExtractionError, Extractor
from humannet.collect.filters import final_rejection, rejection
from humannet.collect.metadata import normalise_info, source_name
from humannet.collect.pool import Candidate, Pool, State
from humannet.collect.settings import CollectConfig
from humannet.records import reason_key

log = logging.getLogger(__name__)
_NESTED_DEPTH = 2  # a channel's tabs are playlists of playlists


@dataclass
class Listing:
    url: str
    provenance: tuple[str, str]  # ('query', 'knead dough POV') or ('channel', URL)
    limit: int


@dataclass
class DiscoverySummary:
    listings: int = 0
    listing_errors: list[tuple[str, str]] = field(default_factory=list)
    entries: int = 0
    new: int = 0
    queued: int = 0
    filtered: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[tuple[str, str]]:
        filtered = ", ".join(f"{k} {n}" for k, n in self.filtered.most_common()) or "0"
        return [
            ("listings", f"{self.listings} ({len(self.listing_errors)} failed)"),
            ("entries seen", str(self.entries)),
            ("new in pool", str(self.new)),
            ("queued for download", str(self.queued)),
            ("filtered", f"{sum(self.filtered.values())} ({filtered})" if self.filtered else "0"),
            ("metadata failed", str(len(self.failed))),
        ]


def _entries(info: dict[str, Any], extractor: Extractor, limit: int, depth: int = 0) -> list[dict[str, Any]]:
    if info.get("_type", "video") not in ("playlist", "multi_video"):
        return [info]
    found: list[dict[str, Any]] = []
    for entry in info.get("entries") or []:
        if len(found) >= limit:
            break
        if not isinstance(entry, dict):
            continue
        nested = entry.get("_type") in ("playlist", "multi_video") or (
            entry.get("_type") == "url" and "tab" in str(entry.get("ie_key", "")).lower()
        )
        if nested and depth < _NESTED_DEPTH:
            inner = entry if entry.get("entries") is not None else _try_flat(extractor, str(entry.get("url")))
            if inner:
                found.extend(_entries(inner, extractor, limit - len(found), depth + 1))
            continue
        found.append(entry)
    return found[:limit]


def _try_flat(extractor: Extractor, url: str) -> dict[str, Any] | None:
    try:
        return extractor.extract(url, flat=True)
    except ExtractionError as exc:
        log.warning("%s: %s", url, exc)
        return None


def entry_url(entry: dict[str, Any]) -> str:
    """The URL to fetch a flat entry by: its own URL when it is a web URL, else its page."""
    url = str(entry.get("url") or "")
    if url.startswith(("http://", "https://")):
        return url
    return str(entry.get("webpage_url") or url)


def entry_candidate(entry: dict[str, Any], provenance: tuple[str, str], config: CollectConfig) -> Candidate:
    meta = normalise_info(entry)
    url = entry_url(entry)
    candidate = Candidate(id=info_id(entry), url=url, source=source_name(entry), meta=meta, provenance=[provenance])
    try:
        check_url(url)
    except UnsafeURLError as exc:
        candidate.state, candidate.reason = State.FILTERED, f"url: {exc}"
        return candidate
    if reason := rejection(meta, config):
        candidate.state, candidate.reason = State.FILTERED, reason
    return candidate


class Discovery:
    def __init__(self, pool: Pool, extractor: Extractor, config: CollectConfig) -> None:
        self.pool = pool
        self.extractor = extractor
        self.config = config

    def crawl(
        self, listings: list[Listing], summary: DiscoverySummary, advance: Callable[[], None] = lambda: None
    ) -> None:
        """Flat-extract each listing and add its entries to the pool (new, or filtered with a reason)."""
        for listing in listings:
            summary.listings += 1
            try:
                searching = listing.provenance[0] == "query"  # `ytsearch20:...` is a yt-dlp search, not a URL
                info = self.extractor.extract(listing.url if searching else check_url(listing.url), flat=True)
                entries = _entries(info, self.extractor, listing.limit)
            except (ExtractionError, UnsafeURLError) as exc:
                summary.listing_errors.append((listing.url, str(exc)))
                log.warning("%s: %s", listing.url, exc)
                advance()
                continue
            candidates = [entry_candidate(entry, listing.provenance, self.config) for entry in entries]
            summary.entries += len(candidates)
            unique = {c.id: c for c in candidates}
            already = self.pool.known(list(unique))
            summary.new += self.pool.add(list(unique.values()))
            for candidate in unique.values():
                if candidate.id not in already and candidate.state is State.FILTERED:
                    summary.filtered[reason_key(candidate.reason)] += 1
            advance()

    def pending(self) -> list[str]:
        return [row.id for row in self.pool.rows(State.NEW)]

    def resolve(self, video_id: str, summary: DiscoverySummary) -> None:
        """Fetch a new candidate's full metadata and settle it: queued, or filtered with the reason."""
        row = self.pool.get(video_id)
        if row is None or row.state is not State.NEW:
            return
        try:
            info = self.extractor.extract(row.url, flat=False)
        except ExtractionError as exc:
            self.pool.resolve(row.id, State.FILTERED, row.meta, reason=f"unavailable: {exc}")
            summary.failed.append((row.url, str(exc)))
            summary.filtered["unavailable"] += 1
            return
        meta = {**row.meta, **normalise_info(info)}
        reason = final_rejection(meta, self.config)
        self.pool.resolve(row.id, State.FILTERED if reason else State.QUEUED, meta, reason=reason)
        if reason:
            summary.filtered[reason_key(reason)] += 1
        else:
            summary.queued += 1
