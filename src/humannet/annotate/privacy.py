"""Face blurring in materialised clips, so no written frame shows an unblurred face.

Faces are detected (MediaPipe full-range face detector) on the written frames at
`detect_fps`, linked into tracks, and each track's box is linearly interpolated between its
detections, held for `hold_s` after the last one and drawn `hold_s` before the first one.
Frames are held back until detection has looked `hold_s` ahead, so a face that appears
between two detection frames, or is missed on one of them, is still covered. Finally each
written frame can be checked once more, after hiding, and whatever the detector still finds
is hidden too: the guarantee is then "the detector finds no face in any written frame" (a detection
frame whose last look found nothing, on the frame as it is written, has had that check already and is
not checked twice), up to the confirmation below. The detector
runs at a lower confidence than a face counts as "found" downstream: a false positive costs
a blurred patch, a miss a privacy leak. The detector reports the strongest faces; once they
are hidden a weaker one (a second person, a face printed on a shirt) can surface, so each
detection frame is searched again with the faces found so far hidden.

The face detector also fires on pans, cups, blocks, hands and prints, with the scores of real faces. With
`confirm_above` below 1, a box larger than that is hidden only once it is confirmed: MediaPipe's face
landmark model (Face Mesh) must find a face in a crop around it, on this or another detection of the same
track. It rejects those objects (measured on the shared clips and the `dev` evaluation split,
docs/accuracy.md) but also misses many real faces of 30-60 px, so it is off by default: a face left visible
is a privacy leak, a blurred cup is lost training signal. A box no larger than `confirm_above` is always
hidden as found: a false one that small costs about 1.5 % of the frame.
The check on every written frame hides only what is small or touches a box already hidden.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import cv2
import numpy as np
from pydantic import BaseModel, Field

from humannet.annotate.detectors import import_mediapipe
from humannet.engine.stage import EncodeHook
from humannet.media.cut import ClipExtras, TimedImage
from humannet.records import Clip

log = logging.getLogger(__name__)

EXTRA_LOOKS = 2  # detection rounds after the first, each on the frame with the faces found so far hidden
Box = np.ndarray  # (4,) float: x0, y0, x1, y1 in pixels of the written frame


class PrivacyConfig(BaseModel, extra="forbid"):
    face_blur: Literal["blur", "pixelate", "box", "off"] = Field(
        "blur", description="How faces are hidden in written clips: Gaussian 'blur', 'pixelate', solid 'box', or 'off'."
    )
    detect_fps: float = Field(
        10.0,
        gt=0,
        le=60,
        description="Rate of face detection on written frames (frames/s); boxes are interpolated between.",
    )
    min_confidence: float = Field(
        0.3, ge=0.05, le=1.0, description="Face detector confidence above which a face is hidden (0-1); low on purpose."
    )
    margin: float = Field(
        0.3, ge=0, le=2, description="Box growth on each side, as a fraction of the detected box's width and height."
    )
    hold_s: float = Field(
        0.5,
        ge=0,
        le=5,
        description="A face box stays this long after a track's last and before its first detection (s).",
    )
    confirm_above: float = Field(
        1.0,
        ge=0,
        le=1,
        description=(
            "Detected faces whose longer side (before the margin) exceeds this share of the frame's geometric-mean "
            "side are hidden only once face landmarks confirm their track (1 = never, the default: confirmation "
            "also rejects real faces; 0.075 keeps pans, cups and hands unblurred, docs/pipeline.md)."
        ),
    )
    check_every_frame: bool = Field(
        True,
        description=(
            "Also run the detector on every written frame after hiding, and hide what it still finds that is small "
            "or touches a hidden box (about 3-5 ms per frame)."
        ),
    )


@dataclass(eq=False)  # tracks are told apart by identity
class FaceTrack:
    times: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    checks: int = 0  # landmark checks of its boxes
    hits: int = 0  # ... that found the face
    confirmed: bool = False  # a box was small, or landmarks were found often enough; unconfirmed tracks are not hidden

    def box_at(self, time_s: float, hold_s: float) -> list[Box]:
        """The track's boxes at `time_s`: interpolated between close detections, held near the ends."""
        after = int(np.searchsorted(self.times, time_s, side="right"))
        before = after - 1
        if before >= 0 and after < len(self.times) and self.times[after] - self.times[before] <= 2 * hold_s:
            span = self.times[after] - self.times[before]
            w = (time_s - self.times[before]) / span if span > 0 else 0.0
            return [(1 - w) * self.boxes[before] + w * self.boxes[after]]
        boxes = []
        if before >= 0 and time_s - self.times[before] <= hold_s:
            boxes.append(self.boxes[before])
        if after < len(self.times) and self.times[after] - time_s <= hold_s:
            boxes.append(self.boxes[after])
        return boxes


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Links per-frame face boxes into tracks (greedy, by overlap or nearby centre)."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.tracks: list[FaceTrack] = []

    def add(self, time_s: float, boxes: list[Box]) -> list[FaceTrack]:
        """Link the boxes to tracks; the track each box went to."""
        live = [t for t in self.tracks if time_s - t.times[-1] <= 2 * self.hold_s]
        pairs = []
        for i, box in enumerate(boxes):
            for j, track in enumerate(live):
                last = track.boxes[-1]
                size = max(last[2] - last[0], last[3] - last[1])
                distance = np.hypot(*((box[:2] + box[2:]) / 2 - (last[:2] + last[2:]) / 2))
                if _iou(box, last) > 0 or distance < 1.5 * size:
                    pairs.append((_iou(box, last) - distance / max(size, 1e-6), i, j))
        track_of: dict[int, FaceTrack] = {}
        for _, i, j in sorted(pairs, reverse=True):
            if i not in track_of and live[j] not in track_of.values():
                live[j].times.append(time_s)
                live[j].boxes.append(boxes[i])
                track_of[i] = live[j]
        for i, box in enumerate(boxes):
            if i not in track_of:
                track_of[i] = FaceTrack([time_s], [box])
                self.tracks.append(track_of[i])
        return [track_of[i] for i in range(len(boxes))]

    def boxes_at(self, time_s: float) -> list[Box]:
        """The boxes of the confirmed tracks at `time_s`."""
        return [box for track in self.tracks if track.confirmed for box in track.box_at(time_s, self.hold_s)]


