"""A small real corpus (two bundled clips, curated with the default pipeline) shared by the corpus-use tests.

It is curated once per test run: the first module that asks builds it (`built_once`: one build for
all xdist workers), later modules reuse it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from tests.built_once import built_once

SAMPLE_VIDEOS = {  # file -> title given in the input list (the viewer searches titles)
    "exo_sam2_football_juggling.mp4": "Football juggling in a park",
    "exo_intel_asl_sign_again.mkv": "Sign language: again",
}


def sample_corpus(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Path:
    return built_once(tmp_path_factory, "sample-corpus", lambda root: _curate(root, examples_dir)) / "corpus"


def _curate(root: Path, examples_dir: Path) -> None:
    corpus = root / "corpus"
    listing = root / "inputs.csv"
    with listing.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uri", "title", "license"])
        for name, title in SAMPLE_VIDEOS.items():
            writer.writerow([str(examples_dir / name), title, "Apache-2.0"])
    config = load_config(None, [])
    Curator(config, corpus, LocalRunner(workers=2), Console(stderr=True, quiet=True)).run(str(listing))
    videos = pq.read_table(corpus / "videos.parquet").to_pylist()
    errors = pq.read_table(corpus / "errors.parquet").to_pylist()
    assert [v["status"] for v in videos] == ["kept"] * len(SAMPLE_VIDEOS), (
        f"sample corpus incomplete: {videos}, errors: {errors}"
    )
