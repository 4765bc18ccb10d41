"""Subtitle and caption files (WebVTT, SRT) as timed narration lines.

Automatic captions repeat each line while the next one scrolls in; consecutive cues with the
same text are merged so a narration says each thing once. Only cues that touch in time (overlap,
or start within `ADJACENT_S` of the previous one's end) are rolling repeats: the same words said
again later are a new narration.
"""

from __future__ import annotations

import html
import re

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_ARROW = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_TAG = re.compile(r"<[^>]*>")
ADJACENT_S = 0.05  # largest gap between two cues that still makes the second a rolling repeat of the first


def _seconds(text: str) -> float | None:
    match = _TIME.fullmatch(text.strip())
    if not match:
        return None
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def parse_subtitles(text: str, source: str = "subtitles") -> list[dict[str, object]]:
    """Cues of a WebVTT or SRT document as `{"start_s", "end_s", "text", "source"}`, in time order."""
    narrations: list[dict[str, object]] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    index = 0
    while index < len(lines):
        match = _ARROW.match(lines[index])
        index += 1
        if not match:
            continue
        start, end = _seconds(match.group(1)), _seconds(match.group(2))
        body = []
        while index < len(lines) and lines[index].strip():
            body.append(lines[index])
            index += 1
        words = " ".join(html.unescape(_TAG.sub("", line)).strip() for line in body)
        words = " ".join(words.split())
        if start is None or end is None or not words:
            continue
        last = narrations[-1] if narrations else None
        if last and start <= float(last["end_s"]) + ADJACENT_S:  # type: ignore[arg-type]
            if last["text"] == words or words.startswith(str(last["text"]) + " "):
                last["end_s"], last["text"] = max(end, float(last["end_s"])), words  # type: ignore[arg-type]
                continue
            if str(last["text"]).endswith(words):
                continue
        narrations.append({"start_s": start, "end_s": end, "text": words, "source": source})
    return narrations
