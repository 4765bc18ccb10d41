"""What to crawl: search queries as platform search URLs (`ytsearch20:...`), and channel or playlist URLs."""

from __future__ import annotations

import json
from pathlib import Path

from humannet import UsageError
from humannet.collect.discover import Listing


class QueryFileError(UsageError, ValueError):
    """The queries file is missing or malformed; the message names the file and line."""


def read_queries(path: Path) -> list[str]:
    """Query texts from a JSONL file written by `collect keywords expand` (`{"query": ...}` per
    line) or a plain text file (one query per line, `#` comments)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise QueryFileError(f"{path}: cannot read queries: {exc}") from exc
    queries = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if path.suffix.lower() == ".jsonl":
            try:
                text = str(json.loads(text)["query"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise QueryFileError(f"{path}: line {number}: expected a JSON object with a 'query' ({exc})") from exc
        queries.append(text)
    return list(dict.fromkeys(queries))


def search_listings(queries: list[str], prefix: str, per_query: int) -> list[Listing]:
    """One listing per query: `ytsearch20:knead dough POV` (any yt-dlp search prefix works)."""
    return [
        Listing(url=f"{prefix}{per_query}:{query}", provenance=("query", query), limit=per_query) for query in queries
    ]


def channel_listings(urls: list[str], per_channel: int) -> list[Listing]:
    """One listing per channel, playlist or page URL; entries beyond `per_channel` are left."""
    return [Listing(url=url, provenance=("channel", url), limit=per_channel) for url in urls]
