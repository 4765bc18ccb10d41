"""The two clip annotators of this package, registered last so they see everyone else's output:

1. `TaxonomyAnnotator` (`taxonomy`): labels from measured signals and metadata
   (signal_labeller.py) and from text (text_labeller.py), merged -> `taxonomy` in the clip JSON,
   `taxonomy_<axis>` index columns.
2. `CaptionAnnotator` (`captions`): the template caption, or the configured VLM's caption
   (falling back to the template, with the reason, when the VLM gives none) -> `caption` in
   the clip JSON, `caption_short`, `caption_detailed`, `activity_class`, `caption_backend` index
   columns (`template (vlm failed)` marks a fallback, so those clips can be found). A VLM's
   words about the place are mapped onto the taxonomy too (provenance `vlm:<model>`).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from functools import partial
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from humannet.annotate.clip_annotator import ClipAnnotation, ClipAnnotator, StagedClip, read_staged_meta
from humannet.captions.embeddings import TextEmbedder
from humannet.captions.keypoint_motion import KeypointMotion, KeypointMotionConfig, keypoint_motion
from humannet.captions.labels import LabelAssignment, index_columns, merge
from humannet.captions.narrations import (
    ActivityNormaliser,
    Narration,
    NarrationProblem,
    NormalisedAction,
    aligned,
    not_latin,
    read_narrations,
    vocabulary,
)
from humannet.captions.openai_backend import CaptionRequest, OpenAICaptioner, OpenAIConfig, clip_signals, sample_frames
from humannet.captions.schema import Action, Caption, Subjects, VLMCaption
from humannet.captions.signal_labeller import labels_from_signals, metadata_availability, source_type
from humannet.captions.taxonomy import Taxonomy, load_taxonomy
from humannet.captions.template import TemplateInputs, template_caption
from humannet.captions.text_labeller import TextLabelConfig, TextLabeller
from humannet.records import Clip, Video

log = logging.getLogger(__name__)

VLM_FAILED = "template (vlm failed)"  # caption_backend of a clip `humannet recaption` captions again


class CaptionConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(
        True, description="Caption and taxonomy-label every materialised clip (annotators `taxonomy` and `captions`)."
    )
    backend: Literal["template", "openai"] = Field(
        "template",
        description="Captioner: 'template' (from measured signals and narrations) or 'openai' (a VLM server).",
    )
    openai: OpenAIConfig = Field(OpenAIConfig(), description="The VLM server used with backend 'openai'.")
    text_labels: TextLabelConfig = Field(
        TextLabelConfig(), description="Taxonomy labels from source text (MiniLM embeddings)."
    )
    keypoints: KeypointMotionConfig = Field(
        KeypointMotionConfig(), description="Sub-actions and body parts from the clip's keypoint tracks."
    )
    narration_similarity: float = Field(
        0.65,
        ge=-1,
        le=1,
        description="Least MiniLM cosine similarity for a narration word to join a canonical verb or noun class.",
    )
    still_shift: float = Field(
        0.02,
        gt=0,
        description=(
            "Camera shift below which a caption calls the camera static (frame widths/s), as the viewpoint stage does."
        ),
    )


def clip_actions(video: Video, clip: Clip, normaliser: ActivityNormaliser) -> tuple[list[NormalisedAction], list[str]]:
    """The clip's aligned narrations, normalised; unusable ones are reported, not raised."""
    narrations, problems = read_narrations(video.meta)
    actions = []
    for item, _ in aligned(narrations, clip.start_s, clip.end_s):
        try:
            actions.append(normaliser.normalise(item))
        except NarrationProblem as exc:
            problems.append(f"narration at {item.start_s:g} s ({item.source}): {exc}")
    return sorted(actions, key=lambda a: (a.start_s or 0.0, a.end_s or 0.0)), problems


def motion_of(staged: StagedClip, config: KeypointMotionConfig) -> tuple[KeypointMotion | None, list[str]]:
    data = staged.files.get("pose.npz")
    if data is None:
        return None, []
    try:
        return keypoint_motion(data, config), []
    except (OSError, ValueError, KeyError) as exc:
        return None, [f"pose.npz unreadable: {type(exc).__name__}: {exc}"]


class TextAnnotator(ClipAnnotator):
    """What the taxonomy and caption annotators share: the taxonomy, the text embedder and the labellers
    built on it; their version names the label data's own versions."""

    config_sections: ClassVar[tuple[str, ...]] = ("captions",)
    code_version: ClassVar[str] = "1"  # bump when this annotator's own output changes

    def __init__(
        self, config: CaptionConfig, embedder: TextEmbedder | None = None, taxonomy: Taxonomy | None = None
    ) -> None:
        self.config = config
        self.taxonomy = taxonomy or load_taxonomy()
        self.embedder = embedder or TextEmbedder()
        self.version = f"{self.code_version}.t{self.taxonomy.version}.v{vocabulary().version}"
        self.text = TextLabeller(self.taxonomy, self.embedder, config.text_labels)
        self.normaliser = ActivityNormaliser(self.embedder, config.narration_similarity)


