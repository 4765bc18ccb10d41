"""A small Action100M file in the published schema and value conventions, with synthetic values.

Read off `facebookresearch/Action100M` (`data/examples.parquet`, FAIR Noncommercial licence, so
no values are copied): one row per video; `video_uid` is the YouTube id; `metadata.duration` is
whole seconds, `upload_date` `YYYYMMDD`, transcript times are strings; `nodes` is a flat list
whose `node_id`s are UUIDs, the root (level 0, `parent_id` null) spans the whole video; `gpt`
is null on every leaf and on the short inner nodes, and some `gpt.action.brief` are the string
`N/A`; every node has `plm_action`, only leaves have `llama3_caption`; `level` is int16 and
`start`/`end` float32.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

NA = "N/A"
PUBLISHED_SCHEMA = pa.schema(
    [
        ("video_uid", pa.string()),
        (
            "metadata",
            pa.struct(
                [
                    ("title", pa.string()),
                    ("description", pa.string()),
                    ("view_count", pa.int64()),
                    ("like_count", pa.int64()),
                    ("duration", pa.int64()),
                    ("upload_date", pa.string()),
                    ("transcript", pa.list_(pa.struct([("time", pa.string()), ("text", pa.string())]))),
                ]
            ),
        ),
        (
            "nodes",
            pa.list_(
                pa.struct(
                    [
                        ("node_id", pa.string()),
                        ("parent_id", pa.string()),
                        ("level", pa.int16()),
                        ("start", pa.float32()),
                        ("end", pa.float32()),
                        ("plm_action", pa.string()),
                        ("plm_caption", pa.string()),
                        ("llama3_caption", pa.string()),
                        (
                            "gpt",
                            pa.struct(
                                [
                                    ("summary", pa.struct([("brief", pa.string()), ("detailed", pa.string())])),
                                    (
                                        "action",
                                        pa.struct(
                                            [("brief", pa.string()), ("detailed", pa.string()), ("actor", pa.string())]
                                        ),
                                    ),
                                ]
                            ),
                        ),
                    ]
                )
            ),
        ),
    ]
)


def _gpt(summary: str, action: str, actor: str = "the cook") -> dict[str, Any]:
    detailed = NA if action == NA else f"{action}, slowly and carefully."
    return {
        "summary": {"brief": summary, "detailed": summary + " Shot from above."},
        "action": {"brief": action, "detailed": detailed, "actor": NA if action == NA else actor},
    }


def _node(uid: str, path: str, parent: str | None, level: int, span: tuple[float, float], **texts: Any) -> dict:
    return {
        "node_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{uid}/{path}")),
        "parent_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{uid}/{parent}")) if parent is not None else None,
        "level": level,
        "start": span[0],
        "end": span[1],
        "plm_action": texts.get("plm_action"),
        "plm_caption": texts.get("plm_caption"),
        "llama3_caption": texts.get("llama3_caption"),
        "gpt": texts.get("gpt"),
    }


def _leaf(uid: str, path: str, parent: str, level: int, span: tuple[float, float], action: str) -> dict:
    return _node(
        uid,
        path,
        parent,
        level,
        span,
        plm_action=action,
        plm_caption=f"A person's hands {action.lower()} on a wooden counter.",
        llama3_caption="A wooden counter with a bowl on it.",
    )


def salad_row() -> dict[str, Any]:
    """Video 1: 48 s; root, two level-1 steps (one with a `N/A` action), a short inner node
    without `gpt`, and 7 leaves (`gpt` null, `plm_action` set)."""
    uid = "Qz3_kP9xW-a"
    nodes = [
        _node(
            uid,
            "r",
            None,
            0,
            (0.0, 48.5),
            plm_action="Make a salad",
            plm_caption="A kitchen.",
            gpt=_gpt("A cook makes a cucumber salad.", "Make cucumber salad"),
        ),
        _node(
            uid,
            "a",
            "r",
            1,
            (0.0, 6.25),
            plm_action="Show the bowl",
            plm_caption="A title card.",
            gpt=_gpt("A title card, then the empty bowl.", NA),
        ),
        _node(
            uid,
            "b",
            "r",
            1,
            (6.25, 48.5),
            plm_action="Chop the cucumber",
            plm_caption="A cook chops.",
            gpt=_gpt("The cook slices and mixes the salad.", "Slice and mix the salad"),
        ),
        _leaf(uid, "a1", "a", 2, (0.0, 3.0), "Hold up a title card"),
        _leaf(uid, "a2", "a", 2, (3.0, 6.25), "Place the bowl on the counter"),
        _node(uid, "b1", "b", 2, (6.25, 10.5), plm_action="Rinse the cucumber", plm_caption="Water runs."),
        _leaf(uid, "b11", "b1", 3, (6.25, 8.0), "Turn on the tap"),
        _leaf(uid, "b12", "b1", 3, (8.0, 10.5), "Rinse the cucumber"),
        _leaf(uid, "b2", "b", 2, (10.5, 30.75), "Slice the cucumber"),
        _leaf(uid, "b3", "b", 2, (30.75, 40.0), "Pour the dressing"),
        _leaf(uid, "b4", "b", 2, (40.0, 48.5), "Stir the salad"),
    ]
    transcript = [
        {"time": "0.03", "text": "Hello everyone,\nwelcome back."},
        {"time": "6.4", "text": "first  we  rinse  the  cucumber"},
        {"time": "11.25", "text": "then slice it thin"},
        {"time": "31.0", "text": "[Music]"},
    ]
    metadata = {
        "title": "Quick cucumber salad",
        "description": "A salad in under a minute.",
        "view_count": 12345,
        "like_count": 321,
        "duration": 48,
        "upload_date": "20190212",
        "transcript": transcript,
    }
    return {"video_uid": uid, "metadata": metadata, "nodes": nodes}


def shelf_row() -> dict[str, Any]:
    """Video 2: 20 s, no transcript; root and 3 leaves."""
    uid = "b8Tr0_LmN2c"
    nodes = [
        _node(
            uid,
            "r",
            None,
            0,
            (0.0, 20.0),
            plm_action="Build a shelf",
            plm_caption="A workshop.",
            gpt=_gpt("Someone assembles a small shelf.", "Assemble the shelf", "a woman in a grey shirt"),
        ),
        _leaf(uid, "1", "r", 1, (0.0, 7.5), "Drill a hole in the board"),
        _leaf(uid, "2", "r", 1, (7.5, 14.0), "Screw the bracket to the wall"),
        _leaf(uid, "3", "r", 1, (14.0, 20.0), "Place the board on the brackets"),
    ]
    metadata = {
        "title": "Tiny shelf",
        "description": "",
        "view_count": 87,
        "like_count": 2,
        "duration": 20,
        "upload_date": "20140110",
        "transcript": [],
    }
    return {"video_uid": uid, "metadata": metadata, "nodes": nodes}


def write_sample(path: Path) -> Path:
    """The two sample videos as a Parquet file in the published schema."""
    pq.write_table(pa.Table.from_pylist([salad_row(), shelf_row()], schema=PUBLISHED_SCHEMA), path)
    return path
