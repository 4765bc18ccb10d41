import json

from benchmarks.accuracy import evaluate, format_accuracy, majority_viewpoint
from humannet.corpus.writer import write_index
from humannet.records import Clip, Cut, Probe, Status, Video

PROBE = Probe("mp4", "h264", None, 10.0, 25.0, False, 320, 240, 0, 250, None, 1000)


def video(name: str, kept: bool, views: list[str], cuts=(), duplicate_of=None) -> Video:
    record = Video(uri=f"/data/{name}", video_id=name[:8], probe=PROBE, cuts=[Cut(0, t, "hard", 1.0) for t in cuts])
    record.clips = [
        Clip(f"{name[:8]}_{i}", name[:8], i * 2.0, i * 2.0 + 2, i * 50, i * 50 + 50, 0, labels={"viewpoint": v})
        for i, v in enumerate(views)
    ]
    if not kept:
        record.drop("no_person: all clips dropped")
        for clip in record.clips:
            clip.status = Status.DROPPED
    record.duplicate_of = duplicate_of
    return record


def test_confusions_count_every_labelled_video(tmp_path):
    labels = {
        "clips": {
            "ego_a.mp4": {"view": "ego", "people": True, "cuts": []},
            "exo_b.mp4": {
                "view": "exo",
                "people": True,
                "cuts": [{"t": 3.0, "kind": "hard"}, {"t": 6.0, "kind": "dissolve"}],
            },
            "neg_c.mp4": {"view": "none", "people": False, "cuts": []},
            "neg_d.mp4": {"view": "none", "people": False, "cuts": []},
            "dup_e.mp4": {"view": "exo", "people": True, "cuts": []},
        }
    }
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    write_index(
        tmp_path,
        [
            video("ego_a.mp4", True, ["ego", "ego", "exo"]),
            video("exo_b.mp4", True, ["ego"], cuts=[3.1, 8.0]),
            video("neg_c.mp4", False, []),
            video("neg_d.mp4", True, ["exo"]),
            video("dup_e.mp4", False, [], duplicate_of="exo_b.mp"),
        ],
    )
    report = evaluate(tmp_path, tmp_path / "labels.json")
    assert report.content == {(True, True): 2, (False, False): 1, (False, True): 1}
    assert report.viewpoint == {("ego", "ego"): 1, ("exo", "ego"): 1, ("none", "no clip"): 1, ("none", "exo"): 1}
    assert report.cuts == (1, 1, 1)
    assert report.duplicates_left_out == ["dup_e.mp4"]
    text = format_accuracy(report)
    assert "miss: neg_d.mp4" in text and "miss: exo_b.mp4: labelled exo, predicted ego" in text


def test_majority_viewpoint_ties_are_unknown():
    assert majority_viewpoint(["ego", "exo"]) == "unknown"
    assert majority_viewpoint([]) == "no clip"
    assert majority_viewpoint(["exo", "exo", "ego"]) == "exo"
