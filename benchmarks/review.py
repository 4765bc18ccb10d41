"""Review stages on a folder of videos: unsafe-content scores, on-screen text findings, and their cost per frame.

python -m benchmarks review VIDEOS [--set review.pii.sample_fps=0.5 ...] [--json out.json]

Each video is decoded once as the analysis pass decodes it (analysis frames at decode.analysis_fps)
and fed to the unsafe-content detector and the OCR reader at their configured sampling rates.
Prints, per video: samples, the unsafe score held on consecutive samples (what the stage acts on;
a false positive on ordinary footage shows here) and the single-sample peak, the highest score of any class (benign
classes: faces, feet),
the PII kinds found, the median text area, and milliseconds per sampled frame for each model.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from humannet.collect.inputs import resolve_inputs
from humannet.config import load_config
from humannet.media.frames import DecodeStats, iter_frames
from humannet.media.probe import probe_video
from humannet.review.pii import ScreenTextReader, TextAccumulator
from humannet.review.unsafe import NudeNetScorer, UnsafeAccumulator, sustained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks review", description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", dest="json_path", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = load_config(None, args.overrides)
    scorer = NudeNetScorer(config.review.unsafe.model_path)
    scorer.setup()
    reader = ScreenTextReader(config.review.pii)
    reader.setup()
    unsafe_columns = [scorer.labels.index(name) for name in config.review.unsafe.classes]
    rows = []
    for video in resolve_inputs(str(args.videos)):
        probe = probe_video(video.uri)
        unsafe = UnsafeAccumulator(scorer, config.review.unsafe.sample_fps)
        text = TextAccumulator(reader, config.review.pii.sample_fps)
        started = time.perf_counter()
        for frame in iter_frames(video.uri, probe, config.decode, DecodeStats()):
            unsafe.add(frame)
            text.add(frame)
        wall = time.perf_counter() - started
        u = unsafe.finish()
        samples, ocr_seconds = text.finish()
        worst = u.scores[:, unsafe_columns].max(axis=0) if len(u.times) else np.zeros(len(unsafe_columns))
        held = (
            sustained(u.scores[:, unsafe_columns], config.review.unsafe.min_consecutive)[0]
            if len(u.times)
            else np.zeros(len(unsafe_columns))
        )
        any_class = u.scores.max(axis=0) if len(u.times) else np.zeros(len(u.labels))
        kinds = sorted({kind for s in samples for kind, _ in s.findings})
        rows.append(
            {
                "video": Path(video.uri).name,
                "duration_s": round(probe.duration_s, 2),
                "unsafe_samples": len(u.times),
                "unsafe_peak": round(float(worst.max()), 4),
                "unsafe_peak_class": config.review.unsafe.classes[int(np.argmax(worst))],
                "unsafe_score": round(float(held.max()), 4),
                "any_class_max": round(float(any_class.max()), 4),
                "any_class": u.labels[int(np.argmax(any_class))],
                "unsafe_ms_per_frame": round(1000 * u.seconds / max(1, len(u.times)), 1),
                "ocr_samples": len(samples),
                "pii_kinds": kinds,
                "pii_findings": sum(len(s.findings) for s in samples),
                "text_area_median": round(float(np.median([s.text_area for s in samples])), 4) if samples else 0.0,
                "ocr_ms_per_frame": round(1000 * ocr_seconds / max(1, len(samples)), 1),
                "wall_s": round(wall, 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    threshold = config.review.unsafe.threshold
    over = [r["video"] for r in rows if r["unsafe_score"] >= threshold]
    peaks = [r["video"] for r in rows if r["unsafe_peak"] >= threshold]
    unsafe_ms = [r["unsafe_ms_per_frame"] for r in rows if r["unsafe_samples"]]
    ocr_ms = [r["ocr_ms_per_frame"] for r in rows if r["ocr_samples"]]
    print(f"\n{len(rows)} videos; unsafe_score >= {threshold:g} on {len(over)}: {', '.join(over) or 'none'}")
    print(f"single-sample peak >= {threshold:g} on {len(peaks)}: {', '.join(peaks) or 'none'}")
    highest_score = max((r["unsafe_score"] for r in rows), default=0)
    highest_peak = max((r["unsafe_peak"] for r in rows), default=0)
    print(f"highest unsafe_score: {highest_score:.4f}; highest peak: {highest_peak:.4f}")
    with_pii = [f"{r['video']} {'/'.join(r['pii_kinds'])}" for r in rows if r["pii_kinds"]]
    print(f"videos with PII kinds: {len(with_pii)} ({', '.join(with_pii)})")
    print(
        f"unsafe detector ms per frame: median {np.median(unsafe_ms):.1f}; OCR ms per frame: median "
        f"{np.median(ocr_ms):.1f}"
    )
    if args.json_path:
        args.json_path.write_text(json.dumps(rows, indent=2))
    return 0
