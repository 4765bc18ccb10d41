"""Fixtures for the collection tests: a real HTTP server on loopback serving the sample clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from humannet.collect.settings import CollectConfig
from tests.collect.http_server import FaultyServer, Resource

SMALL_CLIPS = ("exo_mmaction2_pool_cleaning_part0.mp4", "exo_intel_asl_sign_again.mkv", "exo_sam2_coffee_pouring.mp4")


@pytest.fixture
def server(examples_dir: Path):
    """A fresh server per test (fault counters and the request log start empty) with /v/<clip> for each small sample
    clip."""
    running = FaultyServer()
    for name in SMALL_CLIPS:
        content_type = "video/x-matroska" if name.endswith(".mkv") else "video/mp4"
        running.resources[f"/v/{name}"] = Resource((examples_dir / name).read_bytes(), content_type=content_type)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def collect_config(tmp_path: Path) -> CollectConfig:
    """Settings for fast tests: short backoff, paths inside the test folder, no blocklist surprises, and downloads
    from the loopback server allowed."""
    return CollectConfig(
        pool_path=str(tmp_path / "pool.sqlite"),
        download_dir=str(tmp_path / "videos"),
        partial_dir=str(tmp_path / "partial"),
        backoff_s=0.1,
        backoff_max_s=0.5,
        workers=2,
        min_duration_s=0.5,
        allow_private_hosts=True,
    )
