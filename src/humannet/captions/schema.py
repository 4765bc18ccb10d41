"""The caption of one clip: free text plus structure, each field saying where it came from.

A caption is stored as `caption` in the clip's JSON in the shard; `short`, `detailed` and
`activity_class` are also index columns. `provenance` maps every field to its source:
`measured:<signal>` (a number the pipeline measured), `narration:<source>` (a source narration
aligned to the clip), `text:<field>` (title, description, tags), `vlm:<model>` (a vision-language
model), `template` (composed by rules from the others) or `not_measured` (left empty on purpose).
`docs/captions.md` holds the exported JSON schema (`caption_json_schema()`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

CAPTION_SCHEMA_VERSION = 1

BodyPart = Literal["face", "upper_body", "arms", "hands", "lower_body", "legs", "feet"]
Hands = Literal["left", "right", "both", "none", "unknown"]


class Subjects(BaseModel, extra="forbid"):
    count: int | None = Field(
        None,
        ge=0,
        description="How many people are in view, when a source could count them (a VLM); null when unknown.",
    )
    min_count: int = Field(
        0, ge=0, description="At least this many people were detected (the default detector sees one person at a time)."
    )
    age_group: Literal["child", "adult", "elderly", "mixed"] | None = Field(
        None, description="Apparent age group; null unless a source reported it."
    )
    clothing: list[str] = Field(
        default_factory=list, description="Visible clothing, as short phrases; empty unless a source reported it."
    )
    body_parts_in_view: list[BodyPart] = Field(
        default_factory=list, description="Body parts seen in the clip (from keypoints or a VLM)."
    )


class Action(BaseModel, extra="forbid"):
    start_s: float = Field(ge=0, description="Start, seconds from the clip start.")
    end_s: float = Field(ge=0, description="End, seconds from the clip start.")
    actor: str = Field(description="Who acts: 'camera wearer', 'person', 'person 2', ...")
    verb: str = Field(
        description="Canonical verb class (assets/activity_vocabulary.yaml) or the lemma when it has none."
    )
    object: str | None = Field(None, description="Canonical noun of the acted-on object; null when not known.")
    noun_class: str | None = Field(None, description="Group of the object noun (vegetable, cookware, ...), when known.")
    hands: Hands = Field("unknown", description="Hand(s) used, from hand keypoint motion or a VLM.")
    text: str = Field("", description="The phrase this action was read from or composed into.")
    provenance: str = Field(
        description="Where the action came from (narration:<source>, measured:keypoints, vlm:<model>)."
    )


class Camera(BaseModel, extra="forbid"):
    viewpoint: Literal["ego", "exo", "unknown"] = "unknown"
    motion: Literal["static", "moving", "unknown"] = "unknown"
    shift: float | None = Field(None, description="Median camera translation, frame widths per second (measured).")


class Caption(BaseModel, extra="forbid"):
    schema_version: int = CAPTION_SCHEMA_VERSION
    clip_id: str
    short: str = Field(description="One sentence.")
    detailed: str = Field(description="A few sentences: people, actions in order, camera, place.")
    subjects: Subjects = Subjects()
    actions: list[Action] = Field(
        default_factory=list, description="Chronological actions with clip-relative time spans."
    )
    camera: Camera = Camera()
    environment: str | None = Field(None, description="Environment taxonomy label (leaf or coarser), or null.")
    environment_text: str | None = Field(
        None, description="Free-text description of the place, when a source gave one."
    )
    activity_class: str | None = Field(None, description="Canonical `verb:noun` (or `verb`) of the clip's main action.")
    backend: str = Field(
        description="'template', 'openai:<model>', or 'template (vlm failed)' when the VLM gave no caption."
    )
    provenance: dict[str, str] = Field(default_factory=dict, description="Field name -> source of that field.")
    fallback_reason: str | None = Field(
        None, description="Why the configured backend's caption was not used (template fallback)."
    )


class VLMSubjects(BaseModel, extra="forbid"):
    count: int = Field(ge=0)
    age_group: Literal["child", "adult", "elderly", "mixed"] | None = None
    clothing: list[str] = Field(default_factory=list)
    body_parts_in_view: list[BodyPart] = Field(default_factory=list)


class VLMAction(BaseModel, extra="forbid"):
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    actor: str
    verb: str
    object: str | None = None
    hands: Hands = "unknown"


class VLMCaption(BaseModel, extra="forbid"):
    """What the VLM must answer: the request's clip ID echoed back, then the caption fields it can see."""

    clip_id: str
    short: str = Field(min_length=1)
    detailed: str = Field(min_length=1)
    subjects: VLMSubjects
    actions: list[VLMAction] = Field(default_factory=list)
    environment: str | None = None
    camera_motion: Literal["static", "moving", "unknown"] = "unknown"


def caption_json_schema() -> dict:
    return Caption.model_json_schema()


def vlm_json_schema() -> dict:
    return VLMCaption.model_json_schema()
