"""Taxonomy and caption annotators on real clips written by the materialise stage (real MediaPipe
keypoints, real MiniLM), with a VLM server that works, and one that is down."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from humannet.annotate.clip_annotator import StagedClip
from humannet.annotate.pose_tracks import PoseTrackConfig, PoseTrackHook
from humannet.captions.annotators import CaptionAnnotator, CaptionConfig, TaxonomyAnnotator
from humannet.captions.embeddings import TextEmbedder
from humannet.captions.openai_backend import OpenAIConfig
from humannet.captions.schema import Caption
from humannet.captions.taxonomy import load_taxonomy
from humannet.captions.tree import remember_caption, write_caption_trees
from humannet.cli import main
from humannet.config import Config
from humannet.corpus.export.action100m import read_action100m
from humannet.media.cut import MaterializeConfig
from humannet.media.frames import DecodeConfig
from humannet.media.probe import probe_video
from humannet.process.materialize import MaterializeStage
from humannet.records import Clip, Scene, Video
from humannet.stages import stamps

from .chat_server import ChatServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "videos"
EMBEDDER = TextEmbedder()


def coffee_video() -> Video:
    """The bundled coffee-pouring clip cut in two, with the measured labels analysis would give and source metadata."""
    source = EXAMPLES / "exo_sam2_coffee_pouring.mp4"
    probe = probe_video(str(source))
    meta = {
        "title": "Pouring coffee in my kitchen",
        "source": "youtube",
        "tags": ["coffee", "kitchen"],
        "narrations": [
            {"start_s": 0.5, "end_s": 3.5, "text": "#C C pours the coffee into a mug", "source": "dataset"},
            {"start_s": 5.5, "end_s": 8.5, "text": "C puts down the kettle", "source": "dataset"},
            {"start_s": 6.0, "end_s": 6.5, "text": "", "source": "dataset"},
            {"start_s": 6.0, "end_s": 7.0, "text": "vierte el café en la taza", "source": "dataset"},
        ],
    }
    video = Video(uri=str(source), video_id="coffee", probe=probe, meta=meta)
    video.scenes = [Scene(0, 0, 287, 0.0, probe.duration_s)]
    labels = {"viewpoint": "exo", "motion_categories": ["manipulation"]}
    scores = {
        "viewpoint_confidence": 0.9,
        "exo_camera_still": 0.95,
        "camera_shift": 0.004,
        "motion_manipulation": 0.8,
        "any_person_fraction": 1.0,
    }
    video.clips = [
        Clip("coffee_0000000_0000120", "coffee", 0.0, 4.004, 0, 120, 0, scores=dict(scores), labels=dict(labels)),
        Clip("coffee_0000150_0000270", "coffee", 5.005, 9.009, 150, 270, 0, scores=dict(scores), labels=dict(labels)),
    ]
    return video


def materialise(root: Path, config: CaptionConfig) -> tuple[Path, Video]:
    taxonomy = load_taxonomy()
    annotators = [TaxonomyAnnotator(config, EMBEDDER, taxonomy), CaptionAnnotator(config, EMBEDDER, taxonomy)]
    stage = MaterializeStage(
        MaterializeConfig(max_short_side=240),
        DecodeConfig(),
        str(root),
        hooks=[PoseTrackHook(PoseTrackConfig(pose_fps=5))],
        annotators=annotators,
        annotator_stamps=stamps(annotators, Config()),
    )
    stage.setup()
    video = coffee_video()
    stage.process(video)
    return root / "coffee", video


@pytest.fixture(scope="module")
def template_run(tmp_path_factory) -> tuple[Path, Video]:
    return materialise(tmp_path_factory.mktemp("template"), CaptionConfig())


def meta_of(folder: Path, clip_id: str) -> dict:
    return json.loads((folder / f"{clip_id}.meta.json").read_text())


def test_template_caption_is_valid_measured_and_narrated(template_run):
    folder, video = template_run
    meta = meta_of(folder, video.clips[0].clip_id)
    caption = Caption.model_validate(meta["caption"])
    assert caption.backend == "template" and caption.activity_class == "pour:coffee"
    assert caption.camera.viewpoint == "exo" and caption.camera.motion == "static"
    assert caption.subjects.min_count == 1 and caption.subjects.count is None and caption.subjects.age_group is None
    assert (
        caption.provenance["subjects.age_group"] == "not_measured"
        and caption.provenance["activity_class"] == "narration:dataset"
    )
    assert "hands" in caption.subjects.body_parts_in_view
    assert [(a.verb, a.object, a.provenance) for a in caption.actions] == [("pour", "coffee", "narration:dataset")]
    assert caption.environment == "kitchen" and caption.provenance["environment"].startswith("text:")
    assert "pours the coffee" in caption.short and "kitchen" in caption.short
    index = meta["index"]["labels"]
    assert index["caption_short"] == caption.short and index["activity_class"] == "pour:coffee"


def test_taxonomy_labels_carry_scores_provenance_and_ancestors(template_run):
    folder, video = template_run
    meta = meta_of(folder, video.clips[0].clip_id)
    by_axis = {}
    for item in meta["taxonomy"]:
        by_axis.setdefault(item["axis"], []).append(item)
        assert 0 <= item["score"] <= 1 and item["provenance"]
    assert {i["label"] for i in by_axis["viewpoint"]} == {"exo", "static_camera"}
    assert by_axis["source_type"][0]["label"] == "platform_video"
    assert {i["label"] for i in by_axis["metadata_availability"]} == {"title", "tags", "narration"}
    assert by_axis["motion_category"][0] == {
        "axis": "motion_category",
        "label": "manipulation",
        "score": 0.8,
        "provenance": "measured:motion_manipulation",
        "path": "using_hands/manipulation",
    }
    labels = meta["index"]["labels"]
    assert labels["taxonomy_environment"][:3] == ["indoor", "home", "kitchen"]
    assert labels["taxonomy_viewpoint"] == ["exo", "static_camera"]
    assert set(labels) >= {f"taxonomy_{axis}" for axis in load_taxonomy().axes}


def test_bad_narrations_are_recorded_and_the_clip_still_gets_its_caption(template_run):
    folder, video = template_run
    meta = meta_of(folder, video.clips[1].clip_id)
    errors = meta["annotation_errors"]
    assert any("empty narration" in e for e in errors) and any("no English word" in e for e in errors)
    caption = Caption.model_validate(meta["caption"])
    assert caption.activity_class == "put:kettle" or caption.activity_class.startswith("put:")


def test_caption_trees_and_action100m_export(template_run, tmp_path):
    folder, video = template_run
    corpus = tmp_path / "corpus"
    for clip in video.clips:
        assert remember_caption(corpus, clip.clip_id, meta_of(folder, clip.clip_id))
    assert write_caption_trees(corpus, [video])
    nodes = pq.read_table(corpus / "captions" / "trees.parquet").to_pylist()
    kinds = [n["kind"] for n in nodes]
    assert (
        kinds.count("video") == 1
        and kinds.count("scene") == 1
        and kinds.count("clip") == 2
        and kinds.count("sub_action") >= 2
    )
    ids = {n["node_id"] for n in nodes}
    assert all(n["parent_id"] in ids for n in nodes if n["level"] > 0)
    assert all(n["level"] == {"video": 0, "scene": 1, "clip": 2, "sub_action": 3}[n["kind"]] for n in nodes)
    result = CliRunner().invoke(main, ["export", "action100m", str(corpus), "-o", str(tmp_path / "a100m.parquet")])
    assert result.exit_code == 0, result.output
    rows = read_action100m(tmp_path / "a100m.parquet")
    assert (
        len(rows) == 1
        and rows[0]["video_uid"] == "coffee"
        and rows[0]["metadata"]["title"] == "Pouring coffee in my kitchen"
    )
    leaf = next(n for n in rows[0]["nodes"] if n["level"] == 3)
    assert leaf["gpt"]["action"]["brief"] == "pour coffee" and leaf["parent_id"] == video.clips[0].clip_id
    missing = CliRunner().invoke(main, ["export", "action100m", str(tmp_path), "-o", str(tmp_path / "x.parquet")])
    assert missing.exit_code == 2 and "no captions/trees.parquet" in missing.output


def test_vlm_captions_when_the_server_answers_and_template_with_reason_when_it_is_down(tmp_path):
    server = ChatServer().start()
    try:
        config = CaptionConfig(
            backend="openai",
            openai=OpenAIConfig(
                base_url=server.base_url, model="test-vlm", cache_dir=str(tmp_path / "cache"), frames_per_clip=2
            ),
        )
        folder, video = materialise(tmp_path / "vlm", config)
    finally:
        server.stop()
    assert sum(server.requests.values()) == 2 and server.images == {clip.clip_id: 2 for clip in video.clips}
    for clip in video.clips:
        meta = meta_of(folder, clip.clip_id)
        caption = Caption.model_validate(meta["caption"])
        assert caption.backend == "openai:test-vlm" and clip.clip_id in caption.short
        assert (
            caption.subjects.count == 1
            and caption.subjects.age_group == "adult"
            and caption.provenance["subjects.age_group"] == "openai:test-vlm"
        )
        assert caption.camera.viewpoint == "exo" and caption.provenance["camera.viewpoint"] == "measured:viewpoint"
        assert any(item["provenance"] == "vlm:test-vlm" for item in meta["taxonomy"])
    down = CaptionConfig(
        backend="openai",
        openai=OpenAIConfig(
            base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01, cache_dir=str(tmp_path / "c2")
        ),
    )
    folder, video = materialise(tmp_path / "down", down)
    meta = meta_of(folder, video.clips[0].clip_id)
    caption = Caption.model_validate(meta["caption"])
    assert caption.backend == "template (vlm failed)" and "no answer from" in caption.fallback_reason
    assert caption.provenance["short"].startswith("template (fallback: openai:")
    assert any("VLM caption failed, template used" in e for e in meta["annotation_errors"])


def test_without_keypoints_or_people_the_template_says_only_what_was_measured(tmp_path):
    """No pose.npz, no person seen, a non-English title and no narrations: nothing is invented."""
    config = CaptionConfig()
    taxonomy = load_taxonomy()
    video = Video(uri="x.mp4", video_id="v", meta={"title": "猫が窓の外を見ている"})
    clip = Clip(
        "v_0000000_0000050",
        "v",
        0.0,
        2.0,
        0,
        50,
        0,
        scores={"any_person_fraction": 0.0, "camera_shift": 0.1},
        labels={"viewpoint": "unknown"},
    )
    staged = StagedClip(clip=clip, video=video, mp4=tmp_path / "v.mp4", width=320, height=240, fps=25.0)
    labelled = TaxonomyAnnotator(config, EMBEDDER, taxonomy).annotate(staged)
    assert any("title not used for labels: not English" in e for e in labelled.errors)
    assert labelled.labels["taxonomy_environment"] == [] and labelled.labels["taxonomy_source_type"] == [
        "unknown_source"
    ]
    staged.metadata.update(labelled.metadata)
    caption = Caption.model_validate(CaptionAnnotator(config, EMBEDDER, taxonomy).annotate(staged).metadata["caption"])
    assert caption.subjects.min_count == 0 and caption.subjects.body_parts_in_view == [] and caption.actions == []
    assert (
        caption.camera.viewpoint == "unknown" and caption.camera.motion == "moving" and caption.activity_class is None
    )
    assert caption.short == "No person is detected; the scene is shown." and caption.environment is None
