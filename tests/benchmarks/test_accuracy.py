"""The accuracy benchmark's scoring on hand-made corpus tables: no curation, except one small end-to-end run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from benchmarks.accuracy import (
    Rate,
    better_copy,
    evaluate,
    format_accuracy,
    in_split,
    main,
    majority_viewpoint,
    pooled_motion,
    splits_in,
    typed_cuts,
    wilson_interval,
)
from benchmarks.cut_scoring import cut_labels_of, load_cut_labels, match_spans
from humannet.corpus.writer import write_index
from humannet.records import Clip, Cut, Probe, Status, Video

PROBE = Probe("mp4", "h264", None, 10.0, 25.0, False, 320, 240, 0, 250, None, 1000)
EVAL = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "eval"


def video(name: str, kept: bool, views: list[str], cuts=(), duplicate_of=None, motion=None) -> Video:
    """A corpus record: `views` gives one kept clip per entry; `motion` the clips' motion categories; `cuts` are
    times of hard cuts or (time, kind) pairs."""
    typed = [c if isinstance(c, tuple) else (c, "hard") for c in cuts]
    record = Video(
        uri=f"/data/{name}", video_id=name[:8], probe=PROBE, cuts=[Cut(0, t, kind, 1.0, t, t) for t, kind in typed]
    )
    record.clips = [
        Clip(
            f"{name[:8]}_{i}",
            name[:8],
            i * 2.0,
            i * 2.0 + 2,
            i * 50,
            i * 50 + 50,
            0,
            labels={"viewpoint": v, "motion_categories": (motion or [[]] * len(views))[i]},
        )
        for i, v in enumerate(views)
    ]
    if not kept:
        record.drop("near_duplicate: of another" if duplicate_of else "no_person: all clips dropped")
        for clip in record.clips:
            clip.status = Status.DROPPED
    record.duplicate_of = duplicate_of
    return record


def label(people, view, split="dev", cuts=(), motion=(), dup=None, better=None):
    entry = {"people": people, "view": view, "split": split, "cuts": list(cuts), "motion": list(motion)}
    entry["near_duplicate_of"] = dup
    entry["near_duplicate"] = {"relation": "test", "better_copy": better} if better else None
    return entry


@pytest.fixture
def corpus(tmp_path):
    """Two splits; the dev split holds a kept negative, a lost positive, a found pair, a false group."""
    labels = {
        "ego_a.mp4": label(True, "ego", motion=["manipulation"]),
        "exo_b.mp4": label(
            True,
            "exo",
            motion=["whole_body", "gesture"],
            cuts=[{"t": 3.0, "type": "hard", "span": None}, {"t": 6.0, "type": "dissolve", "span": [5.5, 6.5]}],
        ),
        "neg_c.mp4": label(False, "none"),
        "neg_d.mp4": label(False, "none"),
        "dup_e.mp4": label(True, "exo", dup="exo_b.mp4", better="original (higher resolution)"),
        "exo_f.mp4": label(True, "exo", motion=["static"]),
        "exo_g.mp4": label(True, "exo", motion=["static"]),
        "tst_h.mp4": label(True, "exo", split="test", cuts=[{"t": 2.0, "type": "fade", "span": [1.0, 2.0]}]),
        "tst_i.mp4": label(False, "none", split="test"),
    }
    (tmp_path / "labels.json").write_text(json.dumps({"clips": labels}))
    write_index(
        tmp_path,
        [
            video("ego_a.mp4", True, ["ego", "ego", "exo"], motion=[["manipulation"], ["static"], []]),
            # the dissolve is found at 5.6 (inside its span, 0.4 s before t); 8.0 is a false cut, called a fade
            video(
                "exo_b.mp4",
                True,
                ["ego"],
                cuts=[3.1, (5.6, "dissolve"), (8.0, "fade")],
                motion=[["whole_body", "gesture"]],
            ),
            video("neg_c.mp4", False, []),
            video("neg_d.mp4", True, ["exo"]),
            video("dup_e.mp4", False, [], duplicate_of="exo_b.mp"),
            video("exo_f.mp4", False, []),
            video("exo_g.mp4", False, [], duplicate_of="ego_a.mp"),  # not labelled a near-duplicate
            video("tst_h.mp4", True, ["exo", "ego"], cuts=[1.2]),
            video("tst_i.mp4", False, []),
        ],
    )
    return tmp_path


def test_wilson_interval_matches_known_values():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (score).
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)
    assert wilson_interval(1, 29) == pytest.approx((0.0061, 0.1718), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert str(Rate(0, 21)) == "0/21 =   0.0 % [0.0-15.5]"
    assert math.isnan(Rate(0, 0).value)


def test_cut_labels_load_in_both_formats(tmp_path):
    kind_style = {"clips": {"a.mp4": {"cuts": [{"t": 2.0, "kind": "hard"}, {"t": 5.0, "kind": "dissolve"}]}}}
    type_style = {
        "clips": {
            "a.mp4": {
                "cuts": [
                    {"t": 2.0, "type": "hard", "span": None},
                    {"t": 5.0, "type": "dissolve", "span": [4.5, 5.5]},
                    {"t": 8.0, "type": "fade", "span": [7.0, 8.0]},
                ]
            }
        }
    }
    for payload in (kind_style, type_style):
        (tmp_path / "labels.json").write_text(json.dumps(payload))
        assert load_cut_labels(tmp_path / "labels.json") == {"a.mp4": [2.0, 5.0]}  # fades are not cuts here
    cuts = cut_labels_of(type_style["clips"]["a.mp4"])
    assert [(c.type, c.window) for c in cuts] == [("hard", (2.0, 2.0)), ("dissolve", (4.5, 5.5)), ("fade", (7.0, 8.0))]
    assert [c.type for c in cut_labels_of(kind_style["clips"]["a.mp4"])] == ["hard", "dissolve"]


def test_a_gradual_cut_matches_anywhere_in_its_span_widened_by_the_tolerance():
    spans = [(4.0, 6.0)]
    assert match_spans([4.1], spans, 0.5) == [(0, 0)]
    assert match_spans([6.4], spans, 0.5) == [(0, 0)]
    assert match_spans([3.4], spans, 0.5) == []
    assert match_spans([4.1, 5.9], spans, 0.5) == [(0, 0)] or match_spans([4.1, 5.9], spans, 0.5) == [(1, 0)]


def test_splits_are_read_from_the_labels_and_filtered():
    labels = {"a": {"split": "test"}, "b": {"split": "dev"}, "c": {"split": "dev"}}
    assert splits_in(labels) == ["dev", "test"]
    assert set(in_split(labels, "dev")) == {"b", "c"}
    assert set(in_split(labels, "all")) == {"a", "b", "c"}
    assert splits_in({"a": {}}) == ["all"]


def test_dev_split_scores_people_view_motion_cuts_and_duplicates(corpus):
    report = evaluate(corpus, corpus / "labels.json", "dev", pyscenedetect_cuts={"exo_b.mp4": [3.0]})
    assert report.videos == 7 and report.duplicates_left_out == ["dup_e.mp4", "exo_g.mp4"]
    assert (report.negatives_kept.k, report.negatives_kept.n) == (1, 2)
    assert report.negative_misses == ["neg_d.mp4: kept 1 clip(s)"]
    assert (report.positives_lost.k, report.positives_lost.n) == (1, 3)
    assert report.positive_misses[0].startswith("exo_f.mp4: dropped")
    # viewpoint over kept people videos only: ego_a right (2 of 3 clips ego), exo_b wrong
    assert report.viewpoint[("ego", "ego")] == 1 and report.viewpoint[("exo", "ego")] == 1
    assert report.viewpoint[("none", "exo")] == 1 and report.viewpoint[("exo", "no clip")] == 1
    assert (report.viewpoint_correct.k, report.viewpoint_correct.n) == (1, 2)
    assert report.viewpoint_unknown.k == 0
    # motion (union): ego_a predicts manipulation + static (static is a false positive)
    assert report.motion["manipulation"] == [1, 0, 0]
    assert report.motion["static"] == [0, 1, 0]
    assert report.motion["whole_body"] == [1, 0, 0] and report.motion["gesture"] == [1, 0, 0]
    assert report.motion_macro_f1 == pytest.approx(0.75)  # locomotion neither labelled nor predicted: left out
    ours, theirs = report.cuts["humannet"], report.cuts["pyscenedetect"]
    assert (ours.tp, ours.fp, ours.fn) == (2, 1, 0) and ours.by_type["dissolve"] == [1, 0]
    assert (theirs.tp, theirs.fp, theirs.fn) == (1, 0, 1) and theirs.by_type["dissolve"] == [0, 1]
    # per type: the false cut counts against fades, the type humannet gave it; PySceneDetect gives no types
    assert ours.fp_by_type == {"fade": 1}
    precision, recall, f1 = ours.of_type("hard")
    assert (precision.k, precision.n, recall.k, recall.n, f1) == (1, 1, 1, 1, 1.0)
    precision, recall, f1 = ours.of_type("fade")
    assert (precision.k, precision.n, recall.n, f1) == (0, 1, 0, 0.0)
    assert ours.typed and not theirs.typed
    precision, recall, f1 = theirs.of_type("dissolve")
    assert precision is None and f1 is None and (recall.k, recall.n) == (0, 1)
    assert (report.duplicate_pairs.k, report.duplicate_pairs.n) == (1, 1)
    assert (report.best_copy.k, report.best_copy.n) == (1, 1)
    assert len(report.false_groups) == 1 and report.false_groups[0].startswith("exo_g.mp4: near_duplicate")
    text = format_accuracy(report)
    assert "=== split: dev (7 videos scored) ===" in text
    assert "negatives kept   1/2 =  50.0 %" in text and "NOT met" in text
    assert "miss: exo_b.mp4: labelled exo, predicted ego" in text
    assert "false: exo_g.mp4" in text
    assert "fade       precision 0/1 =   0.0 % [0.0-79.3]" in text
    assert "dissolve   precision n/a (no types)" in text
    assert "exo_b.mp4: labelled ['3 hard', '6 dissolve']; humannet ['3.10 hard', '5.60 dissolve', '8.00 fade']" in text
    payload = report.as_dict()
    assert payload["people_filter"]["negatives_kept"]["ci95"] == pytest.approx(list(wilson_interval(1, 2)))
    assert payload["cuts"]["detectors"]["humannet"]["by_type"]["fade"]["fp"] == 1
    assert payload["cuts"]["detectors"]["pyscenedetect"]["by_type"]["hard"]["precision"] is None
    json.dumps(payload, allow_nan=False)


def test_test_split_is_scored_apart(corpus):
    report = evaluate(corpus, corpus / "labels.json", "test")
    assert report.videos == 2 and report.negatives_kept.k == 0 and report.positives_lost.k == 0
    assert report.viewpoint_unknown.k == 1  # one ego and one exo clip: a tie
    assert report.cuts["humannet"].by_type["fade"] == [1, 0]  # 1.2 lies inside the fade's span
    assert report.cuts["humannet"].of_type("dissolve")[2] is None  # neither labelled nor detected: no F1
    assert report.duplicate_pairs.n == 0 and not report.false_groups
    assert "pyscenedetect" not in report.cuts


def test_older_label_files_without_splits_motion_or_duplicates(tmp_path):
    labels = {
        "clips": {
            "ego_a.mp4": {"view": "ego", "people": True, "cuts": [{"t": 3.0, "kind": "hard"}]},
            "neg_b.mp4": {"view": "none", "people": False, "cuts": []},
        }
    }
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    write_index(tmp_path, [video("ego_a.mp4", True, ["ego"], cuts=[3.2]), video("neg_b.mp4", False, [])])
    report = evaluate(tmp_path, tmp_path / "labels.json")
    assert report.split == "all" and not report.has_motion and not report.has_duplicates
    assert report.cuts["humannet"].by_type["hard"] == [1, 0]
    assert "Near-duplicates" not in format_accuracy(report)


def test_a_corpus_without_cut_kinds_is_scored_untyped():
    assert typed_cuts({"cut_times": [1.0, 2.5]}) == [(1.0, None), (2.5, None)]
    assert typed_cuts({"cut_times": [1.0], "cut_kinds": ["fade"]}) == [(1.0, "fade")]


def test_motion_pooling_and_better_copy():
    clips = [["manipulation"], ["manipulation", "gesture"], ["static"]]
    assert pooled_motion(clips, "union") == {"manipulation", "gesture", "static"}
    assert pooled_motion(clips, "majority") == {"manipulation"}
    entry = {"near_duplicate_of": "a.mp4", "near_duplicate": {"better_copy": "original (higher frame rate)"}}
    assert better_copy("dup_a.mp4", entry) == "a.mp4"
    assert better_copy("dup_a.mp4", {"near_duplicate_of": "a.mp4", "near_duplicate": None}) is None


def test_majority_viewpoint_ties_are_unknown():
    assert majority_viewpoint(["ego", "exo"]) == "unknown"
    assert majority_viewpoint([]) == "no clip"
    assert majority_viewpoint(["exo", "exo", "ego"]) == "exo"


def test_end_to_end_on_two_short_clips(tmp_path, capsys):
    names = ["dup_pose2sim_single_cam01_30fps.mp4", "pose2sim_single_cam01.mp4"]
    clips = json.loads((EVAL / "labels.json").read_text())["clips"]
    for name in names:
        shutil.copy(EVAL / name, tmp_path / name)
    (tmp_path / "labels.json").write_text(json.dumps({"clips": {n: clips[n] for n in names}}))
    out = tmp_path / "report.json"
    assert main([str(tmp_path), "--workers", "1", "--json", str(out), "--no-pyscenedetect"]) == 0
    text = capsys.readouterr().out
    assert "=== split: test (2 videos scored) ===" in text and "pairs found" in text
    (split,) = json.loads(out.read_text())["splits"]
    assert split["split"] == "test" and split["near_duplicates"]["pairs_found"]["n"] == 1
