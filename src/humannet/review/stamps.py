"""Stamps: which version and which settings of a rerunnable stage filled a record's columns.

A stage that `humannet review` can rerun alone stays out of the analysis fingerprint (changing
it must not invalidate scenes, quality or people). Instead it stamps every video it fills with
`version:config_hash`; the review command and the audit compare stamps with the current stage
to find what is out of date, and the provenance table reports them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel


def config_hash(sections: dict[str, Any]) -> str:
    """Hash of named config sections (dotted names -> dumped settings); '' when a stage reads none."""
    if not sections:
        return ""
    data = {
        name: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        for name, value in sections.items()
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def stamp(version: str, sections: dict[str, Any]) -> str:
    return f"{version}:{config_hash(sections)}"


def split_stamp(text: str) -> tuple[str, str]:
    version, _, digest = text.rpartition(":")
    return version, digest
