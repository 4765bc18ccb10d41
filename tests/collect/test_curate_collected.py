"""Collected videos flow into the corpus: the sidecar's licence and title reach videos.parquet,
from the download folder and from the pool database alike."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console

from humannet.collect.canonical import canonical_id
from humannet.collect.download import Downloader
from humannet.collect.inputs import resolve_inputs
from humannet.collect.pool import Candidate, Pool, State
from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from tests.collect.http_server import Resource


def curate(spec: str, out: Path):
    runner = LocalRunner(workers=1)
    return Curator(load_config(), out, runner, Console(stderr=True, quiet=True), materialize=False).run(spec)


def test_a_downloaded_folder_and_its_pool_curate_with_the_sidecar_metadata(server, collect_config, tmp_path):
    page = (
        b"""<html><head><title>Signing again</title></head><body>
    <video src="/v/exo_intel_asl_sign_again.mkv">"""
        b"""<track kind="subtitles" src="/s/a.vtt" srclang="en"></video></body></html>"""
    )
    server.resources["/watch/asl.html"] = Resource(page, content_type="text/html")
    server.resources["/s/a.vtt"] = Resource(
        b"WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nagain\n", content_type="text/vtt"
    )
    urls = [server.url("/watch/asl.html"), server.url("/v/exo_mmaction2_pool_cleaning_part0.mp4")]
    metas = [{"license": "CC-BY-4.0"}, {"license": "Apache-2.0", "title": "Pool cleaning", "labels": ["cleaning"]}]
    with Pool(collect_config.pool_path) as pool:
        pool.add(
            [
                Candidate(id=canonical_id(u), url=u, source="web", state=State.QUEUED, meta=m)
                for u, m in zip(urls, metas, strict=True)
            ]
        )
    summary = Downloader(Path(collect_config.pool_path), Path(collect_config.download_dir), collect_config).run()
    assert summary.done == 2, summary.failures

    from_folder = {Path(v.uri).name: v.meta for v in resolve_inputs(collect_config.download_dir)}
    from_pool = {Path(v.uri).name: v.meta for v in resolve_inputs(collect_config.pool_path)}
    assert from_folder == from_pool and len(from_folder) == 2
    asl = next(meta for meta in from_folder.values() if meta["license"] == "CC-BY-4.0")
    assert (
        asl["title"].startswith("Signing again") and asl["narrations"][0]["text"] == "again" and asl["source"] == "web"
    )

    out = tmp_path / "corpus"
    result = curate(collect_config.download_dir, out)
    assert result.inputs == 2
    videos = {row["title"]: row for row in pq.read_table(out / "videos.parquet").to_pylist()}
    assert {title: row["license"] for title, row in videos.items() if title} == {
        asl["title"]: "CC-BY-4.0",
        "Pool cleaning": "Apache-2.0",
    }
    assert {row["source"] for row in videos.values()} == {"web"}
    assert videos[asl["title"]]["source_url"] == server.url("/watch/asl.html")
    assert videos["Pool cleaning"]["source_url"] == urls[1]

    pool_out = tmp_path / "corpus_from_pool"
    curate(collect_config.pool_path, pool_out)
    pooled = pq.read_table(pool_out / "videos.parquet").to_pylist()
    assert sorted((r["uri"], r["license"], r["title"]) for r in pooled) == sorted(
        (r["uri"], r["license"], r["title"]) for r in videos.values()
    )
