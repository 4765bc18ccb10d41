"""`humannet recaption` on a real curated corpus and a real loopback VLM server: clips whose VLM caption failed
during curate are captioned again once the server answers; every other clip, and every shard without a marked
clip, stays byte for byte; a clip that fails again stays marked for the next run."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner
from rich.console import Console

from humannet.captions.annotators import VLM_FAILED
from humannet.cli import main
from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner

from .chat_server import Behaviour, ChatServer, caption_for

# the other annotators are left out: this is about the captions, and they cost minutes
OVERRIDES = [
    "motion3d.enabled=false",
    "retarget.enabled=false",
    "camera_trajectory.enabled=false",
    "pose_tracks.enabled=false",
    "captions.backend=openai",
    "captions.openai.max_retries=0",
]


def curate(videos: list[Path], out: Path, base_url: str, cache: Path, *more: str) -> None:
    settings = [*OVERRIDES, f"captions.openai.base_url={base_url}", f"captions.openai.cache_dir={cache}", *more]
    config = load_config(None, settings)
    Curator(config, out, LocalRunner(workers=1), Console(stderr=True, quiet=True)).run(*map(str, videos))


def recaption(corpus: Path, *settings: str):
    return CliRunner().invoke(main, ["recaption", str(corpus), *(f"--set={s}" for s in settings)])


def clips(corpus: Path) -> dict[str, dict]:
    rows = pq.read_table(corpus / "clips").to_pylist()
    assert len({row["clip_id"] for row in rows}) == len(rows)
    return {row["clip_id"]: row for row in rows}


def shard_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def index_files(corpus: Path) -> dict[str, bytes]:
    names = ["clips/part-00000.parquet", "errors.parquet", "captions/trees.parquet"]
    return {name: (corpus / name).read_bytes() for name in [*names, *sorted(map(str, corpus.glob("shards/*.tar")))]}


def test_recaption_captions_only_the_clips_the_vlm_failed(tmp_path, examples_dir):
    corpus, cache = tmp_path / "corpus", tmp_path / "answers"
    coffee, sign = examples_dir / "exo_sam2_coffee_pouring.mp4", examples_dir / "exo_intel_asl_sign_again.mkv"
    coffee_id = hashlib.sha256(coffee.read_bytes()).hexdigest()[:16]  # humannet's video ID
    copy = tmp_path / "copy.mkv"  # an exact duplicate: curate drops it, and a rewritten index must not bring it back
    copy.write_bytes(sign.read_bytes())
    server = ChatServer(behaviours={coffee_id: Behaviour(always="500")}).start()
    try:  # one shard per clip: the sign-language clip is captioned, the VLM fails on the coffee clips
        curate([coffee, sign, copy], corpus, server.base_url, cache, "corpus.shard_max_clips=1")
    finally:
        server.stop()
    before, videos = clips(corpus), pq.read_table(corpus / "videos.parquet").to_pylist()
    assert sorted((v["reason"] or "").split(":")[0] for v in videos if v["uri"] in (str(sign), str(copy))) == [
        "",
        "exact_duplicate",
    ]
    failed = sorted(c for c, row in before.items() if row["caption_backend"] == VLM_FAILED)
    captioned = sorted(c for c, row in before.items() if row["caption_backend"].startswith("openai:"))
    assert len(failed) == 2 and len(captioned) == 1 and all(c.startswith(coffee_id) for c in failed)
    first, second = failed
    untouched = corpus / before[captioned[0]]["shard"]
    shard0, shard1 = untouched.read_bytes(), shard_members(corpus / before[second]["shard"])

    refused = recaption(corpus, "captions.backend=template")
    assert refused.exit_code == 2 and "the captioner configured is 'template'" in refused.output

    partly = ChatServer(behaviours={first: Behaviour(always="500")}).start()
    try:
        result = recaption(corpus, f"captions.openai.base_url={partly.base_url}")
    finally:
        partly.stop()
    assert result.exit_code == 0, result.output
    assert "re-captioned 1 of 2 clip(s)" in result.output and "still failing: 1" in result.output
    assert set(partly.requests) == set(failed)  # the clip captioned during curate is not asked again
    after = clips(corpus)
    assert pq.read_table(corpus / "videos.parquet").to_pylist() == videos
    assert after[second]["caption_backend"].startswith("openai:")
    assert after[second]["caption_short"] == caption_for(second)["short"]
    assert after[first]["caption_backend"] == VLM_FAILED
    assert after[first]["caption_short"] == before[first]["caption_short"]
    assert after[captioned[0]] == before[captioned[0]]
    assert untouched.read_bytes() == shard0  # no marked clip: not rewritten
    members = shard_members(corpus / after[second]["shard"])
    assert list(members) == list(shard1) and all(members[n] == shard1[n] for n in shard1 if not n.endswith(".json"))
    record = json.loads(members[f"{second}.json"])
    assert record["caption"]["backend"] == record["labels"]["caption_backend"] == after[second]["caption_backend"]
    assert not any(message.startswith("captions:") for message in record["annotation_errors"])
    old_record = json.loads(shard1[f"{second}.json"])
    rewritten = ("caption", "labels", "taxonomy", "annotation_errors", "annotators")
    assert {k: v for k, v in record.items() if k not in rewritten} == {
        k: v for k, v in old_record.items() if k not in rewritten
    }
    assert record["annotators"]["taxonomy"] == old_record["annotators"]["taxonomy"]
    errors = pq.read_table(corpus / "errors.parquet").to_pylist()
    assert [e["message"].split(":")[0] for e in errors if e["stage"] == "captions"] == [first]
    nodes = pq.read_table(corpus / "captions/trees.parquet").to_pylist()
    tree = {n["clip_id"]: n for n in nodes if n["kind"] == "clip"}
    assert tree[second]["caption_short"] == caption_for(second)["short"]

    answering = ChatServer().start()
    try:
        again = recaption(corpus, f"captions.openai.base_url={answering.base_url}")
        assert "re-captioned 1 of 1 clip(s)" in again.output and "still failing: 0" in again.output
        settled = index_files(corpus)
        done = recaption(corpus, f"captions.openai.base_url={answering.base_url}")
    finally:
        answering.stop()
    assert set(answering.requests) == {first}
    assert done.exit_code == 0 and "nothing to re-caption" in done.output
    assert index_files(corpus) == settled
    assert all(row["caption_backend"].startswith("openai:") for row in clips(corpus).values())
