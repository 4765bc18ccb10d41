"""`humannet export subset`: filtered, weighted, capped, reproducible samples written as corpora of their own."""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from humannet.cli import main
from humannet.corpus.reader import open_corpus

MIXTURE = """
seed: 7
components:
  - name: ego_manipulation
    match: {viewpoint: ego, motion_categories: manipulation}
    weight: 60
  - name: exo_locomotion
    where: "viewpoint = 'exo' AND list_contains(motion_categories, 'locomotion')"
    weight: 40
"""


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def clip_ids(corpus: Path) -> list[str]:
    return pq.read_table(corpus / "clips", columns=["clip_id"]).column("clip_id").to_pylist()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_copied_subset_is_a_corpus_with_exactly_the_chosen_clips(corpus, tmp_path):
    out = tmp_path / "subset"
    result = run("export", "subset", corpus, "--where", "list_contains(motion_categories, 'manipulation')", "-o", out)
    assert result.exit_code == 0, result.output
    source = pq.read_table(corpus / "clips").to_pylist()
    wanted = sorted(c["clip_id"] for c in source if "manipulation" in (c["motion_categories"] or []))
    assert wanted and clip_ids(out) == wanted
    members = set()
    for shard in (out / "shards").glob("*.tar"):
        with tarfile.open(shard) as tar:
            members |= set(tar.getnames())
    with tarfile.open(corpus / "shards" / "shard-000000.tar") as tar:
        expected = {name for name in tar.getnames() if name.split(".", 1)[0] in wanted}
    assert members == expected and any(m.endswith(".mp4") for m in members)
    opened = open_corpus(out)
    for clip_id, shard in opened.connect().sql("SELECT clip_id, shard FROM clips").fetchall():
        assert json.loads(opened.read_member(shard, f"{clip_id}.json"))["clip_id"] == clip_id
    stats = json.loads(run("stats", out, "--json").stdout)
    assert stats["clips"] == len(wanted)
    assert stats["videos"]["inputs"] == len({c["video_id"] for c in source if c["clip_id"] in wanted})
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["subset"]["mode"] == "copy" and manifest["counts"]["clips"] == len(wanted)


def test_reference_subset_points_into_the_source_shards(corpus, tmp_path):
    out = tmp_path / "ref"
    result = run("export", "subset", corpus, "--clips", "2", "--seed", "1", "--reference", "-o", out)
    assert result.exit_code == 0, result.output
    assert not (out / "shards").exists()
    opened = open_corpus(out)
    rows = opened.connect().sql("SELECT clip_id, shard FROM clips").fetchall()
    assert len(rows) == 2
    for clip_id, shard in rows:
        assert Path(shard).is_absolute() and Path(shard).is_file()
        assert opened.read_member(shard, f"{clip_id}.mp4")[4:8] == b"ftyp"


def test_same_seed_same_clips_and_the_mixture_on_a_real_corpus(corpus, tmp_path):
    mixture = write(tmp_path, "mix.yaml", "components:\n  - {match: {viewpoint: [ego, exo]}, weight: 1}\n")
    picks = []
    for n, seed in enumerate((3, 3, 4)):
        out = tmp_path / f"s{n}"
        assert (
            run(
                "export",
                "subset",
                corpus,
                "--mixture",
                mixture,
                "--seed",
                seed,
                "--clips",
                "2",
                "--reference",
                "-o",
                out,
            ).exit_code
            == 0
        )
        picks.append(clip_ids(out))
    assert picks[0] == picks[1] and len(picks[0]) == 2


def test_weights_are_respected_and_the_seed_decides(synthetic_corpus, tmp_path):
    mixture = write(tmp_path, "mix.yaml", MIXTURE)
    out = tmp_path / "a"
    result = run("export", "subset", synthetic_corpus, "--mixture", mixture, "--clips", "50", "-o", out)
    assert result.exit_code == 0, result.output
    clips = pq.read_table(out / "clips").to_pylist()
    kinds = Counter((c["viewpoint"], c["motion_categories"][0]) for c in clips)
    assert kinds == {("ego", "manipulation"): 30, ("exo", "locomotion"): 20}
    report = json.loads((out / "manifest.json").read_text())["subset"]
    assert report["seed"] == 7 and [c["clips"] for c in report["components"]] == [30, 20]
    again = tmp_path / "b"
    assert run("export", "subset", synthetic_corpus, "--mixture", mixture, "--clips", "50", "-o", again).exit_code == 0
    assert clip_ids(again) == clip_ids(out)
    other = tmp_path / "c"
    assert (
        run(
            "export", "subset", synthetic_corpus, "--mixture", mixture, "--clips", "50", "--seed", "8", "-o", other
        ).exit_code
        == 0
    )
    assert clip_ids(other) != clip_ids(out) and len(clip_ids(other)) == 50


