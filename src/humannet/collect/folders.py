"""A local or object-store folder of self-collected video, with the licence its owner declares.

The files are not copied: each becomes a `done` pool row pointing at its path or URI, so
`humannet curate POOL` reads them where they are (through fsspec for s3://, gs:// ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from humannet import HumannetError
from humannet.collect.datasets import path_id
from humannet.collect.pool import Candidate, State


class FolderError(HumannetError, ValueError):
    """The folder cannot be listed; the message names it and says why."""


def folder_candidates(
    location: str, license: str, source: str = "self-collected", storage_options: dict[str, Any] | None = None
) -> list[Candidate]:
    """One done candidate per video file under `location` (recursive), tagged with `license`.
    `storage_options` reach fsspec for object stores (e.g. an S3-compatible `endpoint_url`)."""
    from humannet.collect.inputs import VIDEO_SUFFIXES

    if "://" in location:
        import fsspec

        try:
            fs, root = fsspec.core.url_to_fs(location, **(storage_options or {}))
            protocol = location.split("://", 1)[0]
            found = [f"{protocol}://{p}" for p in fs.find(root) if Path(p).suffix.lower() in VIDEO_SUFFIXES]
        except Exception as exc:  # no such bucket, no access, no network: name the folder and why
            raise FolderError(f"{location}: cannot list the folder: {exc}") from exc
    else:
        folder = Path(location).expanduser()
        if not folder.is_dir():
            raise FolderError(f"{location}: not a folder")
        found = [
            str(p.resolve()) for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
        ]
    if not found:
        raise FolderError(f"{location}: no video files in the folder")
    meta = {"license": license, "source": source}
    return [
        Candidate(
            id=path_id(uri),
            url=uri,
            source=source,
            state=State.DONE,
            path=uri,
            meta=dict(meta),
            provenance=[("folder", location)],
        )
        for uri in found
    ]
