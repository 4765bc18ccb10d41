"""`humannet export lerobot`: robot-ready segments written in the LeRobotDataset v3.0 layout, read back and checked
against it."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from humannet.cli import main
from humannet.corpus.export.lerobot import VIDEO_KEY, export_lerobot
from humannet.corpus.reader import open_corpus
from tests.sample_corpus import sample_corpus

# LeRobot's DatasetInfo fields (lerobot/datasets/utils.py); an info.json key outside them is ignored with a warning.
INFO_KEYS = {
    "codebase_version",
    "fps",
    "features",
    "total_episodes",
    "total_frames",
    "total_tasks",
    "chunks_size",
    "data_files_size_in_mb",
    "video_files_size_in_mb",
    "data_path",
    "video_path",
    "robot_type",
    "splits",
}
DEFAULT_FEATURES = {
    "timestamp": "float32",
    "frame_index": "int64",
    "episode_index": "int64",
    "index": "int64",
    "task_index": "int64",
}
JOINTS = [f"joint_{i}" for i in range(5)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, examples_dir) -> Path:
    return sample_corpus(tmp_path_factory, examples_dir)


def synthetic_retarget(
    duration: float, valid_from: float, valid_to: float, gap: tuple[float, float] | None = None
) -> bytes:
    """A retarget.npz following the 3D annotation contract, with known trajectories: joint i = sin((i + 1) t)."""
    times = np.arange(0.0, duration, 0.1)
    valid = (times >= valid_from) & (times <= valid_to)
    if gap:
        valid &= ~((times >= gap[0]) & (times < gap[1]))
    angle = 0.2 * times
    buffer = io.BytesIO()
    np.savez(
        buffer,
        times=times,
        root_pos=np.stack([times, np.zeros_like(times), np.full_like(times, 0.9)], axis=1).astype(np.float32),
        root_quat=np.stack(
            [np.cos(angle / 2), np.zeros_like(times), np.zeros_like(times), np.sin(angle / 2)], axis=1
        ).astype(np.float32),
        joint_pos=np.stack([np.sin((i + 1) * times) for i in range(len(JOINTS))], axis=1).astype(np.float32),
        joint_names=np.array(JOINTS),
        valid=valid,
        error_mm=np.zeros_like(times, dtype=np.float32),
        model=np.array("synthetic_humanoid"),
    )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def robot_corpus(corpus, tmp_path_factory) -> tuple[Path, dict[str, tuple]]:
    """The sample corpus with synthetic retarget.npz in its shard: one clip valid throughout, one with a gap, one too
    short."""
    out = tmp_path_factory.mktemp("robot") / "corpus"
    shutil.copytree(corpus, out)
    clips = pq.read_table(out / "clips" / "part-00000.parquet")
    rows = sorted(clips.to_pylist(), key=lambda r: -r["duration_s"])
    plans = {}
    for number, row in enumerate(rows):
        d = row["duration_s"]
        plans[row["clip_id"]] = [(d, 0.0, d), (d, 0.0, d, (0.4 * d, 0.4 * d + 0.5)), (d, 0.2, 0.7)][min(number, 2)]
    shard = out / rows[0]["shard"]
    with tarfile.open(corpus / rows[0]["shard"]) as source, tarfile.open(shard, "w") as target:
        for member in source.getmembers():
            if member.name.endswith(".retarget.npz"):
                continue
            target.addfile(member, source.extractfile(member))
            clip_id, _, suffix = member.name.partition(".")
            if suffix == "json" and clip_id in plans:
                data = synthetic_retarget(*plans[clip_id])
                info = tarfile.TarInfo(f"{clip_id}.retarget.npz")
                info.size = len(data)
                target.addfile(info, io.BytesIO(data))
    ready = pa.array([True] * clips.num_rows)
    if "robot_ready" in clips.column_names:
        clips = clips.set_column(clips.schema.get_field_index("robot_ready"), "robot_ready", ready)
    else:
        clips = clips.append_column("robot_ready", ready)
    pq.write_table(clips, out / "clips" / "part-00000.parquet")
    return out, plans


def validate_layout(root: Path) -> dict:
    """Read an exported dataset back and check it against LeRobot v3.0's layout; returns what was read."""
    info = json.loads((root / "meta" / "info.json").read_text())
    assert set(info) == INFO_KEYS and info["codebase_version"] == "v3.0"
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    features = info["features"]
    for name, dtype in DEFAULT_FEATURES.items():
        assert features[name] == {"dtype": dtype, "shape": [1], "names": None}
    state = features["observation.state"]
    assert features["action"] == state and state["dtype"] == "float32" and len(state["names"]) == state["shape"][0]
    video = features[VIDEO_KEY]
    assert video["dtype"] == "video" and video["names"] == ["height", "width", "channels"]
    assert video["info"]["video.fps"] == info["fps"] and video["shape"] == [
        video["info"]["video.height"],
        video["info"]["video.width"],
        3,
    ]
    assert info["splits"] == {"train": f"0:{info['total_episodes']}"}

    episodes = pq.read_table(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert [e["episode_index"] for e in episodes] == list(range(info["total_episodes"]))
    assert episodes[0]["dataset_from_index"] == 0 and episodes[-1]["dataset_to_index"] == info["total_frames"]
    for before, after in zip(episodes, episodes[1:], strict=False):
        assert after["dataset_from_index"] == before["dataset_to_index"]
    tasks = pd.read_parquet(root / "meta" / "tasks.parquet")
    # the task text is the index (named "task" from LeRobot 0.5 on, unnamed before; the layout test checks which)
    assert list(tasks.columns) == ["task_index"] and len(tasks) == info["total_tasks"]

    frames_per_video: dict[str, int] = {}
    rows = []
    for episode in episodes:
        assert (
            episode["length"] == episode["dataset_to_index"] - episode["dataset_from_index"]
            and len(episode["tasks"]) == 1
        )
        assert episode["tasks"][0] in tasks.index
        data_path = root / info["data_path"].format(
            chunk_index=episode["data/chunk_index"], file_index=episode["data/file_index"]
        )
        video_path = info["video_path"].format(
            video_key=VIDEO_KEY,
            chunk_index=episode[f"videos/{VIDEO_KEY}/chunk_index"],
            file_index=episode[f"videos/{VIDEO_KEY}/file_index"],
        )
        span = episode[f"videos/{VIDEO_KEY}/to_timestamp"] - episode[f"videos/{VIDEO_KEY}/from_timestamp"]
        assert span == pytest.approx(episode["length"] / info["fps"])
        assert episode[f"videos/{VIDEO_KEY}/from_timestamp"] == pytest.approx(
            frames_per_video.get(video_path, 0) / info["fps"]
        )
        frames_per_video[video_path] = frames_per_video.get(video_path, 0) + episode["length"]
        assert len(episode[f"stats/{VIDEO_KEY}/mean"]) == 3 and episode["stats/observation.state/count"] == [
            episode["length"]
        ]
        table = pq.read_table(data_path)
        mine = table.filter(pa.compute.equal(table["episode_index"], episode["episode_index"])).to_pylist()
        assert [r["frame_index"] for r in mine] == list(range(episode["length"]))
        assert [r["index"] for r in mine] == list(range(episode["dataset_from_index"], episode["dataset_to_index"]))
        assert all(r["task_index"] == tasks.loc[episode["tasks"][0], "task_index"] for r in mine)
        np.testing.assert_allclose(
            [r["timestamp"] for r in mine], np.arange(episode["length"]) / info["fps"], atol=1e-6
        )
        rows.extend(mine)

    data = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet")
    assert data.schema.field("observation.state").type == pa.list_(pa.float32(), state["shape"][0])
    assert data.schema.field("action").type == pa.list_(pa.float32(), state["shape"][0])
    assert str(data.schema.field("timestamp").type) == "float"
    assert set(data.column_names) == set(features) - {VIDEO_KEY}
    import datasets  # how LeRobot loads the frames

    loaded = datasets.Dataset.from_parquet(str(root / "data" / "chunk-000" / "file-000.parquet"))
    assert loaded.features["observation.state"].length == state["shape"][0] and len(loaded) == info["total_frames"]

    for video_path, expected in frames_per_video.items():
        with av.open(str(root / video_path)) as container:
            stream = container.streams.video[0]
            decoded = sum(1 for _ in container.decode(stream))
            assert decoded == expected and stream.height == video["shape"][0] and stream.width == video["shape"][1]
    stats = json.loads((root / "meta" / "stats.json").read_text())
    assert set(stats) == set(features)
    assert np.array(stats[VIDEO_KEY]["mean"]).shape == (3, 1, 1) and stats["index"]["count"] == [info["total_frames"]]
    assert len(stats["observation.state"]["q50"]) == state["shape"][0]
    return {"info": info, "episodes": episodes, "rows": rows}


def test_export_writes_the_lerobot_v3_layout_with_retargeted_state(robot_corpus, tmp_path):
    path, plans = robot_corpus
    out = tmp_path / "lerobot"
    result = CliRunner().invoke(main, ["export", "lerobot", str(path), "-o", str(out), "--size", "96x64"])
    assert result.exit_code == 0, result.output
    read = validate_layout(out)
    info, episodes = read["info"], read["episodes"]
    assert info["fps"] == 10 and info["robot_type"] == "synthetic_humanoid"
    assert info["features"]["observation.state"]["names"] == [
        "root_x",
        "root_y",
        "root_z",
        "root_qw",
        "root_qx",
        "root_qy",
        "root_qz",
        *JOINTS,
    ]
    assert info["features"][VIDEO_KEY]["shape"] == [64, 96, 3]
    sources = json.loads((out / "meta" / "humannet.json").read_text())["episodes"]
    per_clip = {}
    for source in sources:
        per_clip.setdefault(source["clip_id"], []).append(source)
    full = next(c for c, plan in plans.items() if len(plan) == 3 and plan[1] == 0.0)
    gapped = next(c for c, plan in plans.items() if len(plan) == 4)
    short = next(c for c, plan in plans.items() if plan[1] > 0)
    assert len(per_clip[full]) == 1 and len(per_clip[gapped]) == 2 and short not in per_clip
    assert f"skipped {short}: no valid stretch" in result.output
    # the state is the retargeted trajectory at the frame times; the action is the next state
    for source in sources:
        rows = [r for r in read["rows"] if r["episode_index"] == source["episode_index"]]
        t = source["clip_start_s"] + np.arange(len(rows)) / info["fps"]
        state = np.array([r["observation.state"] for r in rows])
        np.testing.assert_allclose(state[:, 0], t, atol=1e-5)
        np.testing.assert_allclose(state[:, 7 + 2], np.sin(3 * t), atol=0.02)  # linear interpolation of 10 Hz samples
        np.testing.assert_allclose(np.linalg.norm(state[:, 3:7], axis=1), 1.0, atol=1e-5)
        action = np.array([r["action"] for r in rows])
        np.testing.assert_array_equal(action[:-1], state[1:])
        np.testing.assert_array_equal(action[-1], state[-1])
    tasks = pd.read_parquet(out / "meta" / "tasks.parquet")
    captions = pq.read_table(path / "clips").to_pydict()
    expected_tasks = {
        c for c, i in zip(captions.get("caption_short", []), captions["clip_id"], strict=True) if i in per_clip and c
    }
    assert expected_tasks <= set(tasks.index)
    assert sum(e["length"] for e in episodes) == info["total_frames"]


def test_export_of_the_real_retargeting_output(corpus, tmp_path):
    """On the corpus as curated (real retarget.npz from the 3D stage): either a valid dataset or a clear refusal."""
    opened = open_corpus(corpus)
    ready = "robot_ready" in opened.columns("clips") and any(
        opened.read("clips", ["robot_ready"]).column("robot_ready").to_pylist()
    )
    result = CliRunner().invoke(main, ["export", "lerobot", str(corpus), "-o", str(tmp_path / "real")])
    if ready:
        assert result.exit_code == 0, result.output
        validate_layout(tmp_path / "real")
    else:
        assert result.exit_code == 2 and "robot-ready" in result.output


def test_no_robot_ready_clip_exports_nothing_with_a_clear_message(robot_corpus, tmp_path):
    path, _ = robot_corpus
    none_ready = tmp_path / "none"
    shutil.copytree(path, none_ready)
    clips = pq.read_table(none_ready / "clips" / "part-00000.parquet")
    clips = clips.set_column(
        clips.schema.get_field_index("robot_ready"), "robot_ready", pa.array([False] * clips.num_rows)
    )
    pq.write_table(clips, none_ready / "clips" / "part-00000.parquet")
    result = CliRunner().invoke(main, ["export", "lerobot", str(none_ready), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no clip is robot-ready" in result.output and "nothing exported" in result.output
    assert not (tmp_path / "out").exists()

    pq.write_table(clips.drop_columns(["robot_ready"]), none_ready / "clips" / "part-00000.parquet")
    result = CliRunner().invoke(main, ["export", "lerobot", str(none_ready), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no robot_ready column" in result.output

    result = CliRunner().invoke(
        main, ["export", "lerobot", str(path), "-o", str(tmp_path / "out"), "--where", "duration_s < 0"]
    )
    assert result.exit_code == 2 and "no robot-ready clip matches" in result.output
    result = CliRunner().invoke(
        main, ["export", "lerobot", str(path), "-o", str(tmp_path / "out"), "--where", "no_such_column = 1"]
    )
    assert result.exit_code == 2 and "no_such_column" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_output_folder_in_the_way_is_refused(robot_corpus, tmp_path):
    path, _ = robot_corpus
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        export_lerobot(open_corpus(path), tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def layout_of(root: Path) -> dict:
    """The parts of a dataset that LeRobot's merge compares or concatenates, as benchmarks/lerobot_probe.py reads
    them."""
    tasks = pq.read_schema(root / "meta" / "tasks.parquet")
    return {
        "info": json.loads((root / "meta" / "info.json").read_text()),
        "data schema": {f.name: str(f.type) for f in pq.read_schema(root / "data" / "chunk-000" / "file-000.parquet")},
        "episodes schema": {
            f.name: str(f.type) for f in pq.read_schema(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
        },
        "tasks schema": {f.name: str(f.type) for f in tasks},
        "tasks pandas index": json.loads(tasks.metadata[b"pandas"])["index_columns"],
    }


@pytest.mark.parametrize(
    ("option", "reference_file"),
    [([], "lerobot-0.4.4.json"), (["--lerobot-version", "0.6"], "lerobot-0.6.1.json")],
)
def test_export_has_the_layout_that_lerobot_itself_writes(robot_corpus, tmp_path, option, reference_file):
    """Against what the real LeRobot wrote for the same features (tests/data/lerobot/README.md): LeRobot 0.4 merges
    only datasets whose features, video info included, are equal, and concatenates the episodes tables."""
    reference = json.loads((Path(__file__).parents[2] / "data" / "lerobot" / reference_file).read_text())
    out = tmp_path / "lerobot"
    result = CliRunner().invoke(
        main, ["export", "lerobot", str(robot_corpus[0]), "-o", str(out), "--size", "96x64", *option]
    )
    assert result.exit_code == 0, result.output
    mine = layout_of(out)
    assert sorted(mine["info"]) == reference["info keys"]
    features = mine["info"]["features"]
    assert set(features) == set(reference["features"])
    for name, expected in reference["features"].items():
        assert features[name]["dtype"] == expected["dtype"], name
    video, expected_video = features[VIDEO_KEY], reference["features"][VIDEO_KEY]
    assert video["names"] == expected_video["names"]
    per_file = {"video.height": 64, "video.width": 96, "video.fps": 10}  # follow the data, not the writer
    assert video["info"] == {**expected_video["info"], **per_file}
    assert list(video["info"]) == list(expected_video["info"])  # LeRobot's key order, for a byte-alike info.json

    def sized(schema: dict) -> dict:  # the state's length is the robot's, not the writer's
        return {name: re.sub(r"\[\d+\]$", "[N]", kind) for name, kind in schema.items()}

    assert sized(mine["data schema"]) == sized(reference["data schema"])
    assert mine["episodes schema"] == reference["episodes schema"]
    assert mine["tasks schema"] == reference["tasks schema"]
    assert mine["tasks pandas index"] == reference["tasks pandas index"]
    tasks = pd.read_parquet(out / "meta" / "tasks.parquet")  # the task text is the index, however it is named
    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    assert list(tasks.columns) == ["task_index"]
    assert {task for listed in episodes.column("tasks").to_pylist() for task in listed} <= set(tasks.index)
    with av.open(str(out / "videos" / VIDEO_KEY / "chunk-000" / "file-000.mp4")) as container:
        assert container.streams.video[0].codec.canonical_name == expected_video["info"]["video.codec"]
