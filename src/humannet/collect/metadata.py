"""yt-dlp's info dicts as the normalised source metadata of the sidecar contract.

`NAME.humannet.json` beside each video holds: license, title, description, tags, channel,
source, url, upload_date, language, duration_s, narrations (plus canonical_id, view_count,
width, height and dataset labels when known). `humannet curate` reads it into `Video.meta`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from humannet.collect.canonical import GENERIC_EXTRACTORS
from humannet.storage import atomic_write_bytes

SIDECAR_SUFFIX = ".humannet.json"


def _date(value: Any) -> str | None:
    text = str(value or "")
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or None


def best_height(info: dict[str, Any]) -> int | None:
    heights = [info.get("height")] + [f.get("height") for f in info.get("formats") or [] if f.get("vcodec") != "none"]
    known = [int(h) for h in heights if isinstance(h, int | float) and h > 0]
    return max(known) if known else None


def source_name(info: dict[str, Any]) -> str:
    key = str(info.get("extractor_key") or info.get("ie_key") or "").lower()
    return "web" if key in GENERIC_EXTRACTORS else key


def normalise_info(info: dict[str, Any]) -> dict[str, Any]:
    """The contract's fields from a flat entry or a full info dict; unknown fields are left out."""
    tags = info.get("tags") or []
    meta: dict[str, Any] = {
        "license": info.get("license"),
        "title": info.get("title"),
        "description": info.get("description"),
        "tags": [str(t) for t in tags] if isinstance(tags, list) else None,
        "channel": info.get("channel") or info.get("uploader"),
        "channel_id": info.get("channel_id") or info.get("uploader_id"),
        "channel_url": info.get("channel_url") or info.get("uploader_url"),
        "source": source_name(info),
        "url": info.get("webpage_url") or info.get("original_url") or info.get("url"),
        "upload_date": _date(info.get("upload_date")),
        "language": info.get("language"),
        "duration_s": float(info["duration"]) if isinstance(info.get("duration"), int | float) else None,
        "view_count": info.get("view_count"),
        "height": best_height(info),
        "live_status": info.get("live_status") or ("is_live" if info.get("is_live") else None),
    }
    return {key: value for key, value in meta.items() if value not in (None, "", [])}


def write_sidecar(video: Path, meta: dict[str, Any]) -> Path:
    """`NAME.humannet.json` beside `video`, written atomically."""
    path = video.with_name(video.stem + SIDECAR_SUFFIX)
    atomic_write_bytes(path, json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False).encode())
    return path


def read_sidecar(video: Path) -> dict[str, Any]:
    """Metadata for `video` from `NAME.humannet.json`, falling back to the fields of yt-dlp's
    `NAME.info.json`; {} when neither exists. A broken sidecar raises ValueError naming the file."""
    meta: dict[str, Any] = {}
    info_path = video.with_name(video.stem + ".info.json")
    ours = video.with_name(video.stem + SIDECAR_SUFFIX)
    for path, convert in ((info_path, normalise_info), (ours, dict)):
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: unreadable metadata sidecar: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: metadata sidecar is not a JSON object")
        meta.update(convert(data))
    return meta
