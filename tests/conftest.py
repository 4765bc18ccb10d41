"""Shared fixtures: synthetic videos made with the ffmpeg CLI, and the bundled sample clips."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "videos"
SHARED_VIDEOS = REPO.parent / "shared" / "data" / "videos"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_video(
    path: Path,
    seconds: float = 3.0,
    size: str = "320x240",
    rate: int = 25,
    source: str = "testsrc2",
    extra: tuple[str, ...] = (),
) -> Path:
    """A short H.264 MP4 from an ffmpeg lavfi source."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"{source}=size={size}:rate={rate}:duration={seconds}",
        *extra,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(path),
    )
    return path


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


def shared_required() -> bool:
    """In CI the real-footage tests must run: a missing ../shared is a failure there, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if not SHARED_VIDEOS.is_dir():
        if shared_required():
            pytest.fail(f"CI=true but {SHARED_VIDEOS} is not present: the real-footage tests cannot run")
        pytest.skip("../shared/data/videos is not present")
    return SHARED_VIDEOS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_VIDEOS.is_dir():
        return
    if shared_required():
        raise pytest.UsageError(f"CI=true but {SHARED_VIDEOS} is not present: the real-footage tests cannot run")
    skip = pytest.mark.skip(reason="needs ../shared/data/videos")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def odd_inputs(tmp_path_factory) -> dict[str, Path]:
    """The awkward inputs every stage must survive, made once per session."""
    root = tmp_path_factory.mktemp("odd")
    good = make_video(root / "good.mp4", seconds=4.0)
    files: dict[str, Path] = {}
    files["zero_bytes"] = root / "zero.mp4"
    files["zero_bytes"].write_bytes(b"")
    data = good.read_bytes()
    files["truncated"] = root / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["random_bytes"] = root / "random.mp4"
    files["random_bytes"].write_bytes(bytes(range(256)) * 400)
    files["text_file"] = root / "readme.mp4"
    files["text_file"].write_text("this is a text file, not a video\n" * 50)
    files["audio_only"] = root / "audio_only.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(files["audio_only"]))
    files["corrupt_mid"] = root / "corrupt_mid.mp4"
    make_video(files["corrupt_mid"], seconds=6.0, extra=("-g", "25"))
    corrupt = bytearray(files["corrupt_mid"].read_bytes())
    middle = len(corrupt) // 2
    corrupt[middle : middle + 6000] = bytes((i * 37 + 11) % 256 for i in range(6000))
    files["corrupt_mid"].write_bytes(bytes(corrupt))
    files["missing"] = root / "does_not_exist.mp4"
    files["directory"] = root / "folder.mp4"
    files["directory"].mkdir()
    files["one_frame"] = make_video(root / "one_frame.mp4", seconds=0.04)
    files["huge_frame"] = make_video(root / "huge_frame.mp4", seconds=0.2, size="7680x4320", rate=10)
    files["rotated"] = root / "rotated.mp4"
    ffmpeg(
        "-i",
        str(make_video(root / "upright.mp4", seconds=3.0, size="320x240")),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        str(files["rotated"]),
    )
    files["variable_rate"] = root / "vfr.mp4"  # 2 s at 30 fps, then 2 s at 10 fps, in one stream
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30:duration=2",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=10:duration=2",
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1[v]",
        "-map",
        "[v]",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(files["variable_rate"]),
    )
    files["good"] = good
    return files
