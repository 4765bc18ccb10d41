"""The training loader over a real curated corpus: frames, keypoints, filtering, and the split over workers and
ranks."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import av
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humannet.corpus.loader import ClipLoader, ClipRef, LoaderError, assign, collate_clips, resample
from tests.sample_corpus import sample_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, examples_dir) -> Path:
    return sample_corpus(tmp_path_factory, examples_dir)


@pytest.fixture(scope="module")
def split_corpus(corpus, tmp_path_factory) -> Path:
    """The same corpus with one shard per clip (as a large corpus has), to test whole-shard splitting."""
    out = tmp_path_factory.mktemp("split") / "corpus"
    shutil.copytree(corpus, out, ignore=shutil.ignore_patterns("shard-*.tar"))
    clips = pq.read_table(out / "clips" / "part-00000.parquet")
    shards = []
    with tarfile.open(corpus / clips.column("shard")[0].as_py()) as source:
        for number, clip_id in enumerate(clips.column("clip_id").to_pylist()):
            name = f"shards/shard-{number:06d}.tar"
            with tarfile.open(out / name, "w") as target:
                for member in source.getmembers():
                    if member.name.startswith(clip_id + "."):
                        target.addfile(member, source.extractfile(member))
            shards.append(name)
    clips = clips.set_column(clips.schema.get_field_index("shard"), "shard", pa.array(shards))
    pq.write_table(clips, out / "clips" / "part-00000.parquet")
    return out


def _all_ids(corpus: Path, where: str = "true") -> list[str]:
    return [
        r[0]
        for r in duckdb.sql(f"SELECT clip_id FROM '{corpus}/clips/*.parquet' WHERE {where} ORDER BY clip_id").fetchall()
    ]


def test_frames_are_the_source_frames_nearest_each_sample_time(corpus):
    sample = next(iter(ClipLoader(corpus, fps=6.0, size=(96, 64))))
    assert sample["frames"].shape[1:] == (64, 96, 3) and sample["frames"].dtype == np.uint8
    np.testing.assert_allclose(sample["frame_times"], np.arange(len(sample["frames"])) / 6.0)
    with tarfile.open(corpus / "shards" / "shard-000000.tar") as tar:
        mp4 = tar.extractfile(f"{sample['clip_id']}.mp4").read()
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate)
        decoded = [f.reformat(width=96, height=64, format="rgb24").to_ndarray() for f in container.decode(stream)]
    assert len(sample["frames"]) == int((len(decoded) - 1) / rate * 6.0 + 0.5 / rate * 6.0) + 1
    for k in range(len(sample["frames"])):
        np.testing.assert_array_equal(sample["frames"][k], decoded[round(k / 6.0 * rate)])
    assert sample["frame_mask"].all()


def test_keypoints_are_resampled_to_the_frame_times(corpus):
    sample = next(iter(ClipLoader(corpus, fps=5.0, size=32)))
    with tarfile.open(corpus / "shards" / "shard-000000.tar") as tar:
        pose = np.load(io.BytesIO(tar.extractfile(f"{sample['clip_id']}.pose.npz").read()))
    body = sample["keypoints"]["body_image"]
    assert body.shape == (len(sample["frames"]), 33, 4) and sample["keypoints"]["hand_image"].shape[1:] == (2, 21, 3)
    expected = np.stack(
        [np.interp(sample["frame_times"], pose["times"], pose["body_image"][:, 0, c]) for c in range(4)], axis=-1
    )
    seen = ~np.isnan(expected[:, 0])
    assert seen.sum() > 3
    np.testing.assert_allclose(body[seen, 0], expected[seen], atol=1e-5)
    assert min(sample["frames"].shape[1:3]) == 32  # short side


def test_resample_never_invents_a_keypoint_next_to_a_missing_one():
    times = np.array([0.0, 1.0, 2.0, 3.0])
    values = np.array([0.0, 10.0, np.nan, 30.0])
    out = resample(times, values, np.array([-1.0, 0.5, 1.0, 1.5, 3.5]))
    np.testing.assert_allclose(out[[0, 1, 2, 4]], [0.0, 5.0, 10.0, 30.0])
    assert np.isnan(out[3])


def test_windows_captions_labels_and_where(corpus):
    where = "viewpoint IS NOT NULL AND duration_s > 3"
    samples = list(ClipLoader(corpus, fps=4.0, size=(32, 32), num_frames=6, where=where, keypoints=False))
    assert sorted({s["clip_id"] for s in samples}) == _all_ids(corpus, where)
    for sample in samples:
        assert sample["frames"].shape == (6, 32, 32, 3) and sample["keypoints"] == {}
        assert sample["labels"]["viewpoint"] in ("ego", "exo", "unknown") and "blur_score" in sample["scores"]
    starts = [s["window_start_s"] for s in samples if s["clip_id"] == samples[0]["clip_id"]]
    assert starts == [pytest.approx(i * 1.5) for i in range(len(starts))] and len(starts) >= 2
    short = list(ClipLoader(corpus, fps=4.0, size=(32, 32), num_frames=400, keypoints=False))
    assert all(s["frames"].shape[0] == 400 and 0 < s["frame_mask"].sum() < 400 for s in short)
    with pytest.raises(LoaderError, match="no_such_column"):
        ClipLoader(corpus, where="no_such_column > 1")


def test_assign_gives_every_clip_to_exactly_one_consumer():
    clips = [ClipRef(f"c{i}", f"s{i % 3}", {}) for i in range(10)]
    for consumers in (1, 2, 3, 4, 7, 12):
        taken = [c.clip_id for k in range(consumers) for c in assign(clips, k, consumers)]
        assert sorted(taken) == sorted(c.clip_id for c in clips)
    by_shard = [{c.shard for c in assign(clips, k, 3)} for k in range(3)]
    assert by_shard == [{"s0"}, {"s1"}, {"s2"}]  # enough shards: each consumer opens only its own


@pytest.mark.parametrize("fixture", ["corpus", "split_corpus"])
def test_torch_workers_and_ranks_split_without_duplicates(fixture, request):
    import torch

    from humannet.corpus.loader import ClipDataset

    path = request.getfixturevalue(fixture)
    expected = _all_ids(path)
    seen: Counter[tuple[str, float]] = Counter()
    for rank in range(2):
        dataset = ClipDataset(path, rank=rank, world_size=2, fps=4.0, size=(32, 32), num_frames=4, keypoints=False)
        loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_clips)
        for batch in loader:
            assert batch["frames"].dtype == torch.uint8 and batch["frames"].shape[1:] == (4, 32, 32, 3)
            seen.update(zip(batch["clip_id"], batch["window_start_s"].tolist(), strict=True))
    whole = Counter(
        (s["clip_id"], s["window_start_s"])
        for s in ClipLoader(path, fps=4.0, size=(32, 32), num_frames=4, keypoints=False)
    )
    assert seen == whole and max(seen.values()) == 1
    assert sorted({clip for clip, _ in seen}) == expected


def test_a_missing_shard_is_skipped_and_the_rest_is_read(split_corpus, tmp_path, caplog):
    broken = tmp_path / "corpus"
    shutil.copytree(split_corpus, broken)
    (broken / "shards" / "shard-000001.tar").unlink()
    loader = ClipLoader(broken, fps=2.0, size=(16, 16), keypoints=False, max_skipped=0.5)
    ids = {s["clip_id"] for s in loader}
    assert ids == set(_all_ids(split_corpus)) - {_all_ids(split_corpus)[1]}
    assert "shard-000001.tar" in caplog.text


def test_unreadable_shards_are_counted_and_past_max_skipped_stop_the_loader(split_corpus, tmp_path, caplog):
    broken = tmp_path / "corpus"
    shutil.copytree(split_corpus, broken)
    shard = broken / "shards" / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[:700])  # cut inside its first member, as by a failed copy
    total = len(_all_ids(split_corpus))
    loader = ClipLoader(broken, fps=2.0, size=(16, 16), keypoints=False, max_skipped=0.5)
    ids = {s["clip_id"] for s in loader}
    assert ids == set(_all_ids(split_corpus)) - {_all_ids(split_corpus)[1]}
    assert loader.skipped.clips == 1 and list(loader.skipped.shards) == [f"{broken}/shards/shard-000001.tar"]
    assert f"skipped 1 of {total} clips, 1 unreadable shards" in caplog.text
    with pytest.raises(LoaderError, match=r"skipped 1 of \d+ clips.*shard-000001.tar.*more than max_skipped=5%"):
        list(ClipLoader(broken, fps=2.0, size=(16, 16), keypoints=False))
    with pytest.raises(LoaderError, match="max_skipped is a share"):
        ClipLoader(broken, max_skipped=2)


def test_train_video_mae_example_runs_two_steps(corpus):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "train_video_mae.py"),
            str(corpus),
            "--steps",
            "2",
            "--batch-size",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    losses = [float(line.split()[3]) for line in result.stdout.splitlines() if line.startswith("step ")]
    assert len(losses) == 2 and all(np.isfinite(losses)) and losses[0] > 0


def test_several_corpora_are_read_as_one_and_their_same_named_shards_kept_apart(corpus, split_corpus):
    """Parts of a corpus curated in batches: both have a `shards/shard-000000.tar`, each is read from its own corpus."""
    parts = [corpus, split_corpus]
    both = ClipLoader(parts, fps=2.0, size=(16, 16), keypoints=False)
    assert {c.shard_key for c in both.clips} >= {(0, "shards/shard-000000.tar"), (1, "shards/shard-000000.tar")}
    read = Counter(s["clip_id"] for s in both)
    assert read == Counter(_all_ids(corpus) + _all_ids(split_corpus))  # every clip of every part, once per part
    shares = [
        Counter(s["clip_id"] for s in ClipLoader(parts, fps=2.0, size=(16, 16), keypoints=False, rank=r, world_size=3))
        for r in range(3)
    ]
    assert sum(shares, Counter()) == read and all(shares)
    with pytest.raises(LoaderError, match="no such folder"):
        ClipLoader([corpus, corpus.parent / "missing"])
