"""`LocalRunner`: a process pool on this machine, one pipeline per worker process.

A worker that dies (a segfault in a decoder, the OOM killer) breaks a Python process pool;
the runner then starts a new pool and retries the videos that were in flight, and records a
video as failed once it has been in flight for more deaths than `retries` allows. A pipeline
that cannot set up in a worker (a missing model) stops the run with its `SetupError`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from humannet.engine.pipeline import Pipeline, PipelineSpec, SetupError
from humannet.engine.runner import Runner
from humannet.records import Video

log = logging.getLogger(__name__)

_worker_pipeline: Pipeline | None = None  # one per worker process, built by the initializer
_worker_setup_error: SetupError | None = None  # why it could not be built; every task reports it


def _init_worker(spec: PipelineSpec, log_level: int) -> None:
    """Build the worker's pipeline; a setup failure is kept for the tasks to report (an initializer
    that raises would only break the pool, and every video would look like a worker death)."""
    global _worker_pipeline, _worker_setup_error
    logging.basicConfig(level=log_level)
    try:
        _worker_pipeline = Pipeline.from_spec(spec)
    except SetupError as exc:
        _worker_setup_error = exc


def _run_one(video: Video) -> Video:
    if _worker_setup_error is not None:
        raise _worker_setup_error
    assert _worker_pipeline is not None
    return _worker_pipeline.run(video)


class LocalRunner(Runner):
    def __init__(self, workers: int = 0, retries: int = 1) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.retries = retries

    def _pool(self, spec: PipelineSpec) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(spec, logging.getLogger().getEffectiveLevel()),
        )

    def map(self, spec: PipelineSpec, videos: Iterable[Video]) -> Iterator[Video]:
        pending = iter(videos)
        retry: list[Video] = []
        deaths: dict[str, int] = {}
        in_flight_limit = 2 * self.workers
        pool = self._pool(spec)
        running: dict[Future[Video], Video] = {}
        try:
            while True:
                while len(running) < in_flight_limit:
                    video = retry.pop() if retry else next(pending, None)
                    if video is None:
                        break
                    running[pool.submit(_run_one, video)] = video
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    video = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken = True
                        running[future] = video  # handled with the other victims below
                if broken:
                    victims = list(running.values())
                    running.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool(spec)
                    for video in victims:
                        deaths[video.uri] = deaths.get(video.uri, 0) + 1
                        if deaths[video.uri] > self.retries:
                            video.fail("worker", "worker process died while processing this video", type_="WorkerDied")
                            yield video
                        else:
                            log.warning("worker died; retrying %s", video.uri)
                            retry.append(video)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
