"""The taxonomy file, narration normalisation, keypoint sub-actions and the Action100M round trip."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from humannet.annotate.pose_tracks import npz_bytes
from humannet.captions.keypoint_motion import KeypointMotionConfig, keypoint_motion
from humannet.captions.narrations import ActivityNormaliser, Narration, NarrationProblem, aligned, read_narrations
from humannet.captions.schema import caption_json_schema
from humannet.captions.taxonomy import AXES, TaxonomyError, load_taxonomy, parse_taxonomy
from humannet.corpus.export.action100m import (
    ACTION100M_SCHEMA,
    EXPORT_SCHEMA,
    action100m_meta,
    leaf_action,
    read_action100m,
    tree_rows_to_action100m,
    video_location,
    write_action100m,
)
from tests.action100m_sample import PUBLISHED_SCHEMA, salad_row, shelf_row

from .test_annotators import EMBEDDER


def test_shipped_taxonomy_has_every_axis_deep_environment_and_motion_aligned():
    taxonomy = load_taxonomy()
    assert set(taxonomy.axes) == set(AXES) and taxonomy.version >= 1
    environment = taxonomy.axis("environment")
    assert environment.depth >= 3 and len(environment.leaves) >= 30
    assert environment.path("kitchen") == ["indoor", "home", "kitchen"]
    assert {"locomotion", "whole_body", "manipulation", "gesture", "static"} <= set(
        taxonomy.axis("motion_category").labels
    )
    assert all(label.description for axis in taxonomy.axes.values() for label in axis.labels.values())


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"axes": {}}, "integer `version`"),
        ({"version": 1, "axes": {"viewpoint": {"labels": {"ego": {"description": "x"}}}}}, "missing axes"),
        ({"version": 1, "axes": {axis: {"labels": {"Bad Name": {"description": "x"}}} for axis in AXES}}, "snake_case"),
        (
            {"version": 1, "axes": {axis: {"labels": {"a": {"description": ""}}} for axis in AXES}},
            "non-empty description",
        ),
        (
            {
                "version": 1,
                "axes": {
                    axis: {"labels": {"a": {"description": "x", "children": {"a": {"description": "y"}}}}}
                    for axis in AXES
                },
            },
            "appears twice",
        ),
    ],
)
def test_malformed_taxonomy_is_rejected_with_the_reason(broken, message, tmp_path):
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(broken, "t.yaml")
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(TaxonomyError, match="t.yaml"):
        load_taxonomy(path)


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    [
        ("#C C cuts the cucumber", "dataset", "cut:cucumber"),
        ("cut cucumber", "dataset", "cut:cucumber"),
        ("#C C picks up a knife from the counter", "dataset", "take:knife"),
        ("rinse the skillet", "dataset", "wash:pan"),
        ("C juggles the football with his feet", "dataset", "juggle:ball"),
        ("pour washing-up liquid into the frying pan", "dataset", "pour:liquid"),
        ("Speak about the dog park", "action100m", "talk:park"),
        ("so now I am slicing the onions", "subtitles", "cut:onion"),
        ("open fridge", "dataset", "open:fridge"),
    ],
)
def test_narrations_normalise_to_canonical_verb_and_noun_classes(text, source, expected):
    assert ActivityNormaliser(EMBEDDER).normalise(Narration(0.0, 1.0, text, source)).activity_class == expected


@pytest.mark.parametrize(
    ("text", "source", "reason"),
    [
        ("", "dataset", "empty"),
        ("N/A", "action100m", "empty"),
        ("!!! ???", "dataset", "no words"),
        ("x" * 500, "dataset", "too long"),
        ("切黄瓜", "dataset", "not English"),
        ("corta el pepino en rodajas", "dataset", "no English word"),
        ("hey guys welcome back to the channel", "subtitles", "speech without a known action verb"),
    ],
)
def test_unusable_narrations_say_why(text, source, reason):
    with pytest.raises(NarrationProblem, match=reason):
        ActivityNormaliser(EMBEDDER).normalise(Narration(0.0, 1.0, text, source))


def test_narrations_are_read_defensively_and_aligned_by_overlap():
    narrations, problems = read_narrations(
        {
            "narrations": [
                {"start_s": 1, "end_s": 3, "text": "a"},
                {"start_s": 5, "end_s": 4, "text": "b"},
                "junk",
                {"start_s": None, "text": "c"},
                {"start_s": 9.5, "text": "d"},
            ]
        }
    )
    assert [n.text for n in narrations] == ["a", "c", "d"] and len(problems) == 2
    assert [n.text for n, _ in aligned(narrations, 0.0, 2.0)] == ["a"]  # 1 s of a 2 s narration
    assert [n.text for n, _ in aligned(narrations, 2.5, 10.0)] == [
        "d"
    ]  # 0.5 s overlap is too little; d is a point inside
    assert read_narrations({"narrations": "oops"})[1] == ["narrations: expected a list, got str"]


def test_sub_actions_follow_pauses_in_wrist_motion_and_name_the_hand():
    """Synthetic tracks: the right wrist moves 0-1 s and 2-3 s, both wrists 4-5 s, still between."""
    times = np.arange(0, 6, 0.1)
    hand = np.full((len(times), 2, 21, 3), np.nan, dtype=np.float32)
    for t, now in enumerate(times):
        right_moving = now < 1 or 2 <= now < 3 or 4 <= now < 5
        left_moving = 4 <= now < 5
        hand[t, 1, :, 0] = 0.6 + (0.05 * np.sin(now * 20) if right_moving else 0)
        hand[t, 0, :, 0] = 0.3 + (0.05 * np.sin(now * 20) if left_moving else 0)
        hand[t, :, :, 1] = 0.7
        hand[t, :, :, 2] = 0
    arrays = {
        "frame_size": np.array([320, 240], dtype=np.int32),
        "times": times,
        "body_image": np.full((len(times), 33, 4), np.nan, dtype=np.float32),
        "hand_image": hand,
        "hand_score": np.ones((len(times), 2), dtype=np.float32),
    }
    motion = keypoint_motion(npz_bytes(arrays), KeypointMotionConfig())
    spans = [(round(a.start_s), round(a.end_s), a.hands) for a in motion.sub_actions]
    assert spans == [(0, 1, "right"), (2, 3, "right"), (4, 5, "both")]
    assert motion.body_parts == ["hands"]


def test_caption_schema_exports_json_schema():
    schema = caption_json_schema()
    assert {"short", "detailed", "subjects", "actions", "camera", "provenance"} <= set(schema["properties"])


def test_action100m_round_trip_keeps_the_published_columns_and_adds_the_source(tmp_path):
    path = tmp_path / "a.parquet"
    write_action100m(path, [salad_row(), shelf_row()])
    schema = pq.read_schema(path)
    assert schema.equals(EXPORT_SCHEMA) and pa.schema(list(schema)[:3]).equals(PUBLISHED_SCHEMA)
    assert ACTION100M_SCHEMA.equals(PUBLISHED_SCHEMA) and schema.names[3:] == ["uri", "source_url"]
    rows = read_action100m(path)
    assert rows == [{**salad_row(), "uri": None, "source_url": None}, {**shelf_row(), "uri": None, "source_url": None}]
    again = tmp_path / "b.parquet"
    write_action100m(again, rows)
    assert read_action100m(again) == rows
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"x": [1]}), bad)
    with pytest.raises(ValueError, match="missing columns"):
        read_action100m(bad)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet"):
        read_action100m(tmp_path / "junk.parquet")


def test_action100m_export_writes_published_dates_and_the_source_columns():
    meta = {"title": "Salad", "upload_date": "2019-02-12", "duration_s": 47.6, "url": "https://example.org/salad"}
    root = {"video_id": "9f2c4e1a7b3d5c6e", "node_id": "9f2c4e1a7b3d5c6e", "parent_id": None, "level": 0}
    root |= {"start": 0.0, "end": 47.6, "kind": "video", "caption_short": "Salad", "metadata": json.dumps(meta)}
    sources = {"9f2c4e1a7b3d5c6e": {"uri": "/videos/salad.mp4", "source_url": None}}
    (row,) = tree_rows_to_action100m([root], sources)
    assert (row["metadata"]["upload_date"], row["metadata"]["duration"]) == ("20190212", 48)
    assert (row["uri"], row["source_url"]) == ("/videos/salad.mp4", "https://example.org/salad")


def test_action100m_meta_of_a_published_row():
    meta = action100m_meta(salad_row())
    assert meta["url"] == "https://www.youtube.com/watch?v=Qz3_kP9xW-a" and meta["upload_date"] == "2019-02-12"
    assert (meta["title"], meta["source"], meta["duration_s"], meta["view_count"]) == (
        "Quick cucumber salad",
        "action100m",
        48.0,
        12345,
    )
    assert {"start_s": 6.4, "end_s": 11.25, "text": "first we rinse the cucumber", "source": "subtitles"} in meta[
        "narrations"
    ]
    leaf = next(n for n in meta["narrations"] if n["text"] == "Slice the cucumber")
    assert (leaf["start_s"], leaf["end_s"], leaf["source"], leaf["field"]) == (10.5, 30.75, "action100m", "plm_action")
    assert len(meta["action100m_nodes"]) == 11 and not any(n["text"] == "N/A" for n in meta["narrations"])
    # a humannet export's row: video_uid is a content hash, so only its own columns say where the video is
    exported = {**salad_row(), "video_uid": "9f2c4e1a7b3d5c6e", "uri": "/videos/salad.mp4", "source_url": None}
    assert "url" not in action100m_meta(exported) and video_location(exported) == "/videos/salad.mp4"


def test_leaf_action_prefers_gpt_then_plm_and_skips_na():
    leaf = salad_row()["nodes"][-1]
    assert leaf_action(leaf) == ("plm_action", "Stir the salad")
    gpt = {"summary": {"brief": "Stirring.", "detailed": "Stirring."}, "action": {"brief": "Stir the salad bowl"}}
    assert leaf_action({**leaf, "gpt": gpt}) == ("gpt.action.brief", "Stir the salad bowl")
    na = {**gpt, "action": {"brief": "N/A", "detailed": "N/A", "actor": "N/A"}}
    assert leaf_action({**leaf, "gpt": na}) == ("plm_action", "Stir the salad")
    assert leaf_action({**leaf, "gpt": na, "plm_action": " n/a "}) is None


def test_docs_hold_the_current_caption_schema():
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "captions.md").read_text()
    block = re.search(r"## Caption schema.*?```json\n(.*?)```", text, flags=re.DOTALL).group(1)
    assert json.loads(block) == caption_json_schema()


def test_text_labels_pick_a_clear_winner_back_off_to_a_shared_ancestor_and_abstain_on_chatter():
    from humannet.captions.text_labeller import TextLabelConfig, TextLabeller

    labeller = TextLabeller(load_taxonomy(), EMBEDDER, TextLabelConfig())

    def environment(text: str) -> list[tuple[str, str]]:
        return [(a.label, a.path) for a in labeller.label_text(text, "text:title") if a.axis == "environment"]

    assert environment("Morning run along the beach") == [("beach", "outdoor/nature/beach")]
    assert environment("Juggling a football in the park") == [
        ("urban", "outdoor/urban")
    ]  # park, playground, sports field: too close
    assert environment("hey guys welcome back to the channel, don't forget to subscribe https://example.com") == []
