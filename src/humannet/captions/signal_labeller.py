"""Taxonomy labels from what the pipeline measured and from the video's metadata fields.

Rules (each label's provenance names the rule's input):
- viewpoint: the clip's `viewpoint` label (ego/exo) with `viewpoint_confidence` as score; an exo
  clip is `static_camera` when its median `camera_shift` is below `still_shift` (the caption's
  rule too), else `moving_camera`; the score is `exo_camera_still` (the share of still frames),
  or 1 minus it for a moving camera.
- motion_category: every motion label the motion stage chose, with its `motion_<label>` score.
- interaction_style: `manipulation` -> hand_object_manipulation, `gesture` -> gesture_communication,
  `locomotion`/`whole_body` -> full_body, each with the motion score. Human-human and tool use
  need more than one person or the object: the signals alone never assign them.
- task_structure: hand motion whose speed repeats (autocorrelation above the threshold at a
  0.3-3 s period) -> repetitive (score = the correlation); three or more different narrated verbs
  in the clip -> multi_step_procedural (0.8); exactly one sub-action of hand motion and at most
  one verb -> single_action (0.6); locomotion or whole-body motion without repetition ->
  free_form (the motion score x 0.8).
- source_type: the metadata `source_type` when it names a label; else `source`/`url`/`license`
  keywords: a known dataset -> open_dataset (egocentric or action), a video platform or yt-dlp
  info -> platform_video, stock libraries -> stock_footage, `self`/`local` -> self_collected,
  otherwise unknown_source.
- metadata_availability: one label per present field (title, description, tags, transcript from
  subtitle narrations, narration from other narrations, dataset_labels), or no_metadata.
"""

from __future__ import annotations

import math
from typing import Any

from humannet.captions.keypoint_motion import KeypointMotion
from humannet.captions.labels import LabelAssignment, assign
from humannet.captions.narrations import SPEECH_SOURCES, NormalisedAction
from humannet.captions.taxonomy import Taxonomy
from humannet.records import Clip

EGO_DATASETS = ("epic", "ego4d", "ego-exo", "egoexo", "egtea", "charades-ego", "hoi4d", "assembly101", "holoassist")
ACTION_DATASETS = (
    "kinetics",
    "howto100m",
    "action100m",
    "something-something",
    "ucf",
    "hmdb",
    "ava",
    "coin",
    "crosstask",
    "youcook",
    "hacs",
)
PLATFORMS = ("youtube", "youtu.be", "vimeo", "dailymotion", "tiktok", "bilibili", "twitch", "instagram", "platform")
STOCK = ("pexels", "pixabay", "shutterstock", "stock", "videvo", "mixkit")
SELF = ("self", "local", "recorded", "in-house", "inhouse", "own")
INTERACTION_OF_MOTION = {
    "manipulation": "hand_object_manipulation",
    "gesture": "gesture_communication",
    "locomotion": "full_body",
    "whole_body": "full_body",
}


