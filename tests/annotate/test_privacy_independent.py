"""Face hiding checked by a detector the hider does not use.

The hider (`annotate/privacy.py`) finds faces with MediaPipe, and `test_privacy.py` checks its
output with the same model, so a face that model misses would pass both. Here OpenCV's Haar
cascades (Viola-Jones, shipped with OpenCV) look at the clips the write phase produces, with face
hiding off and on: every face they find on a frame of the plain clip must be gone from the same
frame of the hidden clip. The cascades miss faces and fire on grass or shirts now and then, so a
face counts only where two frontal cascades agree, and only faces found before hiding are
looked for after it.

The clip is the bundled one with a clear face (the signer). On the football clip, the other with
a visible face, both cascades also agree on the juggler's trousers on a few frames: not a face,
so not hidden, and they would fail the check without saying anything about the hider.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np

from humannet.config import load_config
from humannet.media.probe import probe_video
from humannet.records import Clip, Video
from humannet.stages import materialize_stages

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "videos"
# The write phase as `humannet curate` runs it, without the units that do not touch the pixels.
WRITE = ["pose_tracks.enabled=false", "captions.enabled=false", "camera_trajectory.enabled=false"]
FACES_HIDDEN: list[str] = []  # the default privacy settings
FACES_SHOWN = ["privacy.face_blur=off"]

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


class HaarFaces:
    """Frontal faces where OpenCV's `default` and `alt2` cascades agree (each alone has false positives)."""

    def __init__(self) -> None:
        self.cascades = [
            cv2.CascadeClassifier(cv2.data.haarcascades + name)
            for name in ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml")
        ]
        assert not any(cascade.empty() for cascade in self.cascades)

    def detect(self, bgr: np.ndarray) -> list[Box]:
        grey = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        side = max(20, min(grey.shape) // 24)
        first, second = (
            [tuple(int(v) for v in box) for box in c.detectMultiScale(grey, 1.1, 5, minSize=(side, side))]
            for c in self.cascades
        )
        return [box for box in first if any(_iou(box, other) > 0.4 for other in second)]


def _iou(a: Box, b: Box) -> float:
    width = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    overlap = width * height
    return overlap / (a[2] * a[3] + b[2] * b[3] - overlap)


def _contains(box: Box, other: Box) -> bool:
    """The centre of `other` lies inside `box`: the same face, even if partly hidden or found a little off."""
    cx, cy = other[0] + other[2] / 2, other[1] + other[3] / 2
    return box[0] <= cx <= box[0] + box[2] and box[1] <= cy <= box[1] + box[3]


def _write(source: Path, seconds: float, root: Path, overrides: list[str]) -> tuple[Path, dict]:
    """One clip of `source` written by the write phase of the catalogue; its mp4 and its staged metadata."""
    probe = probe_video(str(source))
    end_frame = round(seconds * probe.fps)
    video = Video(uri=str(source), video_id="v", probe=probe)
    video.clips = [Clip(f"v_0000000_{end_frame:07d}", "v", 0.0, seconds, 0, end_frame, 0)]
    (stage,) = materialize_stages(load_config(None, [*WRITE, *overrides]), str(root))
    stage.setup()
    stage.process(video)
    mp4 = root / "v" / f"{video.clips[0].clip_id}.mp4"
    meta = mp4.with_name(f"{video.clips[0].clip_id}.meta.json")
    return mp4, json.loads(meta.read_text()) if meta.exists() else {}


def _faces_per_frame(path: Path, detector: HaarFaces) -> list[list[Box]]:
    with av.open(str(path)) as container:
        return [detector.detect(frame.to_ndarray(format="bgr24")) for frame in container.decode(video=0)]


def test_no_face_the_independent_detector_saw_survives_hiding(tmp_path):
    source = EXAMPLES / "exo_intel_asl_sign_again.mkv"  # one signer facing the camera, 2.6 s
    plain, _ = _write(source, 2.5, tmp_path / "plain", FACES_SHOWN)
    hidden, meta = _write(source, 2.5, tmp_path / "hidden", FACES_HIDDEN)
    detector = HaarFaces()
    before, after = _faces_per_frame(plain, detector), _faces_per_frame(hidden, detector)
    assert len(before) == len(after)
    seen = [number for number, faces in enumerate(before) if faces]
    assert len(seen) >= 0.5 * len(before), "the cascades must see the face on most source frames to check anything"
    found_again = [
        (number, face)
        for number in seen
        for face in before[number]
        if any(_contains(face, box) for box in after[number])
    ]
    assert found_again == [], f"faces still found after hiding (frame, box): {found_again}"
    assert meta.get("privacy", {}).get("faces_blurred_frames", 0) > 0
