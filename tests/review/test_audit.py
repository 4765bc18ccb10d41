"""The licence audit over a small corpus index written by the corpus writer."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from humannet.corpus.writer import write_index
from humannet.records import Clip, Status, Video
from humannet.review.audit import NON_COMMERCIAL, OPEN, RESTRICTED, UNKNOWN, audit, normalize_license


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CC BY 4.0; attribution: Intel IoT DevKit sample videos", ("CC-BY-4.0", OPEN)),
        ("Creative Commons Attribution 4.0 International", ("CC-BY-4.0", OPEN)),
        ("cc-by-nc-sa-4.0", ("CC-BY-NC-SA-4.0", NON_COMMERCIAL)),
        ("Creative Commons Attribution-NonCommercial 3.0", ("CC-BY-NC-3.0", NON_COMMERCIAL)),
        ("CC0 1.0 Universal", ("CC0-1.0", OPEN)),
        ("Apache-2.0 (repository licence)", ("Apache-2.0", OPEN)),
        ("BSD-3-Clause (repository licence)", ("BSD-3-Clause", OPEN)),
        ("Pexels License", ("Pexels", RESTRICTED)),  # free use, but not redistribution as-is
        ("for research only", ("research-only", NON_COMMERCIAL)),
        ("Standard YouTube License", ("platform-standard", RESTRICTED)),
        ("All rights reserved", ("all-rights-reserved", RESTRICTED)),
        ("our own terms", ("unknown", UNKNOWN)),
        ("", ("unknown", UNKNOWN)),
        (None, ("unknown", UNKNOWN)),
    ],
)
def test_common_spellings_normalise(text, expected):
    assert normalize_license(text) == expected


def _video(name: str, license_text: str | None, clip_seconds: list[float]) -> Video:
    video = Video(uri=f"/in/{name}.mp4", video_id=name, meta={"license": license_text} if license_text else {})
    start = 0.0
    for number, seconds in enumerate(clip_seconds):
        video.clips.append(
            Clip(f"{name}_{number:07d}", name, start, start + seconds, number * 100, number * 100 + 100, 0)
        )
        start += seconds
    return video


def test_audit_counts_clips_and_hours_by_licence_and_flags(tmp_path):
    videos = [
        _video("a", "CC BY 4.0", [3600.0, 1800.0]),
        _video("b", "CC-BY-4.0 (attribution: someone)", [1800.0]),
        _video("c", "CC BY-NC 4.0", [360.0]),
        _video("d", None, [720.0]),
        _video("e", "Apache-2.0", [10.0]),
    ]
    videos[4].status = Status.DROPPED  # a dropped video's clips are not in the clip index
    write_index(tmp_path, videos)
    report = audit(tmp_path)
    by_name = {row.license: row for row in report.rows}
    assert set(by_name) == {"CC-BY-4.0", "CC-BY-NC-4.0", "unknown"}
    assert by_name["CC-BY-4.0"].videos == 2 and by_name["CC-BY-4.0"].clips == 3
    assert by_name["CC-BY-4.0"].clip_hours == pytest.approx(2.0)
    assert by_name["CC-BY-4.0"].spellings == ["CC BY 4.0", "CC-BY-4.0 (attribution: someone)"]
    assert report.rows[0].license == "CC-BY-4.0"  # most hours first
    assert {c["clip_id"] for c in report.flagged_clips} == {"c_0000000", "d_0000000"}
    data = json.loads(report.to_json())
    assert data["clips"] == 5 and data["flagged_clips_total"] == 2
    table = report.format_table()
    assert "CC-BY-NC-4.0" in table and "flagged" in table and "2 clips" in table


def test_audit_counts_clips_a_review_stage_did_not_check(tmp_path):
    both = {"unsafe": "1:aaaa", "pii": "1:bbbb", "license": "1:"}
    reviewed = _video("a", "CC BY 4.0", [10.0, 10.0])
    reviewed.stamps = dict(both)
    unsafe_off = _video("b", "CC BY 4.0", [10.0])
    unsafe_off.stamps = {"pii": both["pii"], "license": both["license"]}
    model_missing = _video("c", "CC BY 4.0", [10.0])
    model_missing.stamps = dict(both)
    model_missing.clips[0].labels["review_issues"] = ["pii: not reviewed: FileNotFoundError: no model"]
    write_index(tmp_path, [reviewed, unsafe_off, model_missing])
    review = audit(tmp_path).review
    assert (review.not_reviewed_clips, review.not_reviewed_by_stage) == (2, {"pii": 1, "unsafe": 1})
    assert review.review_stamps_recorded

    # an index written before videos carried their review stamps: stages that were off cannot be counted, and it says so
    videos = pq.read_table(tmp_path / "videos.parquet")
    pq.write_table(videos.drop_columns(["review_stamps"]), tmp_path / "videos.parquet")
    report = audit(tmp_path)
    assert (report.review.not_reviewed_clips, report.review.not_reviewed_by_stage) == (1, {"pii": 1, "unsafe": 0})
    assert not report.review.review_stamps_recorded and "has no review_stamps" in report.format_table()
