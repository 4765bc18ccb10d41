"""The catalogue: every stage, encode hook and clip annotator humannet runs, in order, built from the config.

This is the one place that says what a curation run does. Everything else reads it: the
orchestrator (`curate.py`) asks it for pipelines, `humannet review` for the rerunnable stages,
provenance for the producers of each index column; the keys that invalidate finished work are
derived here from what the units declare (`version`, `config_sections`), never from a list kept
by hand. Adding a filter is: write its stage file, add its settings model to `config.py`, add one
line to `analysis_stages` below.

Three phases, three lists:

* analysis (one decode pass per video; FrameStages share it wherever they stand);
* writing: the encode hooks see every written frame, in order;
* annotation of each written clip, in order (later annotators see earlier outputs).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from humannet.annotate.camera_motion import CameraMotionStage
from humannet.annotate.camera_trajectory import CameraTrajectoryAnnotator
from humannet.annotate.clip_annotator import ClipAnnotator
from humannet.annotate.motion import MotionCategoryStage
from humannet.annotate.motion3d import Motion3DAnnotator
from humannet.annotate.pose_tracks import PoseTrackHook
from humannet.annotate.privacy import FaceBlurHook
from humannet.annotate.retarget import RetargetAnnotator
from humannet.annotate.viewpoint import ViewpointStage
from humannet.captions.annotators import caption_annotators
from humannet.config import Config
from humannet.corpus.provenance import Producer, RunStep
from humannet.engine.pipeline import PipelineSpec
from humannet.engine.stage import INPUT_KEYS, EncodeHook, PipelineUnit, Stage, check_dataflow
from humannet.process.clips import ClipStage
from humannet.process.dedup import SignatureStage
from humannet.process.humans import HumanStage
from humannet.process.materialize import MaterializeStage
from humannet.process.people import PeopleFilterStage
from humannet.process.person_spans import PersonSpanStage
from humannet.process.probe import ProbeStage
from humannet.process.quality import QualityStage
from humannet.process.scenes import SceneStage
from humannet.process.unusable import UnusableSpanStage
from humannet.records import fingerprint
from humannet.review.licenses import LicenseStage
from humannet.review.pii import PiiStage
from humannet.review.rerun import ReviewPlan
from humannet.review.text_blur import TextBlurHook
from humannet.review.unsafe import UnsafeContentStage


def analysis_stages(config: Config) -> list[Stage]:
    """The analysis chain, in order; FrameStages share the one decode pass wherever they stand."""
    humans = config.humans.enabled
    review = config.review
    stages: list[Stage | None] = [
        ProbeStage(),
        SceneStage(config.scenes),
        SignatureStage(config.dedup),
        HumanStage(config.humans) if humans else None,
        CameraMotionStage(config.camera_motion) if humans else None,
        UnusableSpanStage(config.quality),
        PersonSpanStage(config.humans) if humans else None,
        ClipStage(config.clips),
        UnsafeContentStage(review.unsafe) if review.unsafe.enabled else None,
        PiiStage(review.pii) if review.pii.enabled else None,  # before quality: its text area feeds the screen filter
        QualityStage(config.quality),
        PeopleFilterStage(config.humans) if humans else None,
        ViewpointStage(config.viewpoint) if humans else None,
        MotionCategoryStage(config.motion) if humans else None,
        LicenseStage(),
    ]
    return [stage for stage in stages if stage is not None]


def encode_hooks(config: Config) -> list[EncodeHook]:
    """Frame hooks of clip writing, in order: keypoints are measured on the frames before faces are hidden."""
    pii = config.review.pii
    hooks: list[EncodeHook | None] = [
        PoseTrackHook(config.pose_tracks) if config.pose_tracks.enabled else None,
        FaceBlurHook(config.privacy) if config.privacy.face_blur != "off" else None,
        TextBlurHook(pii) if pii.enabled and pii.blur != "off" else None,  # identifying text the analysis read
    ]
    return [hook for hook in hooks if hook is not None]


def clip_annotators(config: Config) -> list[ClipAnnotator]:
    """Per-clip annotation after encoding, in order (later annotators see earlier outputs)."""
    with_motion = config.motion3d.enabled and config.pose_tracks.enabled
    annotators: list[ClipAnnotator | None] = [
        Motion3DAnnotator(config.motion3d) if with_motion else None,
        RetargetAnnotator(config.retarget) if with_motion and config.retarget.enabled else None,
        CameraTrajectoryAnnotator(config.camera_trajectory) if config.camera_trajectory.enabled else None,
        *caption_annotators(config.captions),  # last: they read the others' outputs
    ]
    return [annotator for annotator in annotators if annotator is not None]


def materialize_stages(config: Config, staging_root: str) -> list[Stage]:
    """The write phase: one stage that encodes a video's kept clips with the hooks, then annotates them."""
    hooks, annotators = encode_hooks(config), clip_annotators(config)
    check_dataflow([*hooks, *annotators], available=())
    stage = MaterializeStage(
        config.materialize,
        config.decode,
        staging_root,
        hooks=hooks,
        annotators=annotators,
        annotator_stamps=stamps(annotators, config),
        storage=config.storage,
    )
    stage.encoder_stamps = stamps([stage, *hooks], config)  # what a staged clip file is valid for
    return [stage]


