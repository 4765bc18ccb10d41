"""Runs a chain of stages over one video, decoding it exactly once for every FrameStage.

The pipeline is what a worker holds: built once per worker from a picklable `PipelineSpec`
(so process pools and Ray actors build identical chains), set up once, then called per video.
Exceptions never leave `run`: they become error records on the video.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from humannet.engine.stage import FrameStage, Stage
from humannet.media.frames import DecodeConfig, DecodeStats, TooManyDecodeErrors, iter_frames
from humannet.records import Status, Video
from humannet.storage import StorageConfig, local_copy, scratch_root

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineSpec:
    """A picklable recipe: `build()` returns the stages; runners call it inside each worker."""

    build: Callable[[], list[Stage]]
    decode: DecodeConfig
    storage: StorageConfig | None = None  # how workers reach remote inputs


class Pipeline:
    def __init__(self, stages: list[Stage], decode: DecodeConfig, storage: StorageConfig | None = None) -> None:
        self.stages = stages
        self.decode = decode
        self.storage = storage or StorageConfig()

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> Pipeline:
        pipeline = cls(spec.build(), spec.decode, spec.storage)
        pipeline.setup()
        return pipeline

    def setup(self) -> None:
        for stage in self.stages:
            stage.setup()

    def run(self, video: Video) -> Video:
        """All stages on one video; a remote input is read from a local copy deleted afterwards."""
        try:
            with local_copy(video.uri, self.storage.options, scratch_root(self.storage)) as path:
                video.local_path = path if path != video.uri else None
                return self._run_stages(video)
        except Exception as exc:  # the copy itself failed: missing object, no access, network
            video.fail("fetch", exc)
            return video
        finally:
            video.local_path = None
            video.frame_results.clear()

    def _run_stages(self, video: Video) -> Video:
        decoded = False
        for position, stage in enumerate(self.stages):
            if video.status is not Status.KEPT:
                break
            if isinstance(stage, FrameStage) and not decoded:
                decoded = True
                consumers = [s for s in self.stages[position:] if isinstance(s, FrameStage)]
                if not self._decode(video, consumers):
                    break
            started = time.perf_counter()
            try:
                result = stage.process(video)
            except Exception as exc:  # a bug or bad data in one video must not stop the run
                log.debug("stage %s failed on %s", stage.name, video.uri, exc_info=True)
                video.fail(stage.name, exc)
                break
            finally:
                video.timings[stage.name] = video.timings.get(stage.name, 0.0) + time.perf_counter() - started
            if result is None:
                video.drop(f"{stage.name}: dropped")
        return video

    def _decode(self, video: Video, consumers: list[FrameStage]) -> bool:
        """One sequential pass feeding every consumer; False (and a recorded failure) if it broke."""
        assert video.probe is not None
        started = time.perf_counter()
        stats = DecodeStats()
        accumulators = [stage.accumulator(video) for stage in consumers]
        times = array("d")  # 8 bytes a frame: ten hours at 30 fps is 8 MB
        try:
            for frame in iter_frames(video.source, video.probe, self.decode, stats):
                times.append(frame.time_s)
                for accumulator in accumulators:
                    accumulator.add(frame)
        except (TooManyDecodeErrors, av.error.FFmpegError) as exc:
            video.fail("decode", exc)
            return False
        except Exception as exc:  # an analysis accumulator failed on this video's frames
            log.debug("frame analysis failed on %s", video.uri, exc_info=True)
            video.fail("analysis", exc)
            return False
        finally:
            video.timings["decode"] = time.perf_counter() - started
        video.decode_errors = stats.decode_errors + stats.corrupt_frames
        if not times:
            video.fail("decode", "no frame could be decoded", type_="DecodeError")
            return False
        frame_times = np.frombuffer(times, dtype=np.float64).copy()
        last_step = float(np.median(np.diff(frame_times[-30:]))) if len(times) > 1 else 1.0 / (video.probe.fps or 25.0)
        video.frame_results["frame_times"] = frame_times
        video.frame_results["end_time"] = float(frame_times[-1] + last_step)
        video.frame_results["decode"] = stats
        video.frames_decoded = len(times)
        for stage, accumulator in zip(consumers, accumulators, strict=True):
            video.frame_results[stage.name] = accumulator.finish()
        return True
