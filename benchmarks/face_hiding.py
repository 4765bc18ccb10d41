"""Face hiding against hand-labelled face boxes, per split: faces hidden, area hidden elsewhere, an independent check.

python -m benchmarks.face_hiding VIDEOS [--faces VIDEOS/faces.json] [--split dev|test|all] [--set privacy.KEY=VALUE]

Each labelled clip is decoded in order (PyAV, every frame at its own time and source size) through the face hider
exactly as the clip writer calls it (`FaceBlurHook.begin_clip`, `process`, `flush`), so its tracks see the whole
clip; the frames at the labelled indices are scored as they leave the hider. Definitions and targets:
docs/accuracy.md (Face hiding). `python -m benchmarks accuracy` prints the same report when VIDEOS/faces.json exists.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.accuracy import ALL_SPLITS, Rate
from humannet.annotate.privacy import Box, FaceBlurHook
from humannet.config import load_config

COVERED = 0.8  # a labelled face is hidden when at least this share of its box is inside hidden area
SLACK = 0.25  # hiding within this share of a labelled box's width/height around it is not over-hiding
OVER_HIDDEN_LIMIT = 0.01  # a frame is within target when its over-hidden area is at most this share of the frame
MIN_FACE_PX = 20  # faces whose box is at least this large on its shorter side must be hidden

TARGETS = {"face_recall": (">=", 0.98), "frames_within_over_hiding": (">=", 0.99), "cascade_finds": ("<=", 0)}


class _RecordingHook(FaceBlurHook):
    """The hider as written, remembering which boxes it hid on each released frame."""

    def begin_clip(self, clip, width: int, height: int) -> None:
        super().begin_clip(clip, width, height)
        self.hidden: dict[float, list[Box]] = {}

    def hide(self, time_s: float, image: np.ndarray) -> list[Box]:
        boxes = super().hide(time_s, image)
        self.hidden[time_s] = [box.copy() for box in boxes]
        return boxes


@dataclass
class FaceHidingReport:
    split: str
    clips: int = 0
    frames: int = 0
    faces_hidden: Rate = Rate(0, 0)
    frames_within: Rate = Rate(0, 0)  # frames whose area hidden outside labelled faces is at most 1 %
    face_free_frames_untouched: Rate = Rate(0, 0)  # frames without any labelled face where nothing is hidden
    cascade_before: Rate = Rate(0, 0)  # labelled faces the cascade finds on the frame as decoded
    cascade_after: Rate = Rate(0, 0)  # ... and on the frame as the hider writes it
    misses: list[str] = field(default_factory=list)
    over_hidden: list[str] = field(default_factory=list)
    hider_ms_per_frame: float = float("nan")

    def as_dict(self) -> dict[str, object]:
        return {
            "split": self.split,
            "clips": self.clips,
            "frames": self.frames,
            "faces_hidden": self.faces_hidden.as_dict(),
            "frames_within_over_hiding": self.frames_within.as_dict(),
            "face_free_frames_untouched": self.face_free_frames_untouched.as_dict(),
            "cascade_finds_before": self.cascade_before.as_dict(),
            "cascade_finds_after": self.cascade_after.as_dict(),
            "misses": self.misses,
            "over_hidden": self.over_hidden,
            "hider_ms_per_frame": self.hider_ms_per_frame,
        }


def box_mask(boxes: list[Box] | list[list[float]], height: int, width: int, grow: float = 0.0) -> np.ndarray:
    """A boolean mask of the boxes, each grown by `grow` of its width and height on every side."""
    mask = np.zeros((height, width), dtype=bool)
    for box in boxes:
        x0, y0, x1, y1 = (float(v) for v in box[:4])
        dx, dy = grow * (x1 - x0), grow * (y1 - y0)
        c0, r0 = max(0, int(np.floor(x0 - dx))), max(0, int(np.floor(y0 - dy)))
        c1, r1 = min(width, int(np.ceil(x1 + dx))), min(height, int(np.ceil(y1 + dy)))
        if c1 > c0 and r1 > r0:
            mask[r0:r1, c0:c1] = True
    return mask


def must_hide(face: dict) -> bool:
    return face["clear"] and face["at_least_20px"]


def score_frame(faces: list[dict], hidden: list[Box], height: int, width: int) -> tuple[list[bool], float]:
    """Per required face whether it is hidden, and the share of the frame hidden outside the labelled faces.

    The hidden area is the union of the boxes the hider drew (clipped to the frame); a required face is hidden
    when at least `COVERED` of its box lies inside it. Every labelled box, grown by `SLACK`, may be hidden freely.
    """
    hidden_mask = box_mask(hidden, height, width)
    covered = []
    for face in faces:
        if must_hide(face):
            face_mask = box_mask([face["box"]], height, width)
            area = face_mask.sum()
            covered.append(bool(area) and bool((hidden_mask & face_mask).sum() >= COVERED * area))
    allowed = box_mask([face["box"] for face in faces], height, width, grow=SLACK)
    return covered, float((hidden_mask & ~allowed).sum()) / (height * width)


class Cascade:
    """OpenCV's shipped frontal-face Haar cascade: a face detector that shares nothing with the hider's."""

    def __init__(self) -> None:
        self.classifier = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def finds(self, bgr: np.ndarray, face: dict) -> bool:
        """Whether the cascade finds a face whose centre lies inside the labelled box."""
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        x0, y0, x1, y1 = face["box"]
        for x, y, w, h in self.classifier.detectMultiScale(gray, 1.1, 5, minSize=(MIN_FACE_PX, MIN_FACE_PX)):
            if x0 <= x + w / 2 <= x1 and y0 <= y + h / 2 <= y1:
                return True
        return False


def run_hider(path: Path, hook: _RecordingHook, wanted: set[int]) -> tuple[dict[int, tuple], float, int]:
    """Decode `path` through the hider; the wanted frames (index: (decoded, written, boxes hidden)), the seconds
    spent in the hider and the frame count."""
    decoded: dict[float, tuple[int, np.ndarray]] = {}
    out: dict[int, tuple] = {}
    spent = 0.0
    frames = 0

    def collect(released: list) -> None:
        for time_s, image in released:
            if time_s in decoded:
                index, before = decoded.pop(time_s)
                out[index] = (before, image, hook.hidden[time_s])

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = None
        for index, frame in enumerate(container.decode(stream)):
            image = frame.to_ndarray(format="bgr24")
            if start is None:
                hook.begin_clip(None, image.shape[1], image.shape[0])
                start = frame.time or 0.0
            time_s = frame.time - start if frame.time is not None else index / float(stream.average_rate or 30)
            if index in wanted:
                decoded[time_s] = (index, image.copy())
            began = time.perf_counter()
            released = hook.process(time_s, image)
            spent += time.perf_counter() - began
            collect(released)
            frames += 1
    began = time.perf_counter()
    released = hook.flush()
    spent += time.perf_counter() - began
    collect(released)
    hook.end_clip()
    return out, spent, frames


def evaluate(videos: Path, face_labels: dict, split: str, hook: _RecordingHook) -> FaceHidingReport:
    clips = {n: c for n, c in face_labels["clips"].items() if split == ALL_SPLITS or c["split"] == split}
    report = FaceHidingReport(split)
    cascade = Cascade()
    hidden_faces = required = within = face_free = untouched = before_k = after_k = 0
    spent = 0.0
    frames_run = 0
    for name, clip in sorted(clips.items()):
        wanted = {f["index"]: f["faces"] for f in clip["frames"]}
        frames, seconds, count = run_hider(videos / name, hook, set(wanted))
        spent += seconds
        frames_run += count
        report.clips += 1
        for index, faces in sorted(wanted.items()):
            before, after, hidden = frames[index]
            height, width = after.shape[:2]
            covered, over = score_frame(faces, hidden, height, width)
            report.frames += 1
            required += len(covered)
            hidden_faces += sum(covered)
            report.misses += [f"{name} frame {index}: face {n}" for n, ok in enumerate(covered) if not ok]
            within += int(over <= OVER_HIDDEN_LIMIT)
            if over > OVER_HIDDEN_LIMIT:
                report.over_hidden.append(f"{name} frame {index}: {100 * over:.1f} % of the frame")
            if not faces:
                face_free += 1
                untouched += not hidden
            for face in filter(must_hide, faces):
                before_k += int(cascade.finds(before, face))
                after_k += int(cascade.finds(after, face))
    report.faces_hidden = Rate(hidden_faces, required)
    report.frames_within = Rate(within, report.frames)
    report.face_free_frames_untouched = Rate(untouched, face_free)
    report.cascade_before = Rate(before_k, required)
    report.cascade_after = Rate(after_k, required)
    report.hider_ms_per_frame = 1000 * spent / max(frames_run, 1)
    return report


def _target(key: str, value: float) -> str:
    op, target = TARGETS[key]
    met = value >= target if op == ">=" else value <= target
    shown = f"{100 * target:g} %" if key != "cascade_finds" else f"{target:g}"
    return f"target {op} {shown}: {'met' if met else 'NOT met'}"


def format_face_hiding(report: FaceHidingReport) -> str:
    r = report
    lines = [
        f"== face hiding, split {r.split}: {r.clips} clips, {r.frames} labelled frames ==",
        f"  faces hidden (clear, >= {MIN_FACE_PX} px, >= {100 * COVERED:.0f} % of the box):  {r.faces_hidden}  "
        + _target("face_recall", r.faces_hidden.value),
        f"  frames with <= {100 * OVER_HIDDEN_LIMIT:g} % of the frame hidden outside labelled faces"
        f" (+{100 * SLACK:.0f} % each side):  {r.frames_within}  "
        + _target("frames_within_over_hiding", r.frames_within.value),
        f"  frames without a labelled face where nothing is hidden:  {r.face_free_frames_untouched}",
        f"  independent check, OpenCV Haar cascade on required faces: finds {r.cascade_before} as decoded, "
        f"{r.cascade_after} as written  " + _target("cascade_finds", r.cascade_after.k),
        f"  hider time: {r.hider_ms_per_frame:.1f} ms per decoded frame (this machine)",
    ]
    lines += [f"  miss: {m}" for m in r.misses]
    lines += [f"  over-hidden: {m}" for m in r.over_hidden]
    return "\n".join(lines)


def face_hiding_reports(videos: Path, faces_path: Path, splits: list[str], config) -> list[FaceHidingReport]:
    face_labels = json.loads(faces_path.read_text())
    hook = _RecordingHook(config.privacy)
    hook.setup()
    return [evaluate(videos, face_labels, split, hook) for split in splits]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.face_hiding", description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path)
    parser.add_argument("--faces", type=Path, default=None, help="face labels (default: VIDEOS/faces.json)")
    parser.add_argument("--split", default=None, help="dev, test or all (default: dev and test, separately)")
    parser.add_argument("--config", dest="config_path", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", dest="json_path", type=Path, default=None)
    args = parser.parse_args(argv)
    faces_path = args.faces or args.videos / "faces.json"
    splits = [args.split] if args.split else ["dev", "test"]
    config = load_config(args.config_path, args.overrides)
    reports = face_hiding_reports(args.videos, faces_path, splits, config)
    print("\n\n".join(format_face_hiding(r) for r in reports))
    if args.json_path:
        args.json_path.write_text(json.dumps([r.as_dict() for r in reports], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
