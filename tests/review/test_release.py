"""End to end on a small real corpus: review columns, provenance, release under two policies, audit, and review
reruns."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from rich.console import Console

from humannet.cli import main
from humannet.config import load_config
from humannet.corpus.provenance import UNDECLARED
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from humannet.records import fingerprint
from humannet.review.audit import audit
from humannet.stages import analysis_stages, materialize_stages
from tests.review.text_video import FAKE_EMAIL, FAKE_PHONE, FAKE_URL, overlay_text

# Fast settings: no keypoint tracks, so none of the clip annotators that build on them (3D, captions) run.
FAST = ["pose_tracks.enabled=false", "captions.enabled=false", "camera_trajectory.enabled=false", "run.workers=1"]
BENIGN = '["FEET_EXPOSED","FEET_COVERED","FACE_FEMALE","FACE_MALE"]'


def sidecar(video: Path, **meta) -> None:
    video.with_name(video.stem + ".humannet.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def corpus(examples_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review_corpus")
    inputs = root / "in"
    inputs.mkdir()
    card = overlay_text(
        examples_dir / "exo_sam2_coffee_pouring.mp4",
        inputs / "card.mp4",
        [FAKE_EMAIL, FAKE_PHONE, FAKE_URL],
        seconds=5.0,
    )
    sidecar(
        card,
        license="CC BY 4.0",
        title="Coffee with a contact card",
        channel="Test Author",
        url="https://example.net/watch/card",
    )
    football = inputs / "football.mp4"
    shutil.copyfile(examples_dir / "exo_sam2_football_juggling.mp4", football)
    sidecar(
        football,
        license="Standard YouTube License",
        title="Juggling",
        channel="A Channel",
        url="https://www.youtube.com/watch?v=abcdefghijk",
    )
    asl = inputs / "asl.mkv"
    shutil.copyfile(examples_dir / "exo_intel_asl_sign_again.mkv", asl)
    sidecar(asl, license=42, title="Sign: again")  # malformed licence metadata
    config = load_config(None, FAST)
    Curator(config, root / "corpus", LocalRunner(workers=1), Console(stderr=True, quiet=True)).run(str(inputs))
    return root / "corpus"


def clips(corpus: Path) -> dict[str, dict]:
    return {row["clip_id"]: row for row in pq.read_table(corpus / "clips" / "part-00000.parquet").to_pylist()}


def videos(corpus: Path) -> dict[str, dict]:
    return {Path(row["uri"]).stem: row for row in pq.read_table(corpus / "videos.parquet").to_pylist()}


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_review_and_licence_columns(corpus):
    by_name = videos(corpus)
    assert {name: v["license_spdx"] for name, v in by_name.items()} == {
        "card": "CC-BY-4.0",
        "football": "platform-standard",
        "asl": "unknown",
    }
    assert by_name["asl"]["license"] == "42"  # the malformed value is kept, as text, never fatal
    rows = clips(corpus)
    assert rows and all(r["unsafe_score"] < 0.5 and r["license_spdx"] for r in rows.values())
    card = [r for r in rows.values() if r["video_id"] == by_name["card"]["video_id"]]
    assert card and all(r["pii_flags"] == ["email", "phone", "url"] for r in card)
    others = [r for r in rows.values() if r["video_id"] != by_name["card"]["video_id"]]
    assert all(r["pii_flags"] == [] for r in others)
    asl = [r for r in rows.values() if r["video_id"] == by_name["asl"]["video_id"]]
    assert asl and all(r["license_issue"].startswith("malformed") for r in asl)


def test_provenance_has_a_declared_row_for_every_index_column(corpus):
    provenance = pq.read_table(corpus / "provenance.parquet").to_pylist()
    covered = {(r["table"], r["column"]) for r in provenance}
    for table, path in (
        ("videos", "videos.parquet"),
        ("clips", "clips/part-00000.parquet"),
        ("dropped_clips", "dropped_clips.parquet"),
    ):
        for column in pq.read_schema(corpus / path).names:
            assert (table, column) in covered, (table, column)
    assert [r for r in provenance if r["stage"] == UNDECLARED] == []
    config = load_config(None, FAST)
    unsafe = [r for r in provenance if r["column"] == "unsafe_score"]
    assert unsafe == [
        {
            "table": "clips",
            "column": "unsafe_score",
            "stage": "unsafe",
            "stage_version": "1",
            "config_section": "review.unsafe",
            "config_hash": fingerprint({"review.unsafe": config.review.unsafe}),
            "videos": 3,
        }
    ]
    blur = next(r for r in provenance if r["column"] == "blur_score")
    assert (blur["stage"], blur["config_section"]) == ("quality", "quality,decode")


def test_every_stage_declares_what_it_fills():
    config = load_config(None, [])
    silent = {
        "probe",
        "signature",
        "humans",
        "camera_motion",
        "unusable",
        "person_spans",
    }  # feed later stages, fill no column of their own
    for stage in [*analysis_stages(config), *materialize_stages(config, "")]:
        assert stage.produces or stage.produces_video or stage.name in silent, stage.name


def test_shard_json_carries_findings_but_never_the_text(corpus):
    found = {}
    for shard in sorted((corpus / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    found[member.name] = tar.extractfile(member).read().decode()
    card = [text for text in found.values() if '"pii_flags": ["email", "phone", "url"]' in text]
    assert card
    for text in card:
        data = json.loads(text)
        assert data["pii"]["findings"] and data["pii_hidden"]["frames"] > 0 and data["license_spdx"] == "CC-BY-4.0"
    for text in found.values():
        assert FAKE_EMAIL not in text and "415-555" not in text and "example.org" not in text


def test_release_research(corpus, tmp_path):
    out = tmp_path / "research"
    printed = cli("release", str(corpus), "--policy", "research", "-o", str(out))
    assert "withhold: license: " in printed and "references only" in printed
    by_name = videos(corpus)
    manifest = {r["clip_id"]: r for r in pq.read_table(out / "release_manifest.parquet").to_pylist()}
    assert set(manifest) == set(clips(corpus))
    decision_of = {
        name: {r["decision"] for r in manifest.values() if r["video_id"] == v["video_id"]}
        for name, v in by_name.items()
    }
    assert decision_of == {"card": {"release"}, "football": {"reference"}, "asl": {"withhold"}}
    assert all(r["reason"] == "license: unknown licence" for r in manifest.values() if r["decision"] == "withhold")
    released = {c for c, r in manifest.items() if r["decision"] == "release"}
    assert all(manifest[c]["faces_hidden"] and manifest[c]["pii_regions_hidden"] > 0 for c in released)
    assert (
        "by Test Author (https://example.net/watch/card), licensed CC-BY-4.0"
        in manifest[sorted(released)[0]]["attribution"]
    )
    index = pq.read_table(out / "clips" / "part-00000.parquet").to_pylist()
    assert {r["clip_id"] for r in index} == released
    in_shards = set()
    for row in index:
        with tarfile.open(out / row["shard"]) as tar:
            names = tar.getnames()
            in_shards |= {n.split(".", 1)[0] for n in names}
            data = json.loads(tar.extractfile(f"{row['clip_id']}.json").read())
            assert "source_uri" not in data and data["source_url"] == "https://example.net/watch/card"
            assert data["license_terms"]["attribution"] is True and data["attribution"].startswith(
                '"Coffee with a contact card" by Test Author'
            )
    assert in_shards == released
    references = pq.read_table(out / "references.parquet").to_pylist()
    assert {r["source_url"] for r in references} == {"https://www.youtube.com/watch?v=abcdefghijk"}
    release_videos = pq.read_table(out / "videos.parquet")
    assert "uri" not in release_videos.column_names and sorted(release_videos["license_spdx"].to_pylist()) == [
        "CC-BY-4.0",
        "platform-standard",
    ]
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "Coffee with a contact card" in attribution and "https://creativecommons.org/licenses/by/4.0/" in attribution
    assert "Juggling" in attribution and "Sign: again" not in attribution
    summary = json.loads((out / "release_summary.json").read_text())
    assert summary["decisions"]["release"]["clips"] == len(released)
    assert "withhold: license" in summary["not_released_by_reason"]
    assert (out / "SUMMARY.md").read_text().startswith("release under policy 'research'")
    assert (out / "provenance.parquet").exists()


def test_release_commercial_and_a_user_policy(corpus, tmp_path):
    cli("release", str(corpus), "--policy", "commercial", "-o", str(tmp_path / "commercial"))
    manifest = pq.read_table(tmp_path / "commercial" / "release_manifest.parquet").to_pylist()
    assert {r["decision"] for r in manifest} == {"withhold"}
    reasons = {r["reason"].split(":", 1)[0] for r in manifest}
    assert reasons == {
        "pii",
        "license",
    }  # the card clips show contact details; the others' licences do not allow commercial use
    cli(
        "release",
        str(corpus),
        "--policy",
        "lenient",
        "-o",
        str(tmp_path / "lenient"),
        "--set",
        "review.policies.lenient.allow_unknown=true",
    )
    lenient = pq.read_table(tmp_path / "lenient" / "release_manifest.parquet").to_pylist()
    assert all(r["decision"] == "release" for r in lenient if r["license_spdx"] == "unknown")
    result = CliRunner().invoke(main, ["release", str(corpus), "--policy", "no_such", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "no release policy 'no_such'" in result.output


def test_audit_reports_review_and_build(corpus):
    report = audit(corpus).to_dict()
    review = report["review"]
    assert review["pii_clips"] >= 1 and review["pii_by_kind"]["email"] >= 1
    assert review["faces_hidden_clips"] >= 1 and review["text_hidden_clips"] >= 1
    assert review["clips_with_media"] == report["clips"]
    stages = {s["stage"] for s in review["stage_versions"]}
    assert {"unsafe", "pii", "license", "quality", "clips", "probe"} <= stages and review["mixed_stages"] == []
    assert {r["license"] for r in report["licenses"]} == {"CC-BY-4.0", "platform-standard", "unknown"}
    text = cli("audit", str(corpus))
    assert "identifying text on screen" in text and "stages that built the index" in text


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rerun_of_one_stage_recomputes_only_its_columns(corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    before_clips = pq.read_table(copy / "clips" / "part-00000.parquet")
    before_videos = pq.read_table(copy / "videos.parquet")
    before_shards = {p.name: digest(p) for p in (copy / "shards").glob("*.tar")}
    before_provenance = {(r["table"], r["column"]): r for r in pq.read_table(copy / "provenance.parquet").to_pylist()}
    assert "nothing to rerun" in cli("review", str(copy))

    printed = cli(
        "review", str(copy), "--set", f"review.unsafe.classes={BENIGN}", "--set", "review.unsafe.threshold=0.99"
    )
    assert printed.startswith("unsafe (") and "up to date, not rerun: license, pii" in printed
    after_clips = pq.read_table(copy / "clips" / "part-00000.parquet")
    assert after_clips["clip_id"].to_pylist() == before_clips["clip_id"].to_pylist()
    changed = {name for name in after_clips.column_names if name.startswith("unsafe_") or name == "review_issues"}
    assert {"unsafe_feet_covered", "unsafe_face_female", "unsafe_score"} <= changed
    assert "unsafe_female_breast_exposed" not in after_clips.column_names
    for name in before_clips.column_names:
        if not name.startswith("unsafe_"):
            assert after_clips[name].equals(before_clips[name]), name
    after_videos = pq.read_table(copy / "videos.parquet")
    assert after_videos.drop_columns(["review_stamps"]).equals(before_videos.drop_columns(["review_stamps"]))
    stamps = {s["stage"]: s["stamp"] for s in after_videos["review_stamps"][0].as_py()}
    before_stamps = {s["stage"]: s["stamp"] for s in before_videos["review_stamps"][0].as_py()}
    assert stamps["unsafe"] != before_stamps["unsafe"] and stamps["pii"] == before_stamps["pii"]
    assert {p.name: digest(p) for p in (copy / "shards").glob("*.tar")} == before_shards
    after_provenance = {(r["table"], r["column"]): r for r in pq.read_table(copy / "provenance.parquet").to_pylist()}
    assert (
        after_provenance[("clips", "unsafe_score")]["config_hash"]
        != before_provenance[("clips", "unsafe_score")]["config_hash"]
    )
    for key, row in before_provenance.items():
        if not key[1].startswith("unsafe_"):
            assert after_provenance[key] == row, key
    assert "nothing to rerun" in cli("review", str(copy))  # the manifest now holds the new settings

    # the same stage with a threshold that catches feet: clips leave the index, quarantined, and the release says so
    cli("review", str(copy), "--set", "review.unsafe.threshold=0.4")
    dropped = pq.read_table(copy / "dropped_clips.parquet").to_pylist()
    quarantined = [r for r in dropped if (r["reason"] or "").startswith("quarantined: unsafe:")]
    assert quarantined
    assert audit(copy).review.dropped_by_reason["quarantined (unsafe)"]["clips"] == len(quarantined)
    cli("release", str(copy), "--policy", "research", "-o", str(tmp_path / "release"))
    manifest = {r["clip_id"]: r for r in pq.read_table(tmp_path / "release" / "release_manifest.parquet").to_pylist()}
    assert all(manifest[r["clip_id"]]["reason"].startswith("review: quarantined") for r in quarantined)


def test_rerun_with_a_missing_model_records_it_per_clip(corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    cli("review", str(copy), "--stage", "pii", "--set", f"review.pii.model_dir={tmp_path / 'nowhere'}")
    rows = clips(copy)
    assert all(
        any(i.startswith("pii: not reviewed: FileNotFoundError") for i in r["review_issues"]) for r in rows.values()
    )
    errors = pq.read_table(copy / "errors.parquet").to_pylist()
    assert any(e["stage"] == "pii" and e["type"] == "ReviewUnavailable" for e in errors)
    assert audit(copy).review.not_reviewed_clips == len(rows)
    cli("release", str(copy), "--policy", "research", "-o", str(tmp_path / "release"))
    manifest = pq.read_table(tmp_path / "release" / "release_manifest.parquet").to_pylist()
    # unreviewed clips do not ship (references neither, by the policy's order)
    assert all(r["decision"] == "withhold" for r in manifest)


def test_rerun_refuses_other_analysis_settings(corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    result = CliRunner().invoke(main, ["review", str(copy), "--set", "clips.target_s=3"])
    assert result.exit_code == 2 and "only the [review] settings may differ" in result.output


def test_clip_annotator_columns_have_their_annotator_as_provenance():
    """The default corpus's per-clip annotators (3D, retargeting, camera, taxonomy, captions) own their columns."""
    from humannet.corpus.provenance import resolve
    from humannet.stages import producers

    candidates = producers(load_config())
    expected = {
        "pose3d_frames": "motion3d",
        "valid_frame_coverage": "motion3d",
        "retarget_error_mm": "retarget",
        "robot_ready": "retarget",
        "camera_valid_fraction": "camera_trajectory",
        "taxonomy_environment": "taxonomy",
        "caption_short": "captions",
        "activity_class": "captions",
    }
    assert {column: [p.name for p in resolve(column, "clips", candidates)] for column in expected} == {
        c: [s] for c, s in expected.items()
    }


