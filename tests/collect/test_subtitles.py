"""Subtitle parsing: rolling repeats merge, the same words said again later stay."""

from __future__ import annotations

from humannet.collect.subtitles import parse_subtitles


def test_the_same_line_minutes_apart_is_two_narrations():
    vtt = (
        "WEBVTT\n\n"
        "00:00:05.000 --> 00:00:07.000\nstir the pot\n\n"
        "00:03:00.000 --> 00:03:02.000\nstir the pot\n\n"
        "00:05:00.000 --> 00:05:01.000\nthe pot\n"
    )
    assert [(n["start_s"], n["text"]) for n in parse_subtitles(vtt)] == [
        (5.0, "stir the pot"),
        (180.0, "stir the pot"),
        (300.0, "the pot"),  # a suffix of the previous line, but said two minutes later
    ]


def test_a_rolling_tail_that_touches_the_previous_cue_is_dropped():
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nnow we knead\n\n00:00:02.000 --> 00:00:02.010\nknead\n"
    assert parse_subtitles(vtt) == [{"start_s": 0.0, "end_s": 2.0, "text": "now we knead", "source": "subtitles"}]
