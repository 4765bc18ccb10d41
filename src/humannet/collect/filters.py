"""Source filters: decide from metadata alone whether a candidate is worth downloading.

Each check returns a reason (`filter_name: detail`) or None. Missing metadata passes, so the
same filters run on cheap flat search entries first and again on full metadata later.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from humannet.collect.settings import CollectConfig


def _any_in(needles: list[str], *haystacks: str | None) -> str | None:
    texts = [h.lower() for h in haystacks if h]
    for needle in needles:
        if any(needle.lower() in text for text in texts):
            return needle
    return None


def _domain_matches(host: str, domains: list[str]) -> bool:
    return any(host == d.lower().lstrip(".") or host.endswith("." + d.lower().lstrip(".")) for d in domains)


def _blocked_word(config: CollectConfig, meta: dict[str, Any]) -> str | None:
    text = " ".join([str(meta.get("title") or "")] + [str(t) for t in meta.get("tags") or []]).lower()
    for word in config.blocklist:
        if re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", text):
            return word
    return None


def rejection(meta: dict[str, Any], config: CollectConfig) -> str | None:
    """Why `meta` (normalised, see metadata.normalise_info) fails the source filters, or None."""
    duration = meta.get("duration_s")
    if duration is not None and duration < config.min_duration_s:
        return f"duration: {duration:.1f} s < {config.min_duration_s:g} s"
    if duration is not None and duration > config.max_duration_s:
        return f"duration: {duration:.1f} s > {config.max_duration_s:g} s"
    if meta.get("live_status") in ("is_live", "is_upcoming", "post_live"):
        return f"live: {meta['live_status']}"
    host = (urlsplit(str(meta.get("url") or "")).hostname or "").lower()
    if host and config.domain_deny and _domain_matches(host, config.domain_deny):
        return f"domain: {host} is denied"
    if host and config.domain_allow and not _domain_matches(host, config.domain_allow):
        return f"domain: {host} not in the allow-list"
    channel_fields = (meta.get("channel"), meta.get("channel_id"), meta.get("channel_url"))
    if config.channel_deny and (hit := _any_in(config.channel_deny, *channel_fields)):
        return f"channel: {hit} is denied"
    if config.channel_allow and any(channel_fields) and not _any_in(config.channel_allow, *channel_fields):
        return f"channel: {meta.get('channel') or meta.get('channel_id')} not in the allow-list"
    if config.licenses and "license" in meta and not _any_in(config.licenses, meta["license"]):
        return f"license: {meta['license']!r} not in the allow-list"
    language = str(meta.get("language") or "").lower()
    if (
        language
        and config.languages
        and not any(language == lang.lower() or language.startswith(lang.lower() + "-") for lang in config.languages)
    ):
        return f"language: {language} not in {config.languages}"
    if word := _blocked_word(config, meta):
        return f"blocklist: title or tags contain {word!r}"
    height = meta.get("height")
    if height is not None and height < config.min_height:
        return f"resolution: {height}p < {config.min_height}p"
    return None


def final_rejection(meta: dict[str, Any], config: CollectConfig) -> str | None:
    """Like `rejection`, on full metadata: now a missing licence fails a licence allow-list, and a
    channel allow-list needs a known channel."""
    if reason := rejection(meta, config):
        return reason
    if config.licenses and not meta.get("license"):
        return "license: unknown (a licence allow-list is set)"
    if config.channel_allow and not any(meta.get(k) for k in ("channel", "channel_id", "channel_url")):
        return "channel: unknown (a channel allow-list is set)"
    return None
