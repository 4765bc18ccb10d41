"""Corpora that curate and subset write load with the real Hugging Face `datasets` package (offline), including one
curated from a `uri,license,title` list where only some rows have a title and a licence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from rich.console import Console

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
datasets = pytest.importorskip("datasets")

from humannet.cli import main  # noqa: E402
from humannet.config import load_config  # noqa: E402
from humannet.curate import Curator  # noqa: E402
from humannet.engine.local import LocalRunner  # noqa: E402

LIGHT = ["humans.enabled=false", "pose_tracks.enabled=false", "privacy.face_blur=off", "captions.enabled=false"]


def load(*args, cache: Path, **kwargs):
    return datasets.load_dataset(*[str(a) for a in args], split="train", cache_dir=str(cache), **kwargs)


def test_curated_and_subset_corpora_load(corpus, tmp_path):
    clips = load(corpus, cache=tmp_path / "hf")
    assert sorted(clips["clip_id"]) == sorted(pq.read_table(corpus / "clips").column("clip_id").to_pylist())
    assert len(load(corpus, "videos", cache=tmp_path / "hf")) == pq.read_table(corpus / "videos.parquet").num_rows
    out = tmp_path / "subset"
    assert CliRunner().invoke(main, ["export", "subset", str(corpus), "-o", str(out)]).exit_code == 0
    assert load(out, cache=tmp_path / "hf")["clip_id"] == pq.read_table(out / "clips").column("clip_id").to_pylist()
    shards = load("webdataset", data_files=[str(p) for p in sorted((out / "shards").glob("*.tar"))], cache=tmp_path)
    assert sorted(shards["__key__"]) == sorted(clips["clip_id"])


def test_a_list_with_titles_and_licences_on_some_rows(examples_dir, tmp_path):
    listing = tmp_path / "inputs.csv"
    listing.write_text(
        "uri,license,title\n"
        f"{examples_dir / 'exo_sam2_coffee_pouring.mp4'},CC BY 4.0,Pouring coffee\n"
        f"{examples_dir / 'exo_intel_asl_sign_again.mkv'},,\n"
    )
    out = tmp_path / "corpus"
    config = load_config(None, LIGHT)
    Curator(config, out, LocalRunner(workers=1), Console(stderr=True, quiet=True)).run(str(listing))
    videos = {v["title"]: v for v in load(out, "videos", cache=tmp_path / "hf").to_list()}
    assert set(videos) == {"Pouring coffee", None} and videos["Pouring coffee"]["license"] == "CC BY 4.0"
    assert len(load(out, cache=tmp_path / "hf")) == pq.read_table(out / "clips").num_rows > 0
    shards = load("webdataset", data_files=[str(p) for p in sorted((out / "shards").glob("*.tar"))], cache=tmp_path)
    titles = {row["title"] for row in shards["json"]}
    assert titles == {"Pouring coffee", ""}, titles
    assert all(isinstance(row["license"], str) for row in shards["json"])
    assert json.loads((out / "manifest.json").read_text())["counts"]["clips"] == len(shards)