class TaxonomyAnnotator(TextAnnotator):
    name: ClassVar[str] = "taxonomy"
    produces: ClassVar[tuple[str, ...]] = ("taxonomy_*",)
    reads_if_present: ClassVar[tuple[str, ...]] = ("pose.npz",)
    writes: ClassVar[tuple[str, ...]] = ("metadata.taxonomy",)

    def __init__(
        self, config: CaptionConfig, embedder: TextEmbedder | None = None, taxonomy: Taxonomy | None = None
    ) -> None:
        super().__init__(config, embedder, taxonomy)
        self._video_labels: tuple[str, list[LabelAssignment], list[str]] | None = None

    def video_text_labels(self, video: Video) -> tuple[list[LabelAssignment], list[str]]:
        """Labels from the video's own text (title, description, tags, untimed narrations), computed
        once per video; text the English model cannot read is reported and skipped."""
        key = video.video_id or video.uri
        if self._video_labels is not None and self._video_labels[0] == key:
            return self._video_labels[1], self._video_labels[2]
        found: list[LabelAssignment] = []
        problems: list[str] = []
        if self.config.text_labels.enabled:
            meta = video.meta
            texts: list[tuple[str, str]] = [
                (field, meta[field])
                for field in ("title", "description")
                if isinstance(meta.get(field), str) and meta[field].strip()
            ]
            tags = meta.get("tags")
            if isinstance(tags, list) and tags:
                texts.append(("tags", ", ".join(str(t) for t in tags[:30])))
            narrations, _ = read_narrations(meta)
            untimed = [n.text for n in narrations if not n.timed][:20]
            if untimed:
                texts.append(("narrations", ". ".join(untimed)))
            for field, text in texts:
                if not_latin(text):
                    problems.append(
                        f"{field} not used for labels: not English (mostly non-Latin letters): {text[:40]!r}"
                    )
                else:
                    found += self.text.label_text(text, f"text:{field}")
        self._video_labels = (key, found, problems)
        return found, problems

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        clip, video = staged.clip, staged.video
        motion, errors = motion_of(staged, self.config.keypoints)
        actions, problems = clip_actions(video, clip, self.normaliser)
        errors += problems
        found = labels_from_signals(self.taxonomy, clip, motion, actions, self.config.still_shift)
        found.append(source_type(self.taxonomy, video.meta))
        found += metadata_availability(self.taxonomy, video.meta)
        from_text, text_problems = self.video_text_labels(video)
        found += from_text
        errors += text_problems
        if self.config.text_labels.enabled and actions:
            found += self.text.label_text(". ".join(a.text for a in actions), "text:clip_narrations")
        merged = merge(found)
        return ClipAnnotation(
            metadata={"taxonomy": [a.to_dict() for a in merged], "taxonomy_version": self.taxonomy.version},
            labels=index_columns(self.taxonomy, merged),  # type: ignore[arg-type]
            errors=errors,
        )


