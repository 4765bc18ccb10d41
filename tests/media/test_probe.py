import pytest

from humannet.media.probe import ProbeError, probe_video


def test_probe_reads_real_clips(examples_dir):
    probe = probe_video(str(examples_dir / "exo_sam2_coffee_pouring.mp4"))
    assert probe.video_codec == "h264" and probe.audio_codec == "aac"
    assert (probe.width, probe.height) == (1280, 720)
    assert abs(probe.fps - 29.97) < 0.01 and not probe.fps_variable
    assert abs(probe.duration_s - 9.58) < 0.05
    mkv = probe_video(str(examples_dir / "exo_intel_asl_sign_again.mkv"))
    assert mkv.container.startswith("matroska") and abs(mkv.duration_s - 2.6) < 0.05


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("zero_bytes", "empty file"),
        ("random_bytes", "not a media file"),
        ("text_file", "not a media file"),
        ("audio_only", "no video stream"),
        ("missing", "file not found"),
        ("directory", "cannot read file"),
    ],
)
def test_unusable_inputs_fail_with_reason(odd_inputs, name, reason):
    with pytest.raises(ProbeError, match=reason):
        probe_video(str(odd_inputs[name]))


def test_odd_but_valid_videos(odd_inputs):
    rotated = probe_video(str(odd_inputs["rotated"]))
    assert rotated.rotation in (90, 270) and rotated.display_size == (240, 320)
    assert probe_video(str(odd_inputs["variable_rate"])).fps_variable
    assert not probe_video(str(odd_inputs["good"])).fps_variable
    assert probe_video(str(odd_inputs["one_frame"])).frame_count == 1
    assert probe_video(str(odd_inputs["huge_frame"])).width == 7680
