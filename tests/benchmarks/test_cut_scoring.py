"""Scoring cuts against labels: the matching is an optimal one-to-one assignment within the tolerance."""

from __future__ import annotations

from benchmarks.cut_scoring import match_events


def test_the_closest_pair_does_not_take_the_label_another_prediction_needed():
    # 0.45 is closest to the label at 0.5, but only that label is within reach of 0.95;
    # the optimal assignment pairs 0.45 with 0.0 and 0.95 with 0.5.
    assert match_events([0.45, 0.95], [0.0, 0.5], tolerance_s=0.5) == (2, 0, 0)


def test_counts_without_matches_and_with_empty_sides():
    assert match_events([1.0, 5.0], [3.0], tolerance_s=0.5) == (0, 2, 1)
    assert match_events([], [1.0], tolerance_s=0.5) == (0, 0, 1)
    assert match_events([2.0], [], tolerance_s=0.5) == (0, 1, 0)
    assert match_events([1.0, 1.1], [1.05], tolerance_s=0.5) == (1, 1, 0)