def labels_from_signals(
    taxonomy: Taxonomy, clip: Clip, motion: KeypointMotion | None, actions: list[NormalisedAction], still_shift: float
) -> list[LabelAssignment]:
    found: list[LabelAssignment] = []
    view = clip.labels.get("viewpoint")
    confidence = clip.scores.get("viewpoint_confidence", math.nan)
    if view in ("ego", "exo") and math.isfinite(confidence):
        found.append(assign(taxonomy, "viewpoint", str(view), confidence, "measured:viewpoint"))
        shift = clip.scores.get("camera_shift", math.nan)
        if view == "exo" and math.isfinite(shift):
            still = clip.scores.get("exo_camera_still", math.nan)
            static = shift < still_shift
            score = (still if static else 1 - still) if math.isfinite(still) else 0.5
            found.append(
                assign(
                    taxonomy,
                    "viewpoint",
                    "static_camera" if static else "moving_camera",
                    score,
                    "measured:camera_shift",
                )
            )
    categories = clip.labels.get("motion_categories")
    chosen = categories if isinstance(categories, list) else []
    motion_axis = taxonomy.axis("motion_category")
    for name in chosen:
        score = clip.scores.get(f"motion_{name}", math.nan)
        if name in motion_axis.labels and math.isfinite(score):
            found.append(assign(taxonomy, "motion_category", name, score, f"measured:motion_{name}"))
            if name in INTERACTION_OF_MOTION:
                found.append(
                    assign(taxonomy, "interaction_style", INTERACTION_OF_MOTION[name], score, f"measured:motion_{name}")
                )
    verbs = {a.verb for a in actions}
    if motion is not None and motion.repetitive and motion.repeat_correlation is not None:
        found.append(
            assign(
                taxonomy, "task_structure", "repetitive", motion.repeat_correlation, "measured:hand_speed_periodicity"
            )
        )
    if len(verbs) >= 3:
        found.append(assign(taxonomy, "task_structure", "multi_step_procedural", 0.8, "rule:narrated_verbs>=3"))
    elif motion is not None and len(motion.sub_actions) == 1 and len(verbs) <= 1:
        found.append(assign(taxonomy, "task_structure", "single_action", 0.6, "measured:sub_actions==1"))
    body = max((clip.scores.get(f"motion_{n}", 0.0) for n in ("locomotion", "whole_body") if n in chosen), default=0.0)
    if body and not (motion is not None and motion.repetitive):
        found.append(assign(taxonomy, "task_structure", "free_form", 0.8 * body, "measured:body_motion"))
    return found


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    return value.strip() if isinstance(value, str) else ""


def source_type(taxonomy: Taxonomy, meta: dict[str, Any]) -> LabelAssignment:
    given = _text(meta, "source_type")
    if given and taxonomy.has("source_type", given):
        return assign(taxonomy, "source_type", given, 1.0, "metadata:source_type")
    fields = {key: _text(meta, key).lower() for key in ("source", "url", "webpage_url", "extractor", "license")}
    for key, value in fields.items():
        if not value:
            continue
        if any(name in value for name in EGO_DATASETS):
            return assign(taxonomy, "source_type", "egocentric_dataset", 1.0, f"metadata:{key}")
        if any(name in value for name in ACTION_DATASETS):
            return assign(taxonomy, "source_type", "action_dataset", 1.0, f"metadata:{key}")
        if "dataset" in value:
            return assign(taxonomy, "source_type", "open_dataset", 1.0, f"metadata:{key}")
        if any(name in value for name in STOCK):
            return assign(taxonomy, "source_type", "stock_footage", 1.0, f"metadata:{key}")
        if any(name in value for name in PLATFORMS) or (key in ("url", "webpage_url") and value.startswith("http")):
            return assign(taxonomy, "source_type", "platform_video", 1.0, f"metadata:{key}")
        if key == "source" and value.split(":")[0] in SELF:
            return assign(taxonomy, "source_type", "self_collected", 1.0, "metadata:source")
    return assign(taxonomy, "source_type", "unknown_source", 1.0, "metadata:none")


def metadata_availability(taxonomy: Taxonomy, meta: dict[str, Any]) -> list[LabelAssignment]:
    found = []
    for key in ("title", "description"):
        if _text(meta, key):
            found.append(assign(taxonomy, "metadata_availability", key, 1.0, f"metadata:{key}"))
    tags = meta.get("tags")
    if isinstance(tags, list) and any(isinstance(t, str) and t.strip() for t in tags):
        found.append(assign(taxonomy, "metadata_availability", "tags", 1.0, "metadata:tags"))
    narrations = [
        n
        for n in meta.get("narrations") or []
        if isinstance(n, dict) and isinstance(n.get("text"), str) and n["text"].strip()
    ]
    sources = {str(n.get("source") or "dataset").lower() for n in narrations}
    if sources & SPEECH_SOURCES:
        found.append(assign(taxonomy, "metadata_availability", "transcript", 1.0, "metadata:narrations"))
    if sources - SPEECH_SOURCES:
        found.append(assign(taxonomy, "metadata_availability", "narration", 1.0, "metadata:narrations"))
    if meta.get("labels") or meta.get("dataset_labels"):
        found.append(assign(taxonomy, "metadata_availability", "dataset_labels", 1.0, "metadata:labels"))
    if not found:
        found.append(assign(taxonomy, "metadata_availability", "no_metadata", 1.0, "metadata:none"))
    return found
