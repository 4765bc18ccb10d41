"""`humannet stats`: every number checked against a direct read of the Parquet files and shards."""

from __future__ import annotations

import json
import math
import tarfile
from collections import Counter

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from humannet.cli import main
from humannet.corpus.stats import taxonomy_parents
from tests.usage.conftest import write_synthetic_corpus


@pytest.fixture(scope="module")
def stats(corpus) -> dict:
    result = CliRunner().invoke(main, ["stats", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_counts_and_hours_agree_with_the_index(corpus, stats):
    videos = pq.read_table(corpus / "videos.parquet").to_pylist()
    clips = pq.read_table(corpus / "clips").to_pylist()
    dropped = pq.read_table(corpus / "dropped_clips.parquet").to_pylist()
    status = Counter(v["status"] for v in videos)
    assert stats["videos"] == {
        "inputs": 3,
        "kept": status["kept"],
        "dropped": status["dropped"],
        "failed": status["failed"],
    }
    assert status["kept"] == 2 and status["dropped"] == 1
    assert stats["hours_in"] == pytest.approx(sum(v["duration_s"] for v in videos) / 3600)
    assert stats["hours_out"] == pytest.approx(sum(c["duration_s"] for c in clips) / 3600)
    assert stats["clips"] == len(clips) and stats["clips_dropped"] == len(dropped)
    assert stats["scenes"]["detected"] == sum(v["scenes"] for v in videos)
    assert stats["scenes"]["with_clips"] == len({(c["video_id"], c["scene_index"]) for c in clips})
    manifest = json.loads((corpus / "manifest.json").read_text())["counts"]
    assert stats["hours_out"] == pytest.approx(manifest["hours_out"]) and stats["clips"] == manifest["clips"]


def test_label_distributions_and_annotated_frames(corpus, stats):
    clips = pq.read_table(corpus / "clips").to_pylist()
    viewpoint = Counter(c["viewpoint"] for c in clips)
    assert {k: v["clips"] for k, v in stats["labels"]["viewpoint"].items()} == dict(viewpoint)
    motion = Counter(label for c in clips for label in c["motion_categories"] or ["(none)"])
    assert {k: v["clips"] for k, v in stats["labels"]["motion_categories"].items()} == dict(motion)
    assert stats["annotated_frames"]["index.pose_frames"]["frames"] == sum(c["pose_frames"] for c in clips)
    tracked = Counter()
    with tarfile.open(corpus / "shards" / "shard-000000.tar") as tar:
        for member in tar:
            if member.name.endswith(".json"):
                tracked.update(json.loads(tar.extractfile(member).read())["pose"])
    for key in ("pose_frames", "body_frames", "hand_frames", "two_hand_frames"):
        assert stats["annotated_frames"][f"tracks.{key}"]["frames"] == tracked[key]
    assert tracked["hand_frames"] > 0


def test_funnel_counts_drop_reasons_by_key(corpus, stats):
    videos = pq.read_table(corpus / "videos.parquet").to_pylist()
    dropped = Counter(v["reason"].split(":", 1)[0] for v in videos if v["status"] == "dropped")
    assert {k: v["count"] for k, v in stats["funnel"]["videos"]["dropped"].items()} == dict(dropped)
    assert "screen" in dropped
    funnel = stats["funnel"]["clips"]
    assert funnel["kept"]["count"] == stats["clips"]
    assert funnel["candidates_in_kept_videos"]["count"] == stats["clips"] + sum(
        v["count"] for v in funnel["dropped"].values()
    )
    assert funnel["spans_of_dropped_videos"]["count"] == 1


def test_optional_columns_are_reported_when_present_and_listed_as_absent_otherwise(corpus, stats):
    clips = pq.read_table(corpus / "clips").to_pylist()
    columns = set(clips[0])
    if "robot_ready" in columns:
        assert stats["robot_ready"]["segments"] == sum(bool(c["robot_ready"]) for c in clips)
    else:
        assert stats["robot_ready"] is None and "clips.robot_ready" in stats["absent"]
    axes = {c for c in columns if c.startswith("taxonomy_")}
    assert axes == {c for c in stats["labels"] if c.startswith("taxonomy_")}
    assert ("clips.taxonomy_<axis>" in stats["absent"]) == (not axes)


def test_an_index_without_annotation_columns_reports_them_absent(tmp_path):
    clip = {
        "clip_id": "v_0000000_0000010",
        "video_id": "v",
        "start_s": 0.0,
        "end_s": 1.0,
        "duration_s": 1.0,
        "scene_index": 0,
        "shard": None,
    }
    video = {
        "video_id": "v",
        "uri": "/v.mp4",
        "status": "kept",
        "reason": None,
        "duration_s": 2.0,
        "scenes": 1,
        "source": None,
    }
    root = write_synthetic_corpus(tmp_path / "bare", [clip], [video])
    result = CliRunner().invoke(main, ["stats", str(root), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["clips"] == 1 and stats["labels"] == {} and stats["annotated_frames"] == {}
    for name in (
        "clips.pose_frames",
        "clips.robot_ready",
        "clips.viewpoint",
        "clips.motion_categories",
        "clips.taxonomy_<axis>",
    ):
        assert name in stats["absent"]
    assert CliRunner().invoke(main, ["stats", str(root)]).exit_code == 0


def test_text_output_shows_the_tables(corpus):
    result = CliRunner().invoke(main, ["stats", str(corpus)])
    assert result.exit_code == 0
    for text in (
        "source videos",
        "viewpoint",
        "motion_categories",
        "funnel",
        "dropped: screen",
        "absent in this corpus",
    ):
        assert text in result.stdout


def test_robot_ready_taxonomy_and_environment_diversity(synthetic_corpus):
    result = CliRunner().invoke(main, ["stats", str(synthetic_corpus), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["robot_ready"] == {"segments": 100, "hours": pytest.approx(100 / 60)}
    environment = stats["labels"]["taxonomy_environment"]
    assert (
        environment["indoor"]["clips"] == 200
        and environment["kitchen"]["clips"] == 100
        and environment["(none)"]["clips"] == 100
    )
    diversity = stats["environment"]
    parents = taxonomy_parents("environment")
    leaves = {label for label in parents if label not in set(parents.values())}
    # the most specific labels: kitchen, bathroom, outdoor (100 clips each); unlabelled clips do not count
    entropy = math.log(3)
    assert diversity["categories_in_use"] == 3 and diversity["clips_labelled"] == 300
    assert diversity["entropy_nats"] == pytest.approx(entropy)
    if leaves:  # the shipped taxonomy: `outdoor` has children, so only kitchen and bathroom are leaves
        assert diversity["leaf_categories_total"] == len(leaves)
        assert diversity["leaf_categories_covered"] == len({"kitchen", "bathroom", "outdoor"} & leaves)
        assert diversity["normalised_entropy"] == pytest.approx(entropy / math.log(len(leaves)))
    else:
        assert diversity["normalised_entropy"] == pytest.approx(1.0)
