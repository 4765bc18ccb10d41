"""Licence normalisation: the spellings sources really use, broken metadata, and the stage that applies it."""

from __future__ import annotations

import pytest

from humannet.config import Config
from humannet.engine.pipeline import Pipeline
from humannet.records import Clip, Video
from humannet.review.licenses import TERMS, LicenseStage, license_table, normalize_license


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CC BY 4.0", "CC-BY-4.0"),
        ("CC BY 4.0; attribution: Intel IoT DevKit sample videos", "CC-BY-4.0"),
        ("Creative Commons Attribution license (reuse allowed)", "CC-BY-3.0"),  # YouTube's CC option is CC BY 3.0
        ("cc-by-sa", "CC-BY-SA-4.0"),
        ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
        ("https://creativecommons.org/licenses/by-nc/4.0/", "CC-BY-NC-4.0"),
        ("creativecommons.org/licenses/by-nc-sa/3.0/", "CC-BY-NC-SA-3.0"),
        ("Creative Commons Attribution-NoDerivatives 4.0 International", "CC-BY-ND-4.0"),
        ("CC BY-NC-ND 2.0", "CC-BY-NC-ND-2.0"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
        ("CC0", "CC0-1.0"),
        ("public domain", "public-domain"),
        ("Standard YouTube License", "platform-standard"),
        ("All rights reserved", "all-rights-reserved"),
        ("MIT", "MIT"),
        ("mit license", "MIT"),
        ("Apache License, Version 2.0", "Apache-2.0"),
        ("BSD-3-Clause (repository licence)", "BSD-3-Clause"),
        ("Ｃｃ　ＢＹ　４．０", "CC-BY-4.0"),  # full-width characters (NFKC)
        ("our own terms", "unknown"),
        ("", "unknown"),
        ("   ", "unknown"),
        (None, "unknown"),
    ],
)
def test_spellings_map_to_spdx_ids(text, expected):
    assert normalize_license(text).id == expected


@pytest.mark.parametrize(
    ("value", "issue_start"),
    [
        (None, "missing"),
        ("", "missing"),
        (42, "malformed"),
        ({"weird": 1}, "malformed"),
        (["CC BY 4.0", "Standard YouTube License"], "malformed"),
        ("our own terms", "unrecognised"),
        ("CC BY-SA ND 4.0", "malformed"),
        ("CC BY 9.0", "unrecognised"),
        ("cc-by-sa", "assumed"),
    ],
)
def test_bad_or_incomplete_licence_metadata_is_recorded_not_raised(value, issue_start):
    result = normalize_license(value)
    assert result.issue is not None and result.issue.startswith(issue_start)
    assert (result.id == "CC-BY-SA-4.0") if issue_start == "assumed" else (result.id == "unknown")


def test_structured_values_are_read():
    assert normalize_license({"spdx": "CC-BY-4.0"}).id == "CC-BY-4.0"
    assert normalize_license({"name": "Creative Commons Attribution-ShareAlike 4.0"}).id == "CC-BY-SA-4.0"
    assert normalize_license(["CC BY 4.0"]).id == "CC-BY-4.0"
    assert normalize_license(["CC BY 4.0", "cc-by-4.0"]).id == "CC-BY-4.0"


def test_terms_are_machine_readable_and_consistent():
    table = license_table()
    for license in table.licenses.values():
        assert set(license.terms.to_dict()) == set(TERMS)
    names = ("CC-BY-4.0", "CC-BY-NC-SA-4.0", "CC-BY-ND-4.0", "CC0-1.0", "platform-standard", "unknown")
    terms = {license_id: table.get(license_id).terms for license_id in names}
    assert terms["CC-BY-4.0"].commercial_use and terms["CC-BY-4.0"].attribution and not terms["CC-BY-4.0"].share_alike
    assert not terms["CC-BY-NC-SA-4.0"].commercial_use and terms["CC-BY-NC-SA-4.0"].share_alike
    assert not terms["CC-BY-ND-4.0"].derivatives
    assert not terms["CC0-1.0"].attribution
    assert not terms["platform-standard"].redistribution and not terms["unknown"].redistribution
    assert table.get("CC-BY-SA-4.0").url == "https://creativecommons.org/licenses/by-sa/4.0/"


def test_stage_labels_every_clip_and_stamps_the_video():
    video = Video(uri="/in/a.mp4", video_id="a", meta={"license": {"broken": True}})
    video.clips = [Clip("a_0", "a", 0.0, 2.0, 0, 50, 0), Clip("a_1", "a", 2.0, 4.0, 50, 100, 0)]
    stage = LicenseStage()
    Pipeline(
        [stage], Config().decode, stamps={"license": stage.stamp(Config())}, available=("meta", "clips")
    ).run_stages(video)  # the pipeline stamps what a rerunnable stage filled
    assert video.meta["license_spdx"] == "unknown"
    assert all(
        c.labels["license_spdx"] == "unknown" and c.labels["license_issue"].startswith("malformed") for c in video.clips
    )
    assert video.stamps["license"].startswith(LicenseStage.version)
    video.meta["license"] = "CC BY 4.0"  # fixed upstream, applied again: the stale issue goes
    LicenseStage().process(video)
    assert all(c.labels["license_spdx"] == "CC-BY-4.0" and "license_issue" not in c.labels for c in video.clips)
