"""Release policies: which clips may ship, as media or only as references, and why the others may not.

A policy is settings, not code, so a lab can add its own under `[review.policies.NAME]`. The
decision for one clip runs the checks below in order and reports the first that fails:

  review     the clip was quarantined or dropped by the unsafe-content review, scores above the
             policy's `max_unsafe_score`, or a review stage did not check it (`require_review`): the
             stage could not run on it, or was off when its video was curated (the video carries
             no stamp of the stage);
  pii        it shows identifying text and the policy withholds such clips (or requires it hidden);
  faces      faces were not hidden in the written clip and the policy requires that;
  license    its licence is unknown, denied, or its terms forbid what the release does: commercial
             use (when the policy requires it), adaptations (No-Derivatives: a cut, re-encoded,
             blurred clip is an adaptation), share-alike terms the policy does not accept, or
             redistribution at all (platform-standard, all rights reserved).
Licences that forbid redistribution or adaptations can still be listed as references (source
URL and span, no media), the way YouTube-based datasets are published, when the policy says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from humannet.review.licenses import UNKNOWN, LicenseInfo
from humannet.review.pii import PiiStage
from humannet.review.unsafe import UnsafeContentStage

RELEASE, REFERENCE, WITHHOLD = "release", "reference", "withhold"
CONTENT_REVIEWS = (UnsafeContentStage.name, PiiStage.name)  # the review stages `require_review` asks for


class ReleasePolicy(BaseModel, extra="forbid"):
    description: str = Field("", description="What this policy is for (printed in the release summary).")
    require_commercial_use: bool = Field(
        False, description="Withhold clips whose licence does not allow commercial use."
    )
    allow_share_alike: bool = Field(
        True, description="Accept share-alike licences (the release then carries their terms)."
    )
    allow_unknown: bool = Field(
        False, description="Ship clips with an `unknown` licence (missing or unrecognised licence text)."
    )
    reference_when_not_redistributable: bool = Field(
        True,
        description=(
            "Clips whose licence forbids redistribution or adaptations are listed as references (source URL + span) "
            "instead of withheld."
        ),
    )
    allow_licenses: list[str] = Field(
        default_factory=list,
        description="Licence IDs always accepted, whatever their terms (e.g. one you hold a waiver for).",
    )
    deny_licenses: list[str] = Field(default_factory=list, description="Licence IDs always withheld.")
    max_unsafe_score: float = Field(
        0.5, ge=0, le=1, description="Withhold clips whose unsafe_score is above this (0-1)."
    )
    pii: Literal["withhold", "allow_if_hidden", "allow"] = Field(
        "allow_if_hidden",
        description=(
            "Clips with identifying text: 'withhold', 'allow_if_hidden' (only when the flagged regions were hidden), "
            "'allow'."
        ),
    )
    require_faces_hidden: bool = Field(True, description="Withhold clips written without face hiding.")
    require_review: bool = Field(
        True,
        description=(
            "Withhold clips a review stage (unsafe, pii) did not check: it could not run on them, or was off when "
            "their video was curated."
        ),
    )


def builtin_policies() -> dict[str, ReleasePolicy]:
    return {
        "research": ReleasePolicy(
            description=(
                "Research release: non-commercial licences accepted; platform-standard and No-Derivatives clips as "
                "references only."
            ),
        ),
        "commercial": ReleasePolicy(
            description=(
                "Commercial release: only licences that allow commercial use and adaptation; share-alike accepted "
                "with its terms."
            ),
            require_commercial_use=True,
            reference_when_not_redistributable=False,
            pii="withhold",
        ),
    }


@dataclass(frozen=True)
class ClipReview:
    """What the release decision looks at for one clip."""

    license: LicenseInfo
    quarantine_reason: str | None  # set when the review stages dropped or quarantined the clip
    unsafe_score: float | None
    pii_flags: list[str]
    pii_hidden: bool
    faces_hidden: bool
    review_issues: list[str]
    reviewed_by: frozenset[str]  # the review stages whose stamp the clip's video carries (`Video.stamps`)
    has_media: bool


def unreviewed(reviewed_by: frozenset[str], review_issues: list[str]) -> list[str]:
    """Why content reviews did not check a clip, as `stage: not reviewed: why` texts: a stage its video carries
    no stamp of was off when it was curated; `review_issues` are the stages' own (a model that could not load)."""
    off = [
        f"{stage}: not reviewed: the stage was off when the video was curated"
        for stage in CONTENT_REVIEWS
        if stage not in reviewed_by
    ]
    return [*off, *review_issues]


@dataclass(frozen=True)
class Decision:
    decision: str  # release, reference, withhold
    reason: str  # "key: detail"; empty when released


def decide(policy: ReleasePolicy, clip: ClipReview) -> Decision:
    if clip.quarantine_reason:
        return Decision(WITHHOLD, f"review: {clip.quarantine_reason}")
    if clip.unsafe_score is not None and clip.unsafe_score > policy.max_unsafe_score:
        return Decision(WITHHOLD, f"review: unsafe_score={clip.unsafe_score:.3f} > {policy.max_unsafe_score:g}")
    if policy.require_review and (gaps := unreviewed(clip.reviewed_by, clip.review_issues)):
        return Decision(WITHHOLD, f"not_reviewed: {'; '.join(gaps)}")
    license_decision = decide_license(policy, clip.license)
    if license_decision.decision != RELEASE:
        return license_decision  # withheld, or a reference: no pixels ship, so text and faces do not matter
    if clip.pii_flags and policy.pii == "withhold":
        return Decision(WITHHOLD, f"pii: identifying text on screen ({', '.join(clip.pii_flags)})")
    if clip.pii_flags and policy.pii == "allow_if_hidden" and not clip.pii_hidden:
        return Decision(WITHHOLD, f"pii: identifying text on screen not hidden ({', '.join(clip.pii_flags)})")
    if policy.require_faces_hidden and not clip.faces_hidden:
        return Decision(WITHHOLD, "faces: the clip was written without face hiding")
    if not clip.has_media:
        return Decision(REFERENCE, "no_media: the clip has no file in the corpus (curated with --no-materialize)")
    return license_decision


def decide_license(policy: ReleasePolicy, license: LicenseInfo) -> Decision:
    terms = license.terms
    if license.id in policy.deny_licenses:
        return Decision(WITHHOLD, f"license: {license.id} is denied by the policy")
    if license.id in policy.allow_licenses:
        return Decision(RELEASE, "")
    if license.id == UNKNOWN:
        return Decision(RELEASE, "") if policy.allow_unknown else Decision(WITHHOLD, "license: unknown licence")
    if policy.require_commercial_use and not terms.commercial_use:
        return Decision(WITHHOLD, f"license: {license.id} does not allow commercial use")
    if terms.share_alike and not policy.allow_share_alike:
        return Decision(WITHHOLD, f"license: {license.id} is share-alike")
    if not terms.redistribution or not terms.derivatives:
        why = (
            "does not allow redistribution"
            if not terms.redistribution
            else "does not allow adaptations (clips are cut and re-encoded)"
        )
        if policy.reference_when_not_redistributable:
            return Decision(REFERENCE, f"license: {license.id} {why}")
        return Decision(WITHHOLD, f"license: {license.id} {why}")
    return Decision(RELEASE, "")
