"""People, hands and faces in a frame: the records every human-centric stage reads, and backends.

A `HumanDetector` turns one BGR frame into `FrameDetections`. The default backend is
MediaPipe's legacy solutions (0.10.21, whose wheel ships the models: it works offline on a
CPU): single-person Pose (`model_complexity=1`; 0 and 2 download a model at run time),
Hands (up to two) and the full-range face detector (finds small faces the short-range one
misses). A GPU or multi-person backend implements the same two methods; stages only see
`FrameDetections`.

Coordinates: image keypoints are normalised to the frame, x right and y down in [0, 1]
(they can fall slightly outside for parts beyond the border); world keypoints are
MediaPipe's metric estimates in metres, centred between the hips (body) or at the hand's
geometric centre (hands).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import ModuleType

import cv2
import numpy as np

BODY_KEYPOINTS = 33
HAND_KEYPOINTS = 21


@dataclass(slots=True)
class BodyPose:
    image: np.ndarray  # (33, 4) float32: x, y (normalised), z (relative depth, MediaPipe scale), visibility 0-1
    world: np.ndarray  # (33, 4) float32: x, y, z in metres (hip-centred), visibility 0-1


@dataclass(slots=True)
class HandPose:
    image: np.ndarray  # (21, 3) float32: x, y (normalised), z (relative depth)
    world: np.ndarray  # (21, 3) float32: metres
    handedness: str  # "left" or "right": the person's own hand (MediaPipe's label, corrected for a non-mirrored camera)
    score: float  # handedness classification confidence 0-1


@dataclass(slots=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x, y, width, height, normalised to the frame
    score: float  # detection confidence 0-1


@dataclass(slots=True)
class FrameDetections:
    time_s: float
    width: int  # size of the frame the detector saw (px)
    height: int
    body: BodyPose | None = None
    hands: list[HandPose] = field(default_factory=list)
    faces: list[FaceBox] = field(default_factory=list)

    @property
    def has_person(self) -> bool:
        return self.body is not None or bool(self.hands) or bool(self.faces)


class HumanDetector(ABC):
    """One frame in, people, hands and faces out. `setup` loads models once per worker."""

    name: str

    @abstractmethod
    def setup(self) -> None: ...

    @abstractmethod
    def detect(self, bgr: np.ndarray, time_s: float) -> FrameDetections:
        """Detections in one frame; frames of one video arrive in time order (trackers may use that)."""

    def reset(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Forget tracking state between videos (the default keeps none)."""


def import_mediapipe() -> ModuleType:
    """Import MediaPipe (heavy: only workers need it) with its native log noise filtered out."""
    _filter_native_stderr()
    import mediapipe

    return mediapipe


# MediaPipe's C++ side logs through absl straight to file descriptor 2, from its own threads and
# whenever a model first runs, past Python's logging and any level setting. These lines are noise.
_NATIVE_NOISE = re.compile(
    rb"^([IW]\d{4} |(INFO: )?Created TensorFlow Lite|WARNING: All log messages before absl::InitializeLog)"
)
_stderr_filtered = False


def _filter_native_stderr() -> None:
    """Route file descriptor 2 through a thread that drops MediaPipe's info and warning lines.

    Errors and everything else (Python tracebacks included) pass through unchanged. Once per process.
    """
    global _stderr_filtered
    if _stderr_filtered:
        return
    _stderr_filtered = True
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not _NATIVE_NOISE.match(line))
                if kept:
                    os.write(original, kept)
            if pending and not _NATIVE_NOISE.match(pending):
                os.write(original, pending)

    threading.Thread(target=forward, name="native-stderr-filter", daemon=True).start()


class MediaPipeDetector(HumanDetector):
    """MediaPipe legacy solutions in video mode (tracking between frames of one video)."""

    name = "mediapipe-0.10.21"

    def __init__(
        self, min_confidence: float = 0.5, max_hands: int = 2, min_body_presence: float = 0.9, faces: bool = True
    ) -> None:
        self.min_confidence = min_confidence
        self.max_hands = max_hands
        self.faces = faces  # False: bodies and hands only (keypoint tracks need no faces)
        # Pose's landmark model rates "a person is in this crop"; at its default 0.5 it keeps tracking bodies it
        # hallucinated on birds, leaves and kitchen clutter (measured on the shared negatives); 0.9 drops those.
        self.min_body_presence = min_body_presence
        self._pose = self._hands = self._face = None

    def setup(self) -> None:
        self._mp = import_mediapipe()
        self.reset()
        if self.faces:
            self._face = self._mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.min_confidence
            )

    def reset(self) -> None:
        mp = self._mp
        for solution in (self._pose, self._hands):
            if solution is not None:
                solution.close()
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=1,
            min_detection_confidence=self.min_confidence,
            min_tracking_confidence=self.min_body_presence,
        )
        self._hands = mp.solutions.hands.Hands(
            static_image_mode=False, max_num_hands=self.max_hands, min_detection_confidence=self.min_confidence
        )

    def detect(self, bgr: np.ndarray, time_s: float) -> FrameDetections:
        assert self._pose is not None and self._hands is not None and (self._face is not None or not self.faces), (
            "call setup() first"
        )
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        height, width = rgb.shape[:2]
        result = FrameDetections(time_s=time_s, width=width, height=height)
        pose = self._pose.process(rgb)
        if pose.pose_landmarks is not None:
            image = np.array([(p.x, p.y, p.z, p.visibility) for p in pose.pose_landmarks.landmark], dtype=np.float32)
            world = np.array(
                [(p.x, p.y, p.z, p.visibility) for p in pose.pose_world_landmarks.landmark], dtype=np.float32
            )
            result.body = BodyPose(image=image, world=world)
        hands = self._hands.process(rgb)
        for landmarks, world, label in zip(
            hands.multi_hand_landmarks or [],
            hands.multi_hand_world_landmarks or [],
            hands.multi_handedness or [],
            strict=False,
        ):
            category = label.classification[0]
            # MediaPipe labels hands as if the image were mirrored (selfie view); camera footage is not.
            side = {"Left": "right", "Right": "left"}.get(category.label, category.label.lower())
            result.hands.append(
                HandPose(
                    image=np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float32),
                    world=np.array([(p.x, p.y, p.z) for p in world.landmark], dtype=np.float32),
                    handedness=side,
                    score=float(category.score),
                )
            )
        # Video-mode tracking can carry a lost hand along with newly detected ones (3 hands seen with max_num_hands=2).
        result.hands = sorted(result.hands, key=lambda h: h.score, reverse=True)[: self.max_hands]
        faces = self._face.process(rgb).detections if self._face is not None else None
        for detection in faces or []:
            box = detection.location_data.relative_bounding_box
            result.faces.append(
                FaceBox(box=(box.xmin, box.ymin, box.width, box.height), score=float(detection.score[0]))
            )
        return result
