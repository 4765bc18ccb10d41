"""Runs a chain of stages over one video, decoding it exactly once for every FrameStage.

The pipeline is what a worker holds: built once per worker from a picklable `PipelineSpec`
(so process pools and Ray actors build identical chains), checked (`check_dataflow`), set up
once, then called per video. Exceptions never leave `run`: they become error records on the
video. The frames usually come from decoding the video's own file; `humannet review` replays
the frames of the clips already written instead (a `frame_source`), through the same stages.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import av
import numpy as np

from humannet import HumannetError
from humannet.engine.stage import INPUT_KEYS, FrameStage, Stage, check_dataflow
from humannet.media.frames import DecodeConfig, DecodeStats, TooManyDecodeErrors, iter_frames
from humannet.records import Frame, ItemError, Status, Video
from humannet.storage import StorageConfig, local_copy, scratch_root

log = logging.getLogger(__name__)

# Where a pass gets its frames: the video, the decode settings and the counters to fill.
FrameSource = Callable[[Video, DecodeConfig, DecodeStats], Iterable[Frame]]


def decoded_frames(video: Video, decode: DecodeConfig, stats: DecodeStats) -> Iterable[Frame]:
    """The video's own frames, decoded from its file."""
    assert video.probe is not None
    return iter_frames(video.source, video.probe, decode, stats)


class SetupError(HumannetError):
    """A stage could not be built or set up (a missing model file, an import error): no video can run.

    Raised in the worker; runners carry it back to the driver, which stops the run with its one
    line instead of recording every video as failed (and retrying them all on the next run).
    """


@dataclass(frozen=True)
class PipelineSpec:
    """A picklable recipe: `build()` returns the stages; runners call it inside each worker.

    `stamps` are the rerunnable stages' current stamps (`PipelineUnit.stamp`), put on each
    video such a stage fills, so `humannet review` and the audit can tell what is out of date.
    """

    build: Callable[[], list[Stage]]
    decode: DecodeConfig
    storage: StorageConfig | None = None  # how workers reach remote inputs
    stamps: Mapping[str, str] = field(default_factory=dict)
    available: tuple[str, ...] = (
        INPUT_KEYS  # record keys the videos arrive with (a later phase: the analysis's outputs)
    )


class Pipeline:
    """`frame_source`: None decodes each video's own file; a replayed source (review reruns) neither
    changes the video's decode counts nor fails a video it has no frames for. `fail_on_error`:
    a stage that raises fails the video (curation), or only records the error (review reruns)."""

    def __init__(
        self,
        stages: list[Stage],
        decode: DecodeConfig,
        storage: StorageConfig | None = None,
        stamps: Mapping[str, str] | None = None,
        frame_source: FrameSource | None = None,
        fail_on_error: bool = True,
        available: tuple[str, ...] = INPUT_KEYS,
    ) -> None:
        check_dataflow(stages, available)
        unstamped = [stage.name for stage in stages if stage.rerunnable and stage.name not in (stamps or {})]
        if unstamped:
            raise ValueError(
                f"no stamp for the rerunnable stage(s) {', '.join(unstamped)} (build pipelines in stages.py)"
            )
        self.stages = stages
        self.decode = decode
        self.storage = storage or StorageConfig()
        self.stamps = dict(stamps or {})
        self.frame_source = frame_source
        self.fail_on_error = fail_on_error

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> Pipeline:
        try:
            stages = spec.build()
        except Exception as exc:
            raise SetupError(f"the pipeline could not be built: {type(exc).__name__}: {exc}") from exc
        pipeline = cls(stages, spec.decode, spec.storage, spec.stamps, available=spec.available)
        pipeline.setup()
        return pipeline

    def setup(self) -> None:
        """Load every stage's models; a stage that cannot is a `SetupError` naming it."""
        for stage in self.stages:
            try:
                stage.setup()
            except Exception as exc:
                raise SetupError(f"stage {stage.name} could not set up: {type(exc).__name__}: {exc}") from exc

    def run(self, video: Video) -> Video:
        """All stages on one video; a remote input is read from a local copy deleted afterwards."""
        try:
            with local_copy(video.uri, self.storage.options, scratch_root(self.storage)) as path:
                video.local_path = path if path != video.uri else None
                return self.run_stages(video)
        except Exception as exc:  # the copy itself failed: missing object, no access, network
            video.fail("fetch", exc)
            return video
        finally:
            video.local_path = None
            video.frame_results.clear()

    def run_stages(self, video: Video) -> Video:
        """The stages on a video whose bytes are at hand (or not needed: a replayed frame source)."""
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
                if self.fail_on_error:
                    video.fail(stage.name, exc)
                    break
                video.errors.append(ItemError(stage=stage.name, type=type(exc).__name__, message=str(exc)))
                continue
            finally:
                video.timings[stage.name] = video.timings.get(stage.name, 0.0) + time.perf_counter() - started
            if stage.rerunnable:
                video.stamps[stage.name] = self.stamps[stage.name]
            if result is None:
                video.drop(f"{stage.name}: dropped")
        return video

    def _decode(self, video: Video, consumers: list[FrameStage]) -> bool:
        """One sequential pass feeding every consumer; False (and a recorded failure) if it broke."""
        started = time.perf_counter()
        stats = DecodeStats()
        accumulators = [stage.accumulator(video) for stage in consumers]
        times = array("d")  # 8 bytes a frame: ten hours at 30 fps is 8 MB
        source = self.frame_source or decoded_frames
        try:
            for frame in source(video, self.decode, stats):
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
        if self.frame_source is None:
            video.decode_errors = stats.decode_errors + stats.corrupt_frames
            video.frames_decoded = len(times)
            if not times:
                video.fail("decode", "no frame could be decoded", type_="DecodeError")
                return False
        frame_times = np.frombuffer(times, dtype=np.float64).copy()
        fps = video.probe.fps if video.probe else 0.0
        last_step = float(np.median(np.diff(frame_times[-30:]))) if len(times) > 1 else 1.0 / (fps or 25.0)
        video.frame_results["frame_times"] = frame_times
        video.frame_results["end_time"] = float(frame_times[-1] + last_step) if len(times) else 0.0
        video.frame_results["decode"] = stats
        for stage, accumulator in zip(consumers, accumulators, strict=True):
            video.frame_results[stage.name] = accumulator.finish()
        return True
