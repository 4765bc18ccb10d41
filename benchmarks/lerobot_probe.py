"""Run inside a virtualenv with the real `lerobot` (not humannet): write a LeRobot-native dataset with the features of
a humannet export, load both, merge them with LeRobot's own `aggregate_datasets`, load the merge; print JSON.

python lerobot_probe.py EXPORT WORKDIR

`benchmarks/lerobot_compat.py` runs it once per LeRobot version and reads the JSON it prints on its last line. It
imports nothing from humannet, so that it runs on the Python each LeRobot version needs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

NATIVE_EPISODES = 2
NATIVE_FRAMES = 12  # per episode
DEFAULT_FEATURES = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def main(argv: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    export, work = Path(argv[0]), Path(argv[1])
    from lerobot.datasets.aggregate import aggregate_datasets
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    report: dict = {"lerobot": version("lerobot"), "python": sys.version.split()[0]}
    native = work / "native"
    report["write native"] = attempt(lambda: write_native(LeRobotDataset, export, native))
    report["load export"] = attempt(lambda: load(LeRobotDataset, "local/humannet", export))
    report["load native"] = attempt(lambda: load(LeRobotDataset, "local/native", native))
    merged = work / "merged"
    report["merge"] = attempt(
        lambda: aggregate_datasets(
            ["local/native", "local/humannet"], "local/merged", roots=[native, export], aggr_root=merged
        )
    )
    report["load merged"] = attempt(lambda: load(LeRobotDataset, "local/merged", merged))
    report["native layout"] = attempt(lambda: layout(native))
    report["export layout"] = attempt(lambda: layout(export))
    print(json.dumps(report, default=str))
    return 0


def attempt(step) -> dict:
    """{"ok": True, "result": ...} or {"ok": False, "error": the exception's last line, "traceback": ...}."""
    try:
        return {"ok": True, "result": step()}
    except Exception as exc:  # the report names any failure; the other steps still run
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000], "traceback": traceback.format_exc()}


def write_native(dataset_class, export: Path, root: Path) -> dict:
    """A dataset with the export's features, fps and robot type, written with LeRobot's own writer and defaults."""
    info = json.loads((export / "meta" / "info.json").read_text())
    features = {}
    for name, feature in info["features"].items():
        if name in DEFAULT_FEATURES:
            continue
        # LeRobot's recording scripts give shapes as tuples, and 0.4 checks frames against them with ==
        features[name] = {"dtype": feature["dtype"], "shape": tuple(feature["shape"]), "names": feature["names"]}
    dataset = dataset_class.create(
        "local/native", fps=info["fps"], features=features, root=root, robot_type=info["robot_type"]
    )
    rng = np.random.default_rng(0)
    for episode in range(NATIVE_EPISODES):
        for _ in range(NATIVE_FRAMES):
            frame: dict = {"task": f"native task {episode}"}
            for name, feature in features.items():
                if feature["dtype"] in ("video", "image"):
                    frame[name] = rng.integers(0, 256, feature["shape"], dtype=np.uint8)
                else:
                    frame[name] = rng.standard_normal(feature["shape"]).astype(feature["dtype"])
            dataset.add_frame(frame)
        dataset.save_episode()
    if hasattr(dataset, "finalize"):
        dataset.finalize()
    return {"episodes": NATIVE_EPISODES, "frames": NATIVE_EPISODES * NATIVE_FRAMES}


def load(dataset_class, repo_id: str, root: Path) -> dict:
    """Open with LeRobotDataset and decode the first and last frames (video included)."""
    dataset = dataset_class(repo_id, root=root)
    first, last = dataset[0], dataset[len(dataset) - 1]
    image_keys = [key for key in dataset.meta.video_keys]
    return {
        "frames": len(dataset),
        "episodes": dataset.num_episodes,
        "tasks": len(dataset.meta.tasks),
        "first task": first.get("task"),
        "last task": last.get("task"),
        "image shape": [list(first[key].shape) for key in image_keys],
    }


def layout(root: Path) -> dict:
    """What a reference needs: info.json's features, and the Arrow types of the data, episodes and tasks tables."""
    info = json.loads((root / "meta" / "info.json").read_text())
    data = pq.read_schema(root / "data" / "chunk-000" / "file-000.parquet")
    episodes = pq.read_schema(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    tasks = pq.read_schema(root / "meta" / "tasks.parquet")
    return {
        "info keys": sorted(info),
        "features": info["features"],
        "data schema": {field.name: str(field.type) for field in data},
        "episodes schema": {field.name: str(field.type) for field in episodes},
        "tasks schema": {field.name: str(field.type) for field in tasks},
        "tasks pandas index": json.loads((tasks.metadata or {}).get(b"pandas", b"{}")).get("index_columns"),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
