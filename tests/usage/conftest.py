"""One small real corpus per session (3 bundled clips, curated with 2 workers), and a synthetic index for sampling
tests."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from tests.built_once import built_once

SAMPLE_CLIPS = ("exo_sam2_coffee_pouring.mp4", "exo_intel_asl_sign_again.mkv", "neg_marimo_screen_recording.mp4")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, examples_dir) -> Path:
    """Two kept videos (three clips) and one dropped screen recording, curated once for all xdist workers."""

    def curate(root: Path) -> None:
        listing = root / "inputs.txt"
        listing.write_text("".join(f"{examples_dir / name}\n" for name in SAMPLE_CLIPS))
        config = load_config(None, [])
        Curator(config, root / "corpus", LocalRunner(workers=2), Console(stderr=True, quiet=True)).run(str(listing))

    return built_once(tmp_path_factory, "usage-corpus", curate) / "corpus"


def write_synthetic_corpus(root: Path, clips: list[dict], videos: list[dict]) -> Path:
    """An index-only corpus (no shards) written the way curate lays it out, for sampling and statistics on known
    numbers."""
    root.mkdir(parents=True)
    (root / "clips").mkdir()
    pq.write_table(pa.Table.from_pylist(videos), root / "videos.parquet")
    pq.write_table(pa.Table.from_pylist(clips), root / "clips" / "part-00000.parquet")
    dropped = [dict(clips[0], clip_id="x_dropped", reason="blur: blur_score=0.100 < 0.2")]
    pq.write_table(pa.Table.from_pylist(dropped), root / "dropped_clips.parquet")
    errors = pa.table(
        {"uri": pa.array([], pa.string()), "video_id": pa.array([], pa.string()), "stage": pa.array([], pa.string())}
    )
    pq.write_table(errors, root / "errors.parquet")
    manifest = {
        "format_version": 1,
        "humannet_version": "test",
        "config": {"corpus": {"shard_max_clips": 500}},
        "counts": {"shards": 0},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory) -> Path:
    return write_synthetic_corpus(tmp_path_factory.mktemp("synthetic") / "corpus", *synthetic_index())


def synthetic_index() -> tuple[list[dict], list[dict]]:
    """400 one-minute clips from 40 videos in 4 sources: ego/exo x manipulation/locomotion, known environment labels."""
    videos, clips = [], []
    environments = [["indoor", "home", "kitchen"], ["indoor", "home", "bathroom"], ["outdoor"], []]
    for v in range(40):
        video_id = f"v{v:03d}"
        video = {
            "video_id": video_id,
            "uri": f"/videos/{video_id}.mp4",
            "status": "kept",
            "reason": None,
            "duration_s": 600.0,
            "scenes": 2,
        }
        videos.append(video | {"source": f"src{v % 4}"})
        for c in range(10):
            n = v * 10 + c
            clips.append(
                {
                    "clip_id": f"{video_id}_{c:07d}_{c + 1:07d}",
                    "video_id": video_id,
                    "start_s": 60.0 * c,
                    "end_s": 60.0 * (c + 1),
                    "duration_s": 60.0,
                    "scene_index": c % 2,
                    "shard": None,
                    "blur_score": 0.5,
                    "viewpoint": "ego" if v % 2 == 0 else "exo",
                    "motion_categories": ["manipulation"] if n % 3 else ["locomotion"],
                    "robot_ready": n % 4 == 0,
                    "taxonomy_environment": environments[n % 4],
                }
            )
    return clips, videos