def review_stages(config: Config) -> list[Stage]:
    """The stages `humannet review` can rerun alone over a curated corpus."""
    return [stage for stage in analysis_stages(config) if stage.rerunnable]


def review_plan(config: Config) -> ReviewPlan:
    """What `humannet review` reruns, and what it checks the corpus against."""
    stages = review_stages(config)
    return ReviewPlan(
        stages, stamps(stages, config), analysis_fingerprint(config), producers(config), analysed_keys(config)
    )


def stamps(units: list[Any], config: Config) -> dict[str, str]:
    return {unit.name: unit.stamp(config) for unit in units}


def analysis_pipeline(config: Config) -> PipelineSpec:
    """The analysis recipe for the runners; its dataflow is checked here, before any worker starts."""
    check_dataflow(analysis_stages(config))
    return PipelineSpec(
        build=partial(analysis_stages, config),
        decode=config.decode,
        storage=config.storage,
        stamps=stamps(review_stages(config), config),
    )


def materialize_pipeline(config: Config, staging_root: str) -> PipelineSpec:
    """The write recipe; its videos arrive analysed."""
    return PipelineSpec(
        build=partial(materialize_stages, config, staging_root),
        decode=config.decode,
        storage=config.storage,
        available=analysed_keys(config),
    )


def analysed_keys(config: Config) -> tuple[str, ...]:
    """The record keys an analysed video carries: its inputs and every analysis stage's outputs."""
    return (*INPUT_KEYS, *(key for stage in analysis_stages(config) for key in stage.outputs()))


def analysis_fingerprint(config: Config) -> str:
    """What finished analysis is valid for: the decode settings and every analysis stage's stamp.

    Rerunnable (review) stages stay out: they stamp the videos they fill instead.
    """
    units = [stage for stage in analysis_stages(config) if not stage.rerunnable]
    return fingerprint({"decode": config.decode, "stages": stamps(units, config)})


def write_fingerprint(config: Config) -> str:
    """What written clips are valid for: the write stage, every encode hook and every clip annotator."""
    units: list[PipelineUnit] = [*materialize_stages(config, ""), *encode_hooks(config), *clip_annotators(config)]
    return fingerprint(stamps(units, config))


# Columns the run itself fills rather than a stage.
RUN_STEPS = (
    RunStep(
        "inputs",
        produces_video=("uri", "license", "title", "source", "source_url", "channel", "upload_date", "language"),
    ),
    RunStep("decode", config_sections=("decode",), produces_video=("frames_decoded", "decode_errors")),
    RunStep("dedup", config_sections=("dedup",), produces_video=("duplicate_of",)),
    RunStep("curate", produces=("reason",), produces_video=("status", "reason", "clips_kept", "clips_dropped")),
)


def producers(config: Config) -> list[Producer]:
    """Every producer of the index columns of a corpus built with `config`, in pipeline order."""
    units: list[Any] = [*analysis_stages(config), *materialize_stages(config, ""), *clip_annotators(config)]
    return [Producer.of(unit, config) for unit in [*units, *RUN_STEPS]]
