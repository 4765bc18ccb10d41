"""Manifest importers (Kinetics, EPIC-KITCHENS, Ego4D, Action100M, generic) and folder imports."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humannet.collect.datasets import Columns, ManifestError, import_manifest
from humannet.collect.folders import folder_candidates
from humannet.collect.pool import Pool, State
from humannet.collect.settings import CollectConfig
from tests.action100m_sample import PUBLISHED_SCHEMA, salad_row, shelf_row, write_sample
from tests.moto_s3 import moto_s3

HUMANNET = str(Path(sys.executable).parent / "humannet")
CONFIG = CollectConfig()


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def by_id(candidates):
    return {c.id: c for c in candidates}


def test_kinetics_csv_becomes_youtube_candidates_with_labelled_segments(tmp_path):
    manifest = write_csv(
        tmp_path / "kinetics700_val.csv",
        [
            {"label": "kneading dough", "youtube_id": "abcdefghijk", "time_start": 10, "time_end": 20, "split": "val"},
            {"label": "cutting onions", "youtube_id": "abcdefghijk", "time_start": 40, "time_end": 50, "split": "val"},
            {"label": "juggling balls", "youtube_id": "zyxwvutsrqp", "time_start": 0, "time_end": 10, "split": "val"},
        ],
    )
    used, candidates = import_manifest(manifest, CONFIG)
    assert used == "kinetics"
    found = by_id(candidates)
    assert set(found) == {"youtube:abcdefghijk", "youtube:zyxwvutsrqp"}
    dough = found["youtube:abcdefghijk"]
    assert (
        dough.state is State.QUEUED
        and dough.url == "https://www.youtube.com/watch?v=abcdefghijk"
        and dough.source == "kinetics"
    )
    assert dough.meta["labels"] == ["kneading dough", "cutting onions"]
    assert dough.meta["narrations"] == [
        {"start_s": 10.0, "end_s": 20.0, "text": "kneading dough", "source": "dataset"},
        {"start_s": 40.0, "end_s": 50.0, "text": "cutting onions", "source": "dataset"},
    ]
    assert dough.provenance == [("manifest", str(manifest))]


def test_epic_kitchens_narrations_point_at_local_videos(tmp_path, examples_dir):
    root = tmp_path / "EPIC-KITCHENS"
    (root / "P01" / "videos").mkdir(parents=True)
    shutil.copy(examples_dir / "exo_sam2_coffee_pouring.mp4", root / "P01" / "videos" / "P01_01.MP4")
    row = {
        "narration_id": "P01_01_0",
        "participant_id": "P01",
        "video_id": "P01_01",
        "narration_timestamp": "00:00:01.089",
    }
    rows = [
        {
            **row,
            "start_timestamp": "00:00:00.14",
            "stop_timestamp": "00:00:03.37",
            "narration": "open door",
            "verb": "open",
            "noun": "door",
        },
        {
            **row,
            "narration_id": "P01_01_1",
            "start_timestamp": "00:00:04.37",
            "stop_timestamp": "00:00:06.17",
            "narration": "pour coffee",
            "verb": "pour",
            "noun": "coffee",
        },
        {
            **row,
            "narration_id": "P01_02_0",
            "video_id": "P01_02",
            "start_timestamp": "00:01:00.00",
            "stop_timestamp": "00:01:02.50",
            "narration": "take cup",
        },
    ]
    manifest = write_csv(tmp_path / "EPIC_100_train.csv", rows)
    with pytest.raises(ManifestError, match="--root"):
        import_manifest(manifest, CONFIG)
    used, candidates = import_manifest(manifest, CONFIG, root=str(root))
    assert used == "epic"
    states = {Path(c.url).name: (c.state, c.reason) for c in candidates}
    assert states == {"P01_01.MP4": (State.DONE, None), "P01_02.MP4": (State.FILTERED, "missing: file not found")}
    done = next(c for c in candidates if c.state is State.DONE)
    assert done.path == str((root / "P01" / "videos" / "P01_01.MP4").resolve())
    assert done.meta["license"] == "CC-BY-NC-4.0" and done.meta["source"] == "epic-kitchens"
    assert [(n["start_s"], n["end_s"], n["text"]) for n in done.meta["narrations"]] == [
        (0.14, 3.37, "open door"),
        (4.37, 6.17, "pour coffee"),
    ]
    assert done.meta["labels"] == ["open", "door", "pour", "coffee"]


def test_ego4d_json_metadata_and_narrations(tmp_path, examples_dir):
    root = tmp_path / "full_scale"
    root.mkdir()
    shutil.copy(examples_dir / "exo_intel_asl_sign_again.mkv", root / "uid-1.mp4")
    narrations = {
        "uid-1": {
            "narration_pass_1": {"narrations": [{"timestamp_sec": 1.5, "narration_text": "#C C opens the fridge"}]}
        }
    }
    manifest = tmp_path / "narration.json"
    manifest.write_text(json.dumps(narrations))
    used, [candidate] = import_manifest(manifest, CONFIG, root=str(root), license="Ego4D license")
    assert used == "ego4d" and candidate.state is State.DONE and candidate.meta["license"] == "Ego4D license"
    assert candidate.meta["narrations"] == [
        {"start_s": 1.5, "end_s": 1.5, "text": "#C C opens the fridge", "source": "dataset"}
    ]
    metadata = tmp_path / "ego4d.json"
    metadata.write_text(
        json.dumps({"videos": [{"video_uid": "uid-1", "duration_sec": 2.6, "scenarios": ["Cooking", "Cleaning"]}]})
    )
    _, [described] = import_manifest(metadata, CONFIG, root=str(root))
    assert described.meta["labels"] == ["Cooking", "Cleaning"] and described.id == candidate.id


def test_action100m_import_keeps_the_tree_the_transcript_and_the_metadata(tmp_path):
    used, candidates = import_manifest(write_sample(tmp_path / "action100m.parquet"), CONFIG)
    salad, shelf = by_id(candidates)["youtube:Qz3_kP9xW-a"], by_id(candidates)["youtube:b8Tr0_LmN2c"]
    assert used == "action100m" and salad.state is State.QUEUED and shelf.state is State.QUEUED
    assert salad.url == "https://www.youtube.com/watch?v=Qz3_kP9xW-a"
    meta = salad.meta
    assert (meta["title"], meta["source"], meta["url"]) == ("Quick cucumber salad", "action100m", salad.url)
    assert (meta["duration_s"], meta["upload_date"], meta["view_count"], meta["like_count"]) == (
        48.0,
        "2019-02-12",
        12345,
        321,
    )
    # every published node is kept as the tree, with its level, span and each model's text
    nodes = {n["node_id"]: n for n in meta["action100m_nodes"]}
    assert nodes == {n["node_id"]: n for n in salad_row()["nodes"]}
    root = next(n for n in nodes.values() if n["parent_id"] is None)
    assert (root["level"], root["end"], root["gpt"]["action"]["brief"]) == (0, 48.5, "Make cucumber salad")
    # narrations: the transcript as subtitles, and one action per leaf (gpt null there: plm_action)
    subtitles = [(n["start_s"], n["end_s"], n["text"]) for n in meta["narrations"] if n["source"] == "subtitles"]
    assert subtitles == [
        (0.03, 6.4, "Hello everyone, welcome back."),
        (6.4, 11.25, "first we rinse the cucumber"),
        (11.25, 31.0, "then slice it thin"),
        (31.0, 31.0, "[Music]"),
    ]
    actions = [n for n in meta["narrations"] if n["source"] == "action100m"]
    assert [(n["start_s"], n["end_s"], n["text"], n["field"]) for n in actions[:2]] == [
        (0.0, 3.0, "Hold up a title card", "plm_action"),
        (3.0, 6.25, "Place the bowl on the counter", "plm_action"),
    ]
    assert len(actions) == 7 and all(nodes[n["node_id"]]["gpt"] is None for n in actions)
    texts = [n["text"] for n in meta["narrations"]]
    assert "Make a salad" not in texts and "Make cucumber salad" not in texts  # the whole-video root
    assert "N/A" not in texts and "Rinse the cucumber" in texts and "Show the bowl" not in texts
    assert [n["text"] for n in shelf.meta["narrations"]] == [
        "Drill a hole in the board",
        "Screw the bracket to the wall",
        "Place the board on the brackets",
    ]


def test_action100m_json_sample_in_columns_imports_like_the_parquet(tmp_path):
    row = salad_row()
    columns = tmp_path / "Qz3_kP9xW-a.json"
    columns.write_text(json.dumps({key: [value] for key, value in row.items()}))
    used, [candidate] = import_manifest(columns, CONFIG)
    _, parquet = import_manifest(write_sample(tmp_path / "action100m.parquet"), CONFIG)
    assert used == "action100m" and candidate.id == "youtube:Qz3_kP9xW-a"
    assert candidate.meta["narrations"] == by_id(parquet)[candidate.id].meta["narrations"]


def test_action100m_row_without_a_youtube_id_or_source_gets_no_url(tmp_path):
    row = {**shelf_row(), "video_uid": "9f2c4e1a7b3d5c6e"}  # a content hash, not a YouTube id
    manifest = tmp_path / "hashes.parquet"
    pq.write_table(pa.Table.from_pylist([row], schema=PUBLISHED_SCHEMA), manifest)
    _, [candidate] = import_manifest(manifest, CONFIG)
    assert candidate.state is State.FILTERED and "://" not in candidate.url and "url" not in candidate.meta
    assert candidate.reason == "manifest: row without a URL or path"


def test_generic_jsonl_refuses_other_schemes_and_names_missing_columns(tmp_path):
    manifest = tmp_path / "mine.jsonl"
    lines = [
        {
            "video_url": "https://example.com/a.mp4",
            "caption": "a person folds a towel",
            "start": "0:05",
            "end": "0:09",
            "licence": "CC-BY-4.0",
        },
        {"video_url": "file:///etc/passwd"},
        {"video_url": "ftp://example.com/b.mp4"},
        {"video_url": "s3://bucket/clips/c.mp4", "label": "sweeping"},
        {"video_url": ""},
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    used, candidates = import_manifest(manifest, CONFIG)
    assert used == "generic"
    result = [(c.state.value, (c.reason or "").split(":")[0]) for c in candidates]
    assert result == [
        ("queued", ""),
        ("filtered", "url"),
        ("filtered", "url"),
        ("filtered", "location"),  # an object the manifest names outside --root
        ("filtered", "manifest"),
    ]
    first = candidates[0]
    assert first.meta["license"] == "CC-BY-4.0" and first.meta["narrations"] == [
        {"start_s": 5.0, "end_s": 9.0, "text": "a person folds a towel", "source": "dataset"}
    ]
    assert candidates[3].path is None and candidates[3].meta["labels"] == ["sweeping"]
    _, under_root = import_manifest(manifest, CONFIG, root="s3://bucket/clips")
    assert under_root[3].state is State.DONE and under_root[3].path == "s3://bucket/clips/c.mp4"
    odd = tmp_path / "odd.csv"
    odd.write_text("link,name\nhttps://example.com/x.mp4,x\n")
    with pytest.raises(ManifestError, match="no URL or path column"):
        import_manifest(odd, CONFIG)
    _, [named] = import_manifest(odd, CONFIG, columns=Columns(location="link"))
    assert named.url == "https://example.com/x.mp4"


def test_a_manifest_may_name_files_only_under_root_or_beside_it(tmp_path, examples_dir):
    beside = tmp_path / "dataset"
    beside.mkdir()
    shutil.copy(examples_dir / "exo_intel_asl_sign_again.mkv", beside / "inside.mkv")
    (tmp_path / "secret.mp4").write_bytes(b"not for the corpus")
    manifest = beside / "third_party.jsonl"
    locations = ["inside.mkv", "../secret.mp4", str(tmp_path / "secret.mp4"), "/etc/hostname", "s3://other/x.mp4"]
    manifest.write_text("".join(json.dumps({"path": p}) + "\n" for p in locations))
    _, candidates = import_manifest(manifest, CONFIG)
    assert [(c.state, (c.reason or "").split(":")[0]) for c in candidates] == [(State.DONE, "")] + [
        (State.FILTERED, "location")
    ] * 4
    assert candidates[1].path is None and "collect.allow_manifest_paths" in candidates[1].reason
    assert candidates[3].reason.startswith(f"location: /etc/hostname is outside {beside.resolve()};")
    trusting = CONFIG.model_copy(update={"allow_manifest_paths": True})
    _, allowed = import_manifest(manifest, trusting)
    assert [c.state for c in allowed] == [State.DONE, State.DONE, State.DONE, State.DONE, State.DONE]
    assert allowed[1].path == str((tmp_path / "secret.mp4").resolve())

    epic = write_csv(
        tmp_path / "EPIC_100_train.csv",
        [
            {
                "narration_id": "x",
                "video_id": "../../secret",
                "participant_id": "..",
                "start_timestamp": "00:00:01.00",
                "stop_timestamp": "00:00:02.00",
                "narration": "escape",
            }
        ],
    )
    _, [escaped] = import_manifest(epic, CONFIG, root=str(beside))
    assert escaped.state is State.FILTERED and escaped.reason.startswith("location:")


def test_folder_import_needs_a_licence_and_curates_from_the_pool(tmp_path, examples_dir):
    folder = tmp_path / "my_recordings"
    (folder / "day1").mkdir(parents=True)
    shutil.copy(examples_dir / "exo_mmaction2_pool_cleaning_part0.mp4", folder / "day1" / "a.mp4")
    (folder / "notes.txt").write_text("not a video")
    [candidate] = folder_candidates(str(folder), "CC-BY-4.0")
    assert candidate.state is State.DONE and candidate.meta == {"license": "CC-BY-4.0", "source": "self-collected"}
    pool_path = tmp_path / "pool.sqlite"
    refused = subprocess.run(
        [HUMANNET, "collect", "import", str(folder), "--pool", str(pool_path)], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--license" in refused.stderr
    done = subprocess.run(
        [HUMANNET, "collect", "import", str(folder), "--license", "CC-BY-4.0", "--pool", str(pool_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with Pool(pool_path) as pool:
        [row] = pool.rows()
    assert row.state is State.DONE and row.path == str((folder / "day1" / "a.mp4").resolve())
    from humannet.collect.inputs import resolve_inputs

    [video] = resolve_inputs(str(pool_path))
    assert video.uri == row.path and video.meta["license"] == "CC-BY-4.0"


def test_object_store_folder_import_lists_videos_where_they_are(tmp_path, examples_dir):
    with moto_s3() as (endpoint, client):
        client.create_bucket(Bucket="recordings")
        client.upload_file(str(examples_dir / "exo_mmaction2_pool_cleaning_part0.mp4"), "recordings", "lab/day1/a.mp4")
        client.put_object(Bucket="recordings", Key="lab/readme.txt", Body=b"notes")
        pool_path = tmp_path / "pool.sqlite"
        command = [
            HUMANNET,
            "collect",
            "import",
            "s3://recordings/lab",
            "--license",
            "CC0-1.0",
            "--pool",
            str(pool_path),
        ]
        result = subprocess.run(
            [*command, "--set", f'storage.options={{endpoint_url="{endpoint}"}}'], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        with Pool(pool_path) as pool:
            [row] = pool.rows()
            assert pool.provenance(row.id) == [("folder", "s3://recordings/lab")]
        assert (row.state, row.path, row.meta["license"]) == (State.DONE, "s3://recordings/lab/day1/a.mp4", "CC0-1.0")
        empty = subprocess.run(
            [
                *command[:3],
                "s3://recordings/nothing-here",
                *command[4:],
                "--set",
                f'storage.options={{endpoint_url="{endpoint}"}}',
            ],
            capture_output=True,
            text=True,
        )
        assert empty.returncode == 2 and "no video files" in empty.stderr