@pytest.fixture(scope="module")
def corpus_without_unsafe_review(examples_dir, tmp_path_factory) -> Path:
    """One clean, commercially licensed clip curated with the unsafe-content review off."""
    root = tmp_path_factory.mktemp("unreviewed_corpus")
    inputs = root / "in"
    inputs.mkdir()
    asl = inputs / "asl.mkv"
    shutil.copyfile(examples_dir / "exo_intel_asl_sign_again.mkv", asl)
    sidecar(asl, license="CC BY 4.0", title="Sign: again", channel="Intel")
    config = load_config(None, [*FAST, "review.unsafe.enabled=false"])
    Curator(config, root / "corpus", LocalRunner(workers=1), Console(stderr=True, quiet=True)).run(str(inputs))
    return root / "corpus"


def test_a_review_stage_that_was_off_withholds_the_clips_it_did_not_check(corpus_without_unsafe_review, tmp_path):
    corpus = corpus_without_unsafe_review
    assert clips(corpus), "the clip must reach the index for the release to decide on it"
    cli("release", str(corpus), "--policy", "commercial", "-o", str(tmp_path / "commercial"))
    manifest = pq.read_table(tmp_path / "commercial" / "release_manifest.parquet").to_pylist()
    assert manifest and all(r["decision"] == "withhold" for r in manifest)
    assert all(r["reason"].startswith("not_reviewed: unsafe: not reviewed: the stage was off") for r in manifest)
    report = audit(corpus)
    assert report.review.not_reviewed_clips == len(manifest)
    assert report.review.not_reviewed_by_stage == {"pii": 0, "unsafe": len(manifest)}
    assert "not reviewed" in cli("audit", str(corpus))
    # reviewing the corpus with the stage on stamps its videos, and the clips are decided on their merits again
    cli("review", str(corpus), "--set", "review.unsafe.enabled=true")
    cli("release", str(corpus), "--policy", "commercial", "-o", str(tmp_path / "reviewed"))
    reviewed = pq.read_table(tmp_path / "reviewed" / "release_manifest.parquet").to_pylist()
    assert {r["decision"] for r in reviewed} == {"release"}
    assert audit(corpus).review.not_reviewed_by_stage == {"pii": 0, "unsafe": 0}
