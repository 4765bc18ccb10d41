import numpy as np
import pytest

from humannet.process.clips import ClipConfig, ClipStage, piece_count
from humannet.process.quality import UnusableSpan
from humannet.records import Scene, Status, Video


@pytest.mark.parametrize(
    ("length", "count"),
    [(1.0, 1), (2.0, 1), (7.4, 1), (7.6, 2), (10.0, 2), (12.0, 2), (21.0, 4), (60.0, 12)],
)
def test_piece_count_keeps_pieces_between_min_and_max(length, count):
    config = ClipConfig()
    assert piece_count(length, config) == count
    if length >= config.min_s:
        assert config.min_s <= length / count <= config.max_s


def clip_video(seconds: float, fps: float, scenes: list[tuple[float, float]], unusable=()) -> Video:
    times = np.arange(int(seconds * fps)) / fps
    video = Video(uri="v.mp4", video_id="abc")
    video.frame_results = {"frame_times": times, "end_time": seconds, "unusable": list(unusable)}
    for index, (start, end) in enumerate(scenes):
        first, last = int(round(start * fps)), int(round(end * fps))
        video.scenes.append(Scene(index, first, last, start, end))
    return ClipStage(ClipConfig()).process(video)


def test_scenes_become_contiguous_clips_with_frame_ids():
    video = clip_video(16.0, 25, [(0.0, 1.0), (1.0, 16.0)])
    kept = video.kept_clips
    assert [c.clip_id for c in kept] == ["abc_0000025_0000150", "abc_0000150_0000275", "abc_0000275_0000400"]
    assert all(c.scene_index == 1 for c in kept) and kept[-1].end_s == 16.0
    short = [c for c in video.clips if c.status is Status.DROPPED]
    assert len(short) == 1 and short[0].reason.startswith("too_short") and short[0].end_frame == 25
    frames = [(c.start_frame, c.end_frame) for c in video.clips]
    assert all(a[1] == b[0] for a, b in zip(frames, frames[1:], strict=False))  # no gap, no overlap


def test_unusable_runs_are_cut_out_and_recorded():
    video = clip_video(10.0, 30, [(0.0, 10.0)], [UnusableSpan(8.2, 9.5, "corruption")])
    bad = [c for c in video.clips if c.reason and c.reason.startswith("corruption")]
    assert len(bad) == 1 and abs(bad[0].start_s - 8.2) < 0.04 and abs(bad[0].end_s - 9.5) < 0.04
    assert all(c.end_s <= 8.2 + 1e-6 or c.start_s >= 9.5 - 1e-6 for c in video.kept_clips)
    assert sum(c.duration_s for c in video.kept_clips) == pytest.approx(8.2, abs=0.05)
    tail = [c for c in video.clips if c.start_s >= 9.5 - 1e-6]
    assert tail and tail[0].reason.startswith("too_short")
