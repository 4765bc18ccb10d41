"""One ID per video, whichever query, channel or manifest found it, and file names made only from it.

A platform video is `extractor:id` with yt-dlp's extractor key (`youtube:dQw4w9WgXcQ`), so a URL
from a manifest and the same video found by search meet in one pool row. Anything yt-dlp only
knows generically is `url:` plus a hash of the normalised URL.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})
GENERIC_EXTRACTORS = frozenset({"generic", "html5mediaembed", "url", ""})
_TRACKING_PARAMS = re.compile(r"^(utm_.*|fbclid|gclid|si|feature|pp)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class UnsafeURLError(ValueError):
    """A URL the pool will not fetch: not http or https, or not a URL at all."""


def check_url(url: str) -> str:
    """The URL unchanged when it may leave the pool (http or https with a host); else UnsafeURLError."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UnsafeURLError(f"scheme {parts.scheme or '(none)'!r} refused: only http and https URLs are fetched")
    if not parts.hostname:
        raise UnsafeURLError("URL has no host")
    return url.strip()


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters, sorted query."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k))
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


def url_id(url: str) -> str:
    return "url:" + hashlib.sha256(normalise_url(url).encode()).hexdigest()[:20]


def info_id(info: dict[str, Any]) -> str:
    """Canonical ID of a yt-dlp info dict or flat entry (`ie_key`/`extractor_key` + `id`)."""
    key = str(info.get("extractor_key") or info.get("ie_key") or "").lower()
    video_id = info.get("id")
    if key in GENERIC_EXTRACTORS or not video_id:
        # several videos embedded in one page share its webpage_url: the media URL tells them apart
        media = str(info.get("url") or "")
        return url_id(
            media
            if media.startswith(("http://", "https://"))
            else str(info.get("webpage_url") or info.get("original_url") or video_id)
        )
    return f"{key}:{video_id}"


@functools.cache
def _extractors() -> list[Any]:
    from yt_dlp.extractor import gen_extractor_classes

    return [ie for ie in gen_extractor_classes() if ie.ie_key().lower() not in GENERIC_EXTRACTORS]


def canonical_id(url: str) -> str:
    """Canonical ID of a URL without any network access: yt-dlp's URL patterns give `extractor:id`."""
    for extractor in _extractors():
        try:
            if extractor.suitable(url):
                temp = extractor.get_temp_id(url)
                if temp:
                    return f"{extractor.ie_key().lower()}:{temp}"
        except Exception:  # a pattern that fails on an odd URL must not stop the others
            continue
    return url_id(url)


def file_stem(video_id: str) -> str:
    """A file name stem from a canonical ID alone: [A-Za-z0-9_-], never a path; a hash keeps
    distinct IDs distinct whenever characters had to be replaced."""
    stem = _UNSAFE.sub("_", video_id.replace(":", "_", 1))[:80]
    if _UNSAFE.sub("_", video_id.replace(":", "_", 1)) != video_id.replace(":", "_", 1) or len(video_id) > 80:
        stem += "-" + hashlib.sha256(video_id.encode()).hexdigest()[:10]
    return stem


def path_inside(folder: Path, stem: str, suffix: str) -> Path:
    """`folder/stem+suffix`, checked to stay inside `folder` (defence in depth: stems are already safe)."""
    root = folder.resolve()
    path = (root / f"{stem}{suffix}").resolve()
    if path.parent != root:
        raise UnsafeURLError(f"file name {stem!r} would leave {root}")
    return path
