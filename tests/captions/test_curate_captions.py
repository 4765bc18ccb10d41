"""`humannet curate` end to end with captions on: index columns, clip JSON in the shard, the tree
of captions, a rerun that leaves the tree unchanged, and the Action100M export from the CLI."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from rich.console import Console

from humannet.captions.schema import Caption
from humannet.cli import main
from humannet.collect.datasets import import_manifest
from humannet.collect.pool import State
from humannet.collect.settings import CollectConfig
from humannet.config import load_config
from humannet.corpus.export.action100m import read_action100m
from humannet.curate import Curator
from humannet.engine.local import LocalRunner

# Other annotators are left out: this test is about the caption wiring, and they cost minutes.
OVERRIDES = ["motion3d.enabled=false", "retarget.enabled=false", "camera_trajectory.enabled=false"]


def curate(inputs: Path, out: Path) -> None:
    config = load_config(None, OVERRIDES)
    Curator(config, out, LocalRunner(workers=1), Console(stderr=True, quiet=True)).run(str(inputs))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, examples_dir) -> Path:
    root = tmp_path_factory.mktemp("curated")
    listing = root / "inputs.jsonl"
    row = {
        "uri": str(examples_dir / "exo_intel_asl_sign_again.mkv"),
        "title": "Sign language lesson: the sign for again",
        "license": "CC-BY-4.0",
    }
    listing.write_text(json.dumps(row) + "\n")
    out = root / "corpus"
    curate(listing, out)
    return out


def test_clips_get_caption_and_taxonomy_columns_and_json(corpus):
    clips = pq.read_table(corpus / "clips").to_pylist()
    assert clips and all(row["caption_short"] and row["caption_detailed"] for row in clips)
    assert all(row["taxonomy_viewpoint"] for row in clips) and all(
        row["taxonomy_metadata_availability"] == ["text_metadata", "title"] for row in clips
    )
    assert all("gesture_communication" in row["taxonomy_interaction_style"] for row in clips)
    with tarfile.open(next((corpus / "shards").glob("*.tar"))) as tar:
        records = [json.loads(tar.extractfile(m).read()) for m in tar if m.name.endswith(".json")]
    assert len(records) == len(clips)
    for record in records:
        caption = Caption.model_validate(record["caption"])
        assert (
            caption.backend == "template" and record["taxonomy_version"] == 1 and caption.clip_id == record["clip_id"]
        )
        assert {item["axis"] for item in record["taxonomy"]} >= {"source_type", "viewpoint", "metadata_availability"}


def test_tree_of_captions_is_written_and_stable_on_rerun(corpus, examples_dir):
    trees = corpus / "captions" / "trees.parquet"
    before = trees.read_bytes()
    nodes = pq.read_table(trees).to_pylist()
    assert [n["level"] for n in nodes if n["kind"] in ("video", "scene")] == [0, 1]
    assert nodes[0]["caption_short"] == "Sign language lesson: the sign for again"
    curate(corpus.parent / "inputs.jsonl", corpus)
    assert trees.read_bytes() == before
    out = corpus.parent / "a100m.parquet"
    result = CliRunner().invoke(main, ["export", "action100m", str(corpus), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = read_action100m(out)
    assert row["metadata"]["title"] == "Sign language lesson: the sign for again"
    assert len(row["nodes"]) == len(nodes) and row["nodes"][0]["parent_id"] is None


def test_action100m_export_imports_back_to_the_curated_files_without_inventing_urls(corpus, examples_dir, tmp_path):
    out = tmp_path / "a100m.parquet"
    assert CliRunner().invoke(main, ["export", "action100m", str(corpus), "-o", str(out)]).exit_code == 0
    source = examples_dir / "exo_intel_asl_sign_again.mkv"
    # the files are the user's own, outside the export's folder: `--root` names where they may be (the trust boundary)
    used, [candidate] = import_manifest(out, CollectConfig(), root=str(examples_dir))
    assert used == "action100m" and (candidate.id, candidate.url, candidate.state, candidate.path) == (
        candidate.id,
        str(source.resolve()),
        State.DONE,
        str(source.resolve()),
    )
    assert candidate.id.startswith("path:") and "url" not in candidate.meta
    assert candidate.meta["title"] == "Sign language lesson: the sign for again"
    (row,) = read_action100m(out)
    assert row["uri"] == str(source) and row["source_url"] is None