def hide_regions(image: np.ndarray, boxes: list[Box], method: str) -> None:
    """Hide each box in place. Blur and pixelation keep about 8 cells across a face: too few for any face detector."""
    height, width = image.shape[:2]
    for box in boxes:
        x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
        x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = image[y0:y1, x0:x1]
        if method == "box":
            region[:] = region.reshape(-1, 3).mean(axis=0).astype(np.uint8)
            continue
        cells = max(1, round(max(x1 - x0, y1 - y0) / 8))
        small = cv2.resize(
            region, (max(1, (x1 - x0) // cells), max(1, (y1 - y0) // cells)), interpolation=cv2.INTER_AREA
        )
        if method == "blur":  # blurring the small copy costs the same for any face size
            small = cv2.GaussianBlur(small, (0, 0), sigmaX=1.0, borderType=cv2.BORDER_REPLICATE)
        region[:] = cv2.resize(
            small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST if method == "pixelate" else cv2.INTER_CUBIC
        )


def _same_boxes(boxes: list[Box], seen: list[Box] | None) -> bool:
    """Whether a frame hidden with `boxes` is the frame a detection's last look saw with `seen` hidden."""
    return (
        seen is not None
        and len(boxes) == len(seen)
        and all(np.array_equal(a, b) for a, b in zip(boxes, seen, strict=True))
    )


CONFIRM_CROPS = (1.5, 3.0)  # crop sides tried for landmarks, as multiples of the box's longer side
CONFIRMATIONS = 2  # landmark finds that confirm a track of large boxes
LANDMARKS_AGREE = 0.6  # overlap (IoU) of the landmarks' outline with the detected box that confirms it
CONFIRM_SIZE = 192  # the crop's side in pixels, as Face Mesh's own detector expects a face about half of it


class FaceDetector:
    """MediaPipe's full-range face detector (finds small, distant faces the short-range one misses), and its
    landmark model to confirm a box."""

    def __init__(self, min_confidence: float) -> None:
        self.min_confidence = min_confidence
        self._face = None
        self._mesh = None

    def setup(self) -> None:
        mp = import_mediapipe()
        self._face = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=self.min_confidence
        )
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, min_detection_confidence=self.min_confidence
        )

    def confirm(self, bgr: np.ndarray, centre: np.ndarray, side: float) -> bool:
        """Whether Face Mesh finds a face in a square crop around a detected box (its centre and longer side in
        pixels; padded black off-frame)."""
        assert self._mesh is not None, "call setup() first"
        for scale in CONFIRM_CROPS:
            half = max(2.0, scale * side / 2)
            pad = int(np.ceil(half)) + 1
            padded = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            x0, y0 = (int(round(v - half)) + pad for v in centre)
            width = int(round(2 * half))
            crop = padded[max(0, y0) : y0 + width, max(0, x0) : x0 + width]
            if min(crop.shape[:2]) < 2:  # the box lies off the frame
                return False
            crop = cv2.resize(crop, (CONFIRM_SIZE, CONFIRM_SIZE))
            found = self._mesh.process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)).multi_face_landmarks
            if found:  # the landmarks must outline the detected face, not another one in the crop
                points = np.array([(p.x, p.y) for p in found[0].landmark])
                face = np.concatenate([points.min(axis=0), points.max(axis=0)])
                inner = 0.5 / scale  # the detected box in the crop's normalised coordinates
                if _iou(face, np.array([0.5 - inner, 0.5 - inner, 0.5 + inner, 0.5 + inner])) >= LANDMARKS_AGREE:
                    return True
        return False

    def detect(self, bgr: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """Normalised (x, y, width, height) boxes with their confidence."""
        assert self._face is not None, "call setup() first"
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        found = self._face.process(rgb).detections or []
        out = []
        for detection in found:
            box = detection.location_data.relative_bounding_box
            out.append(((box.xmin, box.ymin, box.width, box.height), float(detection.score[0])))
        return out


class FaceBlurHook(EncodeHook):
    """An encode hook that hides faces; it holds frames back by up to `hold_s` plus one detection period."""

    name: ClassVar[str] = "privacy"
    version: ClassVar[str] = "2"
    step: ClassVar[str] = "face_hiding"
    config_sections: ClassVar[tuple[str, ...]] = ("privacy",)
    writes: ClassVar[tuple[str, ...]] = ("metadata.privacy",)

    def __init__(self, config: PrivacyConfig, detector: FaceDetector | None = None) -> None:
        self.config = config
        self.detector = detector or FaceDetector(config.min_confidence)
        self.period = 1.0 / config.detect_fps

    def setup(self) -> None:
        self.detector.setup()

    def begin_clip(self, clip: Clip, width: int, height: int) -> None:
        self.size = np.array([width, height, width, height], dtype=np.float64)
        self.small = self.config.confirm_above * np.sqrt(width * height)  # boxes up to this side need no landmarks
        self.tracker = FaceTracker(self.config.hold_s)
        self.pending: deque[TimedImage] = deque()
        self.next_detection = 0.0
        self.detected_until = -np.inf
        self.already_checked: dict[
            float, list[Box]
        ] = {}  # detection frames whose last look found no face: the boxes hidden
        self.detections = 0
        self.frames_hidden = 0
        self.frames_caught_by_check = 0

    def process(self, time_s: float, image: np.ndarray) -> list[TimedImage]:
        if time_s + 1e-6 >= self.next_detection:
            boxes, clean = self._detect(image)
            if clean:
                self.already_checked[time_s] = boxes
            for box, track in zip(boxes, self.tracker.add(time_s, boxes), strict=True):
                if not track.confirmed:
                    self._confirm(track, image, box)
            self.detections += len(boxes)
            self.detected_until = time_s
            while self.next_detection <= time_s + 1e-6:
                self.next_detection += self.period
        self.pending.append((time_s, image))
        released = []
        while self.pending and self.pending[0][0] + self.config.hold_s <= self.detected_until + 1e-6:
            time_s, image = self.pending.popleft()
            self.hide(time_s, image)
            released.append((time_s, image))
        return released

    def flush(self) -> list[TimedImage]:
        for time_s, image in self.pending:
            self.hide(time_s, image)
        released = list(self.pending)
        self.pending.clear()
        return released

    def end_clip(self) -> ClipExtras:
        return ClipExtras(
            metadata={
                "privacy": {
                    "method": self.config.face_blur,
                    "faces_blurred_frames": self.frames_hidden,
                    "face_detections": self.detections,
                    "frames_caught_by_check": self.frames_caught_by_check,
                }
            }
        )

    def _detect(self, image: np.ndarray) -> tuple[list[Box], bool]:
        """Faces in the frame, looking again after hiding those found: a hidden face can expose a weaker one.

        Also whether the last look, on the frame with every found face hidden, came back empty.
        """
        boxes: list[Box] = []
        view = image
        for _ in range(1 + EXTRA_LOOKS):
            found = [self._pixel_box(box) for box, _ in self.detector.detect(view)]
            if not found:
                return boxes, True
            boxes += found
            view = view.copy() if view is image else view
            hide_regions(view, found, self.config.face_blur)
        return boxes, False

    def _side(self, box: Box) -> float:
        """The longer side of the box as detected, before the margin."""
        return float(max(box[2:] - box[:2])) / (1 + 2 * self.config.margin)

    def _confirm(self, track: FaceTrack, image: np.ndarray, box: Box) -> None:
        """Confirm a track on a small box, or once face landmarks were found on at least `CONFIRMATIONS` of its
        boxes and a third of those checked (the landmark model also fires, now and then, on objects)."""
        side = self._side(box)
        if side <= self.small:
            track.confirmed = True
            return
        track.checks += 1
        track.hits += self.detector.confirm(image, (box[:2] + box[2:]) / 2, side)
        track.confirmed = track.hits >= CONFIRMATIONS and 3 * track.hits >= track.checks

    def _pixel_box(self, box: tuple[float, float, float, float]) -> Box:
        x, y, w, h = box
        m = self.config.margin
        return np.array([x - m * w, y - m * h, x + w * (1 + m), y + h * (1 + m)]) * self.size

    def hide(self, time_s: float, image: np.ndarray) -> list[Box]:
        """Hide the faces of a released frame in place; the boxes hidden (the face-hiding benchmark reads them)."""
        boxes = self.tracker.boxes_at(time_s)
        if boxes:
            hide_regions(image, boxes, self.config.face_blur)
        if self.config.check_every_frame and not _same_boxes(boxes, self.already_checked.pop(time_s, None)):
            found, _ = self._detect(image)
            found = [box for box in found if self._side(box) <= self.small or any(_iou(box, b) > 0 for b in boxes)]
            if found:  # a face the sampled detections and their tracks did not cover
                hide_regions(image, found, self.config.face_blur)
                self.frames_caught_by_check += 1
                boxes += found
        self.frames_hidden += bool(boxes)
        return boxes