def test_hours_budget_caps_and_the_first_exhausted_default(synthetic_corpus, tmp_path):
    capped = write(tmp_path, "capped.yaml", MIXTURE + "caps:\n  max_hours_per_source: 0.25\n  max_clips_per_video: 2\n")
    out = tmp_path / "capped"
    assert run("export", "subset", synthetic_corpus, "--mixture", capped, "--hours", "100", "-o", out).exit_code == 0
    clips = pq.read_table(out / "clips").to_pylist()
    videos = {v["video_id"]: v["source"] for v in pq.read_table(synthetic_corpus / "videos.parquet").to_pylist()}
    per_source = Counter(videos[c["video_id"]] for c in clips)
    assert clips and max(per_source.values()) * 60 / 3600 <= 0.25
    assert max(Counter(c["video_id"] for c in clips).values()) <= 2
    # no total: the largest one both components fill at 60/40; exo locomotion (67 clips) runs out first
    out = tmp_path / "default"
    assert (
        run("export", "subset", synthetic_corpus, "--mixture", write(tmp_path, "m.yaml", MIXTURE), "-o", out).exit_code
        == 0
    )
    kinds = Counter((c["viewpoint"], c["motion_categories"][0]) for c in pq.read_table(out / "clips").to_pylist())
    available = sum(
        1
        for c in pq.read_table(synthetic_corpus / "clips").to_pylist()
        if c["viewpoint"] == "exo" and c["motion_categories"] == ["locomotion"]
    )
    assert kinds[("exo", "locomotion")] == available
    assert kinds[("ego", "manipulation")] == pytest.approx(available * 1.5, abs=1)


@pytest.mark.parametrize(
    ("args", "text", "expected"),
    [
        (["--where", "nope > 1"], None, 'Referenced column "nope" not found'),
        (
            ["--mixture", "MIX"],
            "components:\n  - {where: 'TRUE', weight: -1}\n",
            "components.0.weight: Input should be greater than 0",
        ),
        (["--mixture", "MIX"], "components:\n  - {weight: 1}\n", "needs `where` or `match`"),
        (["--mixture", "MIX"], "components:\n  - {match: {no_such_axis: x}, weight: 1}\n", "no column 'no_such_axis'"),
        (["--mixture", "MIX"], "colours: [red]\n", "colours: Extra inputs are not permitted"),
        (["--hours", "1", "--clips", "2"], None, "not both"),
    ],
    ids=["sql", "weight", "selector", "axis", "key", "budget"],
)
def test_bad_predicates_and_mixtures_get_one_clear_message(synthetic_corpus, tmp_path, args, text, expected):
    if text is not None:
        args = [write(tmp_path, "mix.yaml", text) if a == "MIX" else a for a in args]
    result = run("export", "subset", synthetic_corpus, *args, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_refuses_a_non_empty_output_folder(synthetic_corpus, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    result = run("export", "subset", synthetic_corpus, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "not empty" in result.stderr


def test_annotation_tables_keep_the_rows_of_the_chosen_clips_and_their_videos(synthetic_corpus, tmp_path):
    import shutil

    import pyarrow as pa

    source = tmp_path / "annotated"
    shutil.copytree(synthetic_corpus, source)
    (source / "captions").mkdir()
    trees = {
        "video_id": ["v000", "v000", "v000", "v001"],
        "clip_id": [None, "v000_0000000_0000001", "v000_0000001_0000002", None],
        "level": [0, 2, 2, 0],
    }
    pq.write_table(pa.table(trees), source / "captions" / "trees.parquet")
    pq.write_table(pa.table({"column": ["viewpoint"], "stage": ["viewpoint"]}), source / "provenance.parquet")
    out = tmp_path / "out"
    assert run("export", "subset", source, "--where", "clip_id = 'v000_0000000_0000001'", "-o", out).exit_code == 0
    kept = pq.read_table(out / "captions" / "trees.parquet").to_pylist()
    assert kept == [
        {"video_id": "v000", "clip_id": None, "level": 0},
        {"video_id": "v000", "clip_id": "v000_0000000_0000001", "level": 2},
    ]
    assert pq.read_table(out / "provenance.parquet").to_pylist() == [{"column": "viewpoint", "stage": "viewpoint"}]


def test_a_missing_source_shard_is_named_and_nothing_is_left_behind(corpus, tmp_path):
    import shutil

    source = tmp_path / "damaged"
    shutil.copytree(corpus, source, ignore=shutil.ignore_patterns("state"))
    for shard in (source / "shards").glob("*.tar"):
        shard.unlink()
    result = run("export", "subset", source, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "shard named in the clip index is missing" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    # an index only: nothing to read from the shards
    reference = run("export", "subset", source, "--reference", "-o", tmp_path / "ref")
    assert reference.exit_code == 0 and (tmp_path / "ref" / "manifest.json").exists()