class CaptionAnnotator(TextAnnotator):
    name: ClassVar[str] = "captions"
    code_version: ClassVar[str] = "2"  # 2: caption_backend column, fallbacks marked
    produces: ClassVar[tuple[str, ...]] = ("caption_short", "caption_detailed", "activity_class", "caption_backend")
    reads_if_present: ClassVar[tuple[str, ...]] = ("pose.npz", "metadata.taxonomy")
    writes: ClassVar[tuple[str, ...]] = ("metadata.caption",)

    def __init__(
        self, config: CaptionConfig, embedder: TextEmbedder | None = None, taxonomy: Taxonomy | None = None
    ) -> None:
        super().__init__(config, embedder, taxonomy)
        self.vlm = OpenAICaptioner(config.openai) if config.backend == "openai" else None
        self._pending: dict[str, Future] = {}
        self._pending_video: str | None = None

    def _prefetch(self, staged: StagedClip) -> None:
        """On a video's first clip, send every staged clip of the video to the VLM pool at once."""
        assert self.vlm is not None
        video = staged.video
        if self._pending_video == (video.video_id or video.uri):
            return
        self._pending = {}
        self._pending_video = video.video_id or video.uri
        for clip in video.kept_clips:
            mp4 = staged.mp4.parent / f"{clip.clip_id}.mp4"
            done = read_staged_meta(mp4, clip.clip_id).get("annotators") == staged.stamps
            if mp4.exists() and not done:
                self._pending[clip.clip_id] = self.vlm.submit(partial(self._request, video, clip, mp4), clip.clip_id)

    def _request(self, video: Video, clip: Clip, mp4) -> CaptionRequest:
        frames, times = sample_frames(mp4, self.config.openai.frames_per_clip, self.config.openai.frame_size)
        actions, _ = clip_actions(video, clip, self.normaliser)
        narrations = [
            f"{max(0.0, (clip.start_s if a.start_s is None else a.start_s) - clip.start_s):.1f} s: {a.text}"
            for a in actions
        ]
        return CaptionRequest(
            clip.clip_id, frames, times, clip_signals(clip.scores, clip.labels), narrations, clip.duration_s
        )

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        clip, video = staged.clip, staged.video
        motion, errors = motion_of(staged, self.config.keypoints)
        actions, _ = clip_actions(video, clip, self.normaliser)  # problems are recorded once, by the taxonomy annotator
        assigned = [LabelAssignment(**item) for item in staged.metadata.get("taxonomy", [])]
        environment = max(
            (a for a in assigned if a.axis == "environment"), key=lambda a: (a.score, len(a.path)), default=None
        )
        caption = template_caption(TemplateInputs(clip, motion, actions, environment, self.config.still_shift))
        result = ClipAnnotation()
        if self.vlm is not None:
            self._prefetch(staged)
            future = self._pending.pop(clip.clip_id, None) or self.vlm.submit(
                partial(self._request, video, clip, staged.mp4), clip.clip_id
            )
            try:
                answer: VLMCaption = future.result()
            except Exception as exc:  # any backend failure: keep the template caption and say why
                reason = f"{self.vlm.name}: {type(exc).__name__}: {exc}"
                caption.backend, caption.fallback_reason = VLM_FAILED, reason
                caption.provenance["short"] = caption.provenance["detailed"] = f"template (fallback: {reason})"
                errors.append(f"VLM caption failed, template used: {reason}")
            else:
                caption = merge_vlm(caption, answer, self.vlm.name, self.normaliser)
                vlm_labels = []
                for text in (answer.environment, answer.short):
                    if text:
                        vlm_labels += self.text.label_text(
                            text, self.vlm.name.replace("openai:", "vlm:"), axes=("environment", "interaction_style")
                        )
                if vlm_labels:
                    merged = merge(assigned + vlm_labels)
                    result.metadata["taxonomy"] = [a.to_dict() for a in merged]
                    result.labels.update(index_columns(self.taxonomy, merged))
                    if caption.environment is None:
                        best = max((a for a in merged if a.axis == "environment"), key=lambda a: a.score, default=None)
                        if best is not None:
                            caption.environment = best.label
                            caption.provenance["environment"] = best.provenance
        result.metadata["caption"] = caption.model_dump(mode="json")
        result.labels.update(
            {
                "caption_short": caption.short,
                "caption_detailed": caption.detailed,
                "activity_class": caption.activity_class or "",
                "caption_backend": caption.backend,
            }
        )
        result.errors = errors
        return result


def merge_vlm(template: Caption, answer: VLMCaption, backend: str, normaliser: ActivityNormaliser) -> Caption:
    """The VLM's text, subjects and actions over the template's measured fields; measured
    viewpoint and camera shift stay (the VLM sees a few frames, the pipeline measured the clip)."""
    provenance = dict(template.provenance)
    for name in (
        "short",
        "detailed",
        "subjects.count",
        "subjects.age_group",
        "subjects.clothing",
        "actions",
        "environment_text",
    ):
        provenance[name] = backend
    parts = list(dict.fromkeys([*template.subjects.body_parts_in_view, *answer.subjects.body_parts_in_view]))
    subjects = Subjects(
        count=answer.subjects.count,
        min_count=max(template.subjects.min_count, 1 if answer.subjects.count else 0),
        age_group=answer.subjects.age_group,
        clothing=answer.subjects.clothing,
        body_parts_in_view=parts,
    )
    actions = []
    for item in answer.actions:
        verb, noun, noun_class = item.verb, item.object, None
        try:
            normal = normaliser.normalise(Narration(None, None, f"{item.verb} {item.object or ''}".strip(), "vlm"))
            verb, noun, noun_class = normal.verb, normal.noun, normal.noun_class
        except NarrationProblem:
            pass
        actions.append(
            Action(
                start_s=item.start_s,
                end_s=max(item.start_s, item.end_s),
                actor=item.actor,
                verb=verb,
                object=noun,
                noun_class=noun_class,
                hands=item.hands,
                text=f"{item.verb} {item.object or ''}".strip(),
                provenance=backend,
            )
        )
    camera = template.camera
    if camera.motion == "unknown" and answer.camera_motion != "unknown":
        camera = camera.model_copy(update={"motion": answer.camera_motion})
        provenance["camera.motion"] = backend
    activity = template.activity_class
    if activity is None and actions:
        first = actions[0]
        activity = f"{first.verb}:{first.object}" if first.object else first.verb
        provenance["activity_class"] = backend
    return template.model_copy(
        update={
            "short": answer.short,
            "detailed": answer.detailed,
            "subjects": subjects,
            "actions": actions or template.actions,
            "camera": camera,
            "environment_text": answer.environment,
            "activity_class": activity,
            "backend": backend,
            "provenance": provenance,
        }
    )


def caption_annotators(config: CaptionConfig) -> list[ClipAnnotator]:
    """Taxonomy first (the caption names its environment label), then captions; one embedder for both."""
    if not config.enabled:
        return []
    embedder = TextEmbedder()
    taxonomy = load_taxonomy()
    return [TaxonomyAnnotator(config, embedder, taxonomy), CaptionAnnotator(config, embedder, taxonomy)]
