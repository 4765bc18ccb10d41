"""`python -m benchmarks lerobot_compat`: how it compares what LeRobot wrote with what humannet wrote (the LeRobot
runs themselves need the real package in its own virtualenv, see docs/benchmarks.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from benchmarks.lerobot_compat import differences

REFERENCE = Path(__file__).parents[1] / "data" / "lerobot" / "lerobot-0.4.4.json"


def test_only_what_the_writer_decides_is_a_difference() -> None:
    lerobot = json.loads(REFERENCE.read_text())
    humannet = copy.deepcopy(lerobot)
    video = humannet["features"]["observation.images.main"]["info"]
    video.update({"video.height": 64, "video.width": 96, "video.fps": 30})  # follow the clip, not the writer
    assert differences(lerobot, humannet) == []

    video["is_depth_map"] = video.pop("video.is_depth_map")
    video["video.codec"] = "h264"
    humannet["episodes schema"]["stats/index/min"] = "list<element: double>"
    humannet["tasks schema"] = {"task_index": "int64", "task": "string"}
    found = differences(lerobot, humannet)
    for expected in (
        "feature observation.images.main.info['video.codec']: LeRobot 'av1', humannet 'h264'",
        "feature observation.images.main.info['video.is_depth_map']: LeRobot False, humannet '<absent>'",
        "feature observation.images.main.info['is_depth_map']: LeRobot '<absent>', humannet False",
        "episodes column stats/index/min: LeRobot list<element: int64>, humannet list<element: double>",
        "tasks column task: LeRobot <absent>, humannet string",
    ):
        assert expected in found
    assert len(found) == 6  # and the tasks index column missing on humannet's side
