"""A video whose clips were all dropped is headlined by what was wrong with it."""

from humannet.records import Clip, Status, Video, settle_clips


def dropped(start_s: float, end_s: float, reason: str, scene_index: int = 0) -> Clip:
    clip = Clip(f"v_{start_s}", "v", start_s, end_s, round(start_s * 25), round(end_s * 25), scene_index)
    clip.status = Status.DROPPED
    clip.reason = reason
    return clip


def settled(*clips: Clip) -> str:
    video = Video(uri="v.mp4", video_id="v", clips=list(clips))
    settle_clips(video)
    assert video.status is Status.DROPPED
    return video.reason


def test_a_slide_between_camera_scraps_is_headlined_screen_not_too_short() -> None:
    # A text slide cut out of the scene leaves three short camera scraps: more clips, less footage.
    reason = settled(
        dropped(0.0, 1.2, "too_short: 1.20 s < 2.0 s"),
        dropped(1.2, 9.0, "screen: frames 1.20-9.00 s"),
        dropped(9.0, 10.5, "too_short: 1.50 s < 2.0 s"),
        dropped(10.5, 11.0, "too_short: 0.50 s < 2.0 s", scene_index=1),
    )
    assert reason == "screen: all 4 clips dropped (screen 1, too_short 3)"


def test_the_reason_that_dropped_the_most_seconds_heads_even_against_more_clips() -> None:
    reason = settled(
        dropped(0.0, 2.0, "blur: blur_score=0.300 < 0.4"),
        dropped(2.0, 4.0, "blur: blur_score=0.200 < 0.4"),
        dropped(4.0, 13.0, "static: motion_score=0.001 < 0.01", scene_index=1),
    )
    assert reason == "static: all 3 clips dropped (static 1, blur 2)"


def test_short_scenes_alone_are_too_short() -> None:
    # Scenes that are short in themselves (no other reason in them) are what is wrong with the video.
    reason = settled(
        dropped(0.0, 1.5, "too_short: 1.50 s < 2.0 s", scene_index=0),
        dropped(1.5, 3.0, "too_short: 1.50 s < 2.0 s", scene_index=1),
        dropped(3.0, 5.5, "dark: frames 3.00-5.50 s", scene_index=2),
    )
    assert reason.startswith("too_short: all 3 clips dropped (too_short 2, dark 1)")
