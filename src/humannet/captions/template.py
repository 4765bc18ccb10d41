"""The default captioner: deterministic captions composed from measured signals and aligned,
normalised narrations. It states only what was measured or given; anything else (apparent age,
clothing, an exact head count) stays empty with provenance `not_measured`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from humannet.captions.keypoint_motion import KeypointMotion
from humannet.captions.labels import LabelAssignment
from humannet.captions.narrations import NormalisedAction
from humannet.captions.schema import Action, Camera, Caption, Subjects
from humannet.records import Clip

MOTION_PHRASES = {
    "manipulation": "handles objects",
    "gesture": "gestures with the hands",
    "locomotion": "moves across the scene",
    "whole_body": "moves the whole body",
    "static": "stays nearly still",
}
PLACE_PHRASES = {"indoor": "indoors", "outdoor": "outdoors", "virtual": "on screen"}


@dataclass
class TemplateInputs:
    clip: Clip
    motion: KeypointMotion | None  # from pose.npz; None when the clip has none
    actions: list[NormalisedAction]  # aligned narrations of this clip, in time order
    environment: LabelAssignment | None  # best environment label, if any
    still_shift: float  # camera shift below which the camera counts as static (frame widths/s)


def third_person(verb: str) -> str:
    words = verb.replace("_", " ").split()
    head = words[0]
    if head.endswith(("s", "sh", "ch", "x", "z", "o")):
        head += "es"
    elif head.endswith("y") and len(head) > 1 and head[-2] not in "aeiou":
        head = head[:-1] + "ies"
    else:
        head += "s"
    return " ".join([head, *words[1:]])


def _phrase(action: Action) -> str:
    verb = third_person(action.verb)
    return f"{verb} the {action.object.replace('_', ' ')}" if action.object else verb


def template_caption(inputs: TemplateInputs) -> Caption:
    clip = inputs.clip
    provenance: dict[str, str] = {"short": "template", "detailed": "template"}
    view = clip.labels.get("viewpoint")
    viewpoint = view if view in ("ego", "exo") else "unknown"
    provenance["camera.viewpoint"] = "measured:viewpoint" if view is not None else "not_measured"
    shift = clip.scores.get("camera_shift", math.nan)
    camera_motion = "unknown" if not math.isfinite(shift) else "static" if shift < inputs.still_shift else "moving"
    provenance["camera.motion"] = "measured:camera_shift" if math.isfinite(shift) else "not_measured"

    motion = inputs.motion
    seen_person = clip.scores.get("any_person_fraction", 0.0) > 0 or (
        motion is not None and (motion.body_parts or motion.hand_samples)
    )
    body_parts = list(motion.body_parts) if motion is not None else []
    if motion is None:
        if clip.scores.get("face_fraction", 0.0) > 0:
            body_parts.append("face")
        if clip.scores.get("hand_fraction", 0.0) > 0:
            body_parts.append("hands")
    provenance["subjects.min_count"] = "measured:person_detector"
    provenance["subjects.body_parts_in_view"] = (
        "measured:keypoints" if motion is not None else "measured:person_detector"
    )
    for name in ("subjects.count", "subjects.age_group", "subjects.clothing"):
        provenance[name] = "not_measured"
    subjects = Subjects(min_count=1 if seen_person else 0, body_parts_in_view=body_parts)

    actor = "camera wearer" if viewpoint == "ego" else "person"
    actions = _actions(inputs, actor)
    provenance["actions"] = ",".join(sorted({a.provenance for a in actions})) or "not_measured"
    environment = inputs.environment
    provenance["environment"] = environment.provenance if environment else "not_measured"
    main = max(
        inputs.actions,
        key=lambda a: (a.source.lower() not in ("subtitles", "asr", "transcript"), _overlap(a, clip)),
        default=None,
    )
    activity_class = main.activity_class if main else None
    provenance["activity_class"] = f"narration:{main.source}" if main else "not_measured"

    short, detailed = _texts(clip, viewpoint, camera_motion, shift, subjects, actions, environment, main)
    return Caption(
        clip_id=clip.clip_id,
        short=short,
        detailed=detailed,
        subjects=subjects,
        actions=actions,
        camera=Camera(
            viewpoint=viewpoint, motion=camera_motion, shift=round(shift, 5) if math.isfinite(shift) else None
        ),
        environment=environment.label if environment else None,
        activity_class=activity_class,
        backend="template",
        provenance=provenance,
    )


def _overlap(action: NormalisedAction, clip: Clip) -> float:
    if action.start_s is None:
        return 0.0
    end = action.end_s if action.end_s is not None else action.start_s
    return max(0.0, min(clip.end_s, end) - max(clip.start_s, action.start_s))


def _actions(inputs: TemplateInputs, actor: str) -> list[Action]:
    """Narrated actions (clip-relative, hands from the overlapping keypoint sub-action), else the
    measured sub-actions of hand motion as 'move' with the hand that moved."""
    clip = inputs.clip
    duration = clip.duration_s
    strokes = inputs.motion.sub_actions if inputs.motion else []
    found = []
    for item in inputs.actions:
        start = max(0.0, (clip.start_s if item.start_s is None else item.start_s) - clip.start_s)
        end = min(duration, (item.end_s if item.end_s is not None else clip.end_s) - clip.start_s)
        end = max(end, start)
        hands = "unknown"
        overlaps = [(min(end, s.end_s) - max(start, s.start_s), s.hands) for s in strokes]
        overlaps = [o for o in overlaps if o[0] > 0]
        if overlaps:
            hands = max(overlaps)[1]
        found.append(
            Action(
                start_s=round(start, 3),
                end_s=round(end, 3),
                actor=actor,
                verb=item.verb,
                object=item.noun,
                noun_class=item.noun_class,
                hands=hands,  # type: ignore[arg-type]
                text=item.text,
                provenance=f"narration:{item.source}",
            )
        )
    if found:
        return sorted(found, key=lambda a: (a.start_s, a.end_s))
    for stroke in strokes:
        hand_text = {"both": "both hands", "left": "the left hand", "right": "the right hand"}.get(
            stroke.hands, "the hands"
        )
        found.append(
            Action(
                start_s=stroke.start_s,
                end_s=min(stroke.end_s, round(duration, 3)),
                actor=actor,
                verb="move",
                object="hand",
                noun_class="body",
                hands=stroke.hands,  # type: ignore[arg-type]
                text=f"moves {hand_text}",
                provenance="measured:keypoints",
            )
        )
    return found


def _texts(
    clip: Clip,
    viewpoint: str,
    camera_motion: str,
    shift: float,
    subjects: Subjects,
    actions: list[Action],
    environment: LabelAssignment | None,
    main: NormalisedAction | None,
) -> tuple[str, str]:
    if viewpoint == "ego":
        subject = "The camera wearer"
    elif subjects.min_count:
        subject = "A person"
    else:
        subject = "No person is detected; the scene"
    categories = clip.labels.get("motion_categories")
    categories = categories if isinstance(categories, list) else []
    if main is not None:
        doing = _phrase(Action(start_s=0, end_s=0, actor="", verb=main.verb, object=main.noun, provenance=""))
    elif categories and subjects.min_count:
        doing = " and ".join(MOTION_PHRASES.get(c, c.replace("_", " ")) for c in categories[:2])
    elif viewpoint == "ego":
        doing = "films the scene"
    elif subjects.min_count:
        doing = "is in view"
    else:
        doing = "is shown"
    place = ""
    if environment is not None:
        place = (
            f" {PLACE_PHRASES[environment.label]}"
            if environment.label in PLACE_PHRASES
            else f" in {_article(environment.label.replace('_', ' '))}"
        )
    view_text = {"ego": "seen from a first-person camera", "exo": "seen from a third-person camera"}.get(viewpoint, "")
    camera_text = {"static": "that stays still", "moving": "that moves"}.get(camera_motion, "")
    short = f"{subject} {doing}{place}"
    if view_text:
        short += f", {view_text}" + (f" {camera_text}" if camera_text else "")
    short += "."
    sentences = [short]
    if subjects.body_parts_in_view:
        sentences.append("In view: " + ", ".join(p.replace("_", " ") for p in subjects.body_parts_in_view) + ".")
    if actions:
        steps = [
            f"{a.start_s:.1f}-{a.end_s:.1f} s: {a.text if a.provenance == 'measured:keypoints' else _phrase(a)}"
            + (
                f" ({a.hands} hand{'s' if a.hands == 'both' else ''})"
                if a.hands in ("left", "right", "both") and a.provenance != "measured:keypoints"
                else ""
            )
            for a in actions[:8]
        ]
        sentences.append("Actions: " + "; ".join(steps) + ".")
    if categories:
        sentences.append("Motion: " + ", ".join(c.replace("_", " ") for c in categories) + ".")
    if math.isfinite(shift):
        sentences.append(f"Camera {camera_motion} (median shift {shift:.3f} frame widths/s).")
    if main is not None:
        sentences.append(f'Source narration ({main.source}): "{main.text}".')
    return short, " ".join(sentences)


def _article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
