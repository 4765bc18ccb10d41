"""The face-hiding benchmark's scoring of one frame (benchmarks/face_hiding.py)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.face_hiding import score_frame


def test_a_face_counts_as_hidden_when_most_of_its_box_is_and_hiding_elsewhere_is_over_hiding():
    faces = [
        {"box": [10, 10, 30, 30], "clear": True, "at_least_20px": True},  # hidden: 16 of 20 columns covered
        {"box": [60, 10, 80, 30], "clear": True, "at_least_20px": True},  # only half covered: a miss
        {"box": [10, 60, 20, 70], "clear": True, "at_least_20px": False},  # too small to be required
        {"box": [60, 60, 80, 80], "clear": False, "at_least_20px": True},  # printed: not required, free to hide
    ]
    hidden = [np.array([14.0, 10.0, 30.0, 30.0]), np.array([70.0, 10.0, 80.0, 30.0]), np.array([55, 55, 85, 85.0])]
    covered, over = score_frame(faces, hidden, 100, 100)
    assert covered == [True, False]
    # the third box spills 30x30 - 30x30 grown by 25 % a side (the labelled box 20x20 grown to 30x30): nothing
    assert over == 0.0
    covered, over = score_frame(faces, [np.array([0.0, 90.0, 50.0, 100.0])], 100, 100)  # a strip over no face
    assert covered == [False, False] and over == pytest.approx(0.05)
