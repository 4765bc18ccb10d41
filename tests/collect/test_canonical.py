"""Canonical IDs, URL safety and file names."""

from __future__ import annotations

import pytest

from humannet.collect.canonical import (
    UnsafeURLError,
    canonical_id,
    check_url,
    file_stem,
    info_id,
    normalise_url,
    path_inside,
)


def test_one_video_has_one_id_whatever_the_url_form():
    forms = [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtu.be/dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42&feature=share",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
    ]
    assert {canonical_id(url) for url in forms} == {"youtube:dQw4w9WgXcQ"}
    assert info_id({"ie_key": "Youtube", "id": "dQw4w9WgXcQ", "url": forms[1]}) == "youtube:dQw4w9WgXcQ"
    assert info_id({"extractor_key": "Vimeo", "id": "76979871"}) == canonical_id("https://vimeo.com/76979871")


def test_generic_urls_hash_their_normalised_form():
    a = canonical_id("HTTP://Example.COM:80/clips/a.mp4?b=2&a=1&utm_source=feed#t=3")
    b = canonical_id("http://example.com/clips/a.mp4?a=1&b=2")
    assert a == b and a.startswith("url:")
    assert canonical_id("http://example.com/clips/b.mp4") != a
    assert normalise_url("https://Host.org:443/x?z=1&y=2") == "https://host.org/x?y=2&z=1"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://host/a.mp4",
        "javascript:alert(1)",
        "data:video/mp4;base64,AAAA",
        "/local/a.mp4",
        "http://",
    ],
)
def test_only_http_and_https_urls_are_fetched(url):
    with pytest.raises(UnsafeURLError):
        check_url(url)
    assert check_url(" https://example.com/a.mp4 ") == "https://example.com/a.mp4"


@pytest.mark.parametrize(
    "video_id",
    [
        "url:../../etc/passwd",
        "x:/absolute/path",
        "generic:a/b\\c",
        "youtube:..",
        "weird:名前 with spaces",
        "y:" + "a" * 300,
    ],
)
def test_file_names_never_leave_the_download_folder(tmp_path, video_id):
    stem = file_stem(video_id)
    assert set(stem) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    assert len(stem) <= 91
    assert path_inside(tmp_path, stem, ".mp4").parent == tmp_path.resolve()
    with pytest.raises(UnsafeURLError):
        path_inside(tmp_path, "../escape", ".mp4")


def test_distinct_ids_give_distinct_file_names():
    ids = ["a:x/y", "a:x_y", "a:x?y", "a:x y", "youtube:abc", "youtube:abd"]
    assert len({file_stem(i) for i in ids}) == len(ids)


def test_subtitles_parse_into_narrations_and_rolling_captions_merge():
    from humannet.collect.subtitles import parse_subtitles

    srt = "1\n00:00:01,000 --> 00:00:02,500\nOpen the <i>jar</i>\n\n2\n00:00:02,500 --> 00:00:04,000\nthen pour\n"
    assert parse_subtitles(srt) == [
        {"start_s": 1.0, "end_s": 2.5, "text": "Open the jar", "source": "subtitles"},
        {"start_s": 2.5, "end_s": 4.0, "text": "then pour", "source": "subtitles"},
    ]
    rolling = (
        "WEBVTT\nKind: captions\n\n"
        "00:00:00.000 --> 00:00:01.000 align:start\nnow we\n\n"
        "00:00:01.000 --> 00:00:02.000 align:start\nnow we knead\n\n"
        "00:00:02.000 --> 00:00:03.000 align:start\nnow we knead\n\n"
        "00:01:00.000 --> 00:01:01.500\nfold it over\n"
    )
    assert parse_subtitles(rolling, source="automatic_captions") == [
        {"start_s": 0.0, "end_s": 3.0, "text": "now we knead", "source": "automatic_captions"},
        {"start_s": 60.0, "end_s": 61.5, "text": "fold it over", "source": "automatic_captions"},
    ]
    assert parse_subtitles("") == [] and parse_subtitles("garbage --> more garbage\ntext\n") == []
