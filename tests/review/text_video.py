"""Test videos with fake identifying text drawn over real footage (OpenCV's built-in Hershey fonts: no font files
needed)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

FAKE_EMAIL = "jane.doe@example.com"
FAKE_PHONE = "+1 415-555-0132"
FAKE_URL = "www.example.org/contact"
FAKE_PLATE = "AB12 CDE"


def draw_card(image: np.ndarray, lines: list[str], top: float = 0.62, scale: float = 1.0) -> None:
    """A lower-third name card: a dark box with white text, as on a vlog or a news clip."""
    height, width = image.shape[:2]
    y0 = int(top * height)
    line_h = int(34 * scale * height / 360)
    cv2.rectangle(image, (0, y0), (width, min(height, y0 + line_h * len(lines) + 12)), (20, 20, 20), -1)
    for number, text in enumerate(lines):
        y = y0 + line_h * (number + 1)
        cv2.putText(
            image,
            text,
            (int(0.03 * width), y),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.9 * scale * height / 360,
            (255, 255, 255),
            2,
            cv2.LINE_AA,
        )


def overlay_text(source: Path, out: Path, lines: list[str], seconds: float | None = None) -> Path:
    """Re-encode `source` (H.264) with the card drawn on every frame; `seconds` cuts it short."""
    with av.open(str(source)) as src, av.open(str(out), mode="w") as dst:
        stream_in = src.streams.video[0]
        rate = stream_in.average_rate or 25
        stream = dst.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        first = True
        for frame in src.decode(stream_in):
            if seconds is not None and frame.time is not None and frame.time >= seconds:
                break
            image = frame.to_ndarray(format="bgr24")
            if first:
                stream.width, stream.height = image.shape[1] // 2 * 2, image.shape[0] // 2 * 2
                first = False
            image = np.ascontiguousarray(image[: stream.height, : stream.width])
            draw_card(image, lines)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out
