"""Release decisions: each check of a policy, in order, on hand-made clip reviews."""

from __future__ import annotations

from dataclasses import replace

import pytest

from humannet.review.licenses import license_table
from humannet.review.policy import (
    CONTENT_REVIEWS,
    REFERENCE,
    RELEASE,
    WITHHOLD,
    ClipReview,
    Decision,
    ReleasePolicy,
    builtin_policies,
    decide,
)

POLICIES = builtin_policies()


def review(license_id: str = "CC-BY-4.0", **changes) -> ClipReview:
    base = ClipReview(
        license=license_table().get(license_id),
        quarantine_reason=None,
        unsafe_score=0.01,
        pii_flags=[],
        pii_hidden=False,
        faces_hidden=True,
        review_issues=[],
        reviewed_by=frozenset(CONTENT_REVIEWS),
        has_media=True,
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("license_id", "research", "commercial"),
    [
        ("CC-BY-4.0", RELEASE, RELEASE),
        ("CC0-1.0", RELEASE, RELEASE),
        ("CC-BY-SA-4.0", RELEASE, RELEASE),
        ("CC-BY-NC-4.0", RELEASE, WITHHOLD),
        ("CC-BY-NC-SA-4.0", RELEASE, WITHHOLD),
        ("CC-BY-ND-4.0", REFERENCE, WITHHOLD),
        ("platform-standard", REFERENCE, WITHHOLD),
        ("unknown", WITHHOLD, WITHHOLD),
        ("MIT", RELEASE, RELEASE),
    ],
)
def test_licence_decisions_of_the_builtin_policies(license_id, research, commercial):
    assert decide(POLICIES["research"], review(license_id)).decision == research
    assert decide(POLICIES["commercial"], review(license_id)).decision == commercial


def test_unknown_is_withheld_unless_the_policy_allows_it():
    assert decide(POLICIES["research"], review("unknown")).reason == "license: unknown licence"
    lenient = ReleasePolicy(allow_unknown=True)
    assert decide(lenient, review("unknown")).decision == RELEASE


def test_review_results_withhold_before_the_licence_is_looked_at():
    policy = POLICIES["research"]
    assert decide(policy, review(quarantine_reason="quarantined: unsafe: x")).reason.startswith("review: quarantined")
    assert decide(policy, review(unsafe_score=0.9)).reason.startswith("review: unsafe_score=0.900")
    assert decide(policy, review(review_issues=["unsafe: not reviewed: model missing"])).reason.startswith(
        "not_reviewed"
    )
    assert decide(ReleasePolicy(require_review=False), review(review_issues=["pii: not reviewed"])).decision == RELEASE


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_a_clip_whose_video_a_review_stage_did_not_run_on_is_not_reviewed(name):
    decision = decide(POLICIES[name], review(reviewed_by=frozenset({"pii"})))
    assert decision == Decision(
        WITHHOLD, "not_reviewed: unsafe: not reviewed: the stage was off when the video was curated"
    )
    assert decide(ReleasePolicy(require_review=False), review(reviewed_by=frozenset())).decision == RELEASE


def test_identifying_text_and_faces():
    assert decide(POLICIES["research"], review(pii_flags=["email"], pii_hidden=False)).reason.startswith(
        "pii: identifying text on screen not hidden"
    )
    assert decide(POLICIES["research"], review(pii_flags=["email"], pii_hidden=True)).decision == RELEASE
    assert decide(POLICIES["commercial"], review(pii_flags=["email"], pii_hidden=True)).decision == WITHHOLD
    assert decide(POLICIES["research"], review(faces_hidden=False)).reason.startswith("faces")
    # a reference ships no pixels: text and faces do not matter for it
    assert (
        decide(POLICIES["research"], review("platform-standard", pii_flags=["phone"], faces_hidden=False)).decision
        == REFERENCE
    )


def test_allow_and_deny_lists_override_terms():
    assert (
        decide(
            ReleasePolicy(require_commercial_use=True, allow_licenses=["CC-BY-NC-4.0"]), review("CC-BY-NC-4.0")
        ).decision
        == RELEASE
    )
    assert decide(ReleasePolicy(deny_licenses=["CC-BY-4.0"]), review("CC-BY-4.0")).decision == WITHHOLD
    assert decide(ReleasePolicy(allow_share_alike=False), review("CC-BY-SA-4.0")).decision == WITHHOLD


def test_a_clip_without_a_file_is_a_reference():
    assert decide(POLICIES["research"], review(has_media=False)).decision == REFERENCE
