"""Per-clip annotation after a clip is written: 3D motion, retargeting, captions, labels.

Frame hooks see pixels while a clip is encoded; annotators run once the clip's mp4 and the
hooks' side files exist and work from those (keypoint tracks, the clip record, the source
video's metadata). They run in the materialisation worker, in registration order, so a later
annotator sees what earlier ones produced. Their outputs are staged beside the mp4 and their
index columns are carried into the ledger when the clip is packed into a shard.

A clip counts as annotated when its staged `meta.json` names every configured annotator at its
current stamp (version and settings, `PipelineUnit.stamp`), so a run killed between encoding and
annotating resumes with annotation only.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humannet.engine.stage import PipelineUnit
from humannet.records import Clip, Video
from humannet.storage import atomic_write_bytes

log = logging.getLogger(__name__)

META_SUFFIX = "meta.json"


@dataclass
class StagedClip:
    """A written clip and everything produced for it so far."""

    clip: Clip
    video: Video
    mp4: Path
    width: int
    height: int
    fps: float
    stamps: dict[str, str] = field(default_factory=dict)  # every configured annotator's current stamp, by name
    files: dict[str, bytes] = field(default_factory=dict)  # side files by suffix ("pose.npz", ...)
    metadata: dict[str, Any] = field(default_factory=dict)  # merged into the clip's JSON in the shard


@dataclass
class ClipAnnotation:
    """What one annotator adds to one clip."""

    files: dict[str, bytes] = field(default_factory=dict)  # stored in the shard as `{clip_id}.{suffix}`
    metadata: dict[str, Any] = field(default_factory=dict)  # merged into `{clip_id}.json`
    scores: dict[str, float] = field(default_factory=dict)  # double index columns
    labels: dict[str, str | list[str] | bool] = field(default_factory=dict)  # string, list or bool index columns
    errors: list[str] = field(default_factory=list)  # why something could not be annotated (recorded, never raised)


class ClipAnnotator(PipelineUnit):
    """A unit that works on a staged clip; `reads`/`writes` name staged files (`pose.npz`) and `metadata.<key>`."""

    @abstractmethod
    def annotate(self, staged: StagedClip) -> ClipAnnotation: ...


def read_staged_meta(mp4: Path, clip_id: str) -> dict[str, Any]:
    path = mp4.with_name(f"{clip_id}.{META_SUFFIX}")
    return json.loads(path.read_text()) if path.exists() else {}


def needs_annotation(mp4: Path, clip_id: str, stamps: dict[str, str]) -> bool:
    """`stamps`: each configured annotator's current stamp, by name."""
    return bool(stamps) and read_staged_meta(mp4, clip_id).get("annotators") != stamps


def annotate_clip(
    staged: StagedClip,
    annotators: list[ClipAnnotator],
    stamps: dict[str, str],
    timings: dict[str, float] | None = None,
) -> None:
    """Run every annotator on one staged clip, then rewrite its `meta.json` (last, atomically).

    The meta file gains `annotators` (name -> stamp), `index` (scores and labels for the
    clip index) and `annotation_errors`. An annotator that raises is recorded and skipped.
    `timings`, if given, gains the seconds each annotator spent, by name.
    """
    clip_id = staged.clip.clip_id
    folder = staged.mp4.parent
    for path in folder.glob(f"{clip_id}.*"):
        suffix = path.name[len(clip_id) + 1 :]
        if suffix not in ("mp4", META_SUFFIX):
            staged.files.setdefault(suffix, path.read_bytes())
    metadata = read_staged_meta(staged.mp4, clip_id)
    for key in ("annotators", "index", "annotation_errors"):
        metadata.pop(key, None)
    staged.metadata = metadata
    index: dict[str, dict[str, Any]] = {"scores": {}, "labels": {}}
    errors: list[str] = []
    for annotator in annotators:
        started = time.perf_counter()
        try:
            result = annotator.annotate(staged)
        except Exception as exc:  # one annotator's failure never loses the clip or the others' work
            log.debug("%s on %s: %s", annotator.name, clip_id, traceback.format_exc())
            errors.append(f"{annotator.name}: {type(exc).__name__}: {exc}")
            continue
        finally:
            if timings is not None:
                timings[annotator.name] = timings.get(annotator.name, 0.0) + time.perf_counter() - started
        for suffix, data in result.files.items():
            atomic_write_bytes(folder / f"{clip_id}.{suffix}", data)
            staged.files[suffix] = data
        staged.metadata.update(result.metadata)
        index["scores"].update(result.scores)
        index["labels"].update(result.labels)
        errors.extend(f"{annotator.name}: {message}" for message in result.errors)
    record = {
        **staged.metadata,
        "index": index,
        "annotation_errors": errors,
        "annotators": stamps,
    }
    atomic_write_bytes(
        folder / f"{clip_id}.{META_SUFFIX}", json.dumps(record, sort_keys=True, default=_json_default).encode()
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
