"""`RayRunner`: the same pipeline on a Ray cluster, through Ray Data.

The videos become a Ray dataset (one video a block) and go through `map_batches` with a
callable class: Ray Data runs it as a pool of actors, each of which builds the pipeline from
the spec once (models load once per actor, as they do once per worker process locally) and
then runs one video per call. Results stream back through `iter_rows()`, so the caller commits
each video as it finishes, and Ray Data's streaming executor applies back-pressure: the
driver never holds more than a few finished videos.

Actors are sized from the stages' declared `Resources` (the largest CPU, GPU and memory need
of any stage, since one actor runs the whole chain). On a small machine a whole CPU per actor
would leave nothing for Ray Data's own tasks, so actors get a fraction of a CPU when the pool
would otherwise fill the cluster.

Each actor holds `queue` videos (default 2): the one it works on and the next, so it does not
idle while Ray Data schedules. Ray Data hands a video to the actor with the fewest in flight,
so work still spreads over every actor and node.

Faults: a worker process that dies (a crash, the OOM killer) is restarted by Ray and the videos
queued on its actor are retried up to `retries` times. A dead actor takes its whole queue down
with it, so videos that still did not finish get further passes, one video per actor, so that
only a video that kills its worker on its own is reported as failed (`WorkerDied`), as
`LocalRunner` does; the run finishes and names it. When a whole node is lost, its actors are
restarted where there is room; on a cluster with no room left (and no autoscaler to add a node)
the run waits, and killing it and running again resumes with nothing lost (docs/scaling.md).

Videos cross process boundaries as the JSON of `Video.to_dict()`, the same form the resume
ledger stores; frame results are transient and never travel.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from humannet.engine.pipeline import Pipeline, PipelineSpec, SetupError
from humannet.engine.runner import Runner
from humannet.engine.stage import Resources
from humannet.records import Video

log = logging.getLogger(__name__)

SETUP_FAILED = "\0setup-failed"  # the uri of a row that carries an actor's setup error instead of a video
CPU_RESERVE = 0.1  # share of the cluster's CPUs left for Ray Data's own tasks when actors would fill it


def encode(video: Video) -> str:
    return json.dumps(video.to_dict())


def decode(text: str) -> Video:
    return Video.from_dict(json.loads(text))


class PipelineActor:
    """One pipeline per Ray actor, built and set up once; called with batches of one video."""

    def __init__(self, spec: PipelineSpec, log_level: int) -> None:
        logging.basicConfig(level=log_level)
        self.setup_error: str | None = None  # reported by every call, so the driver stops with it (see map)
        try:
            self.pipeline = Pipeline.from_spec(spec)
        except SetupError as exc:
            self.setup_error = str(exc)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        if self.setup_error is not None:
            return {"uri": [SETUP_FAILED] * len(batch["video"]), "video": [self.setup_error] * len(batch["video"])}
        uris, videos = [], []
        for text in batch["video"]:
            video = self.pipeline.run(decode(str(text)))
            uris.append(video.uri)
            videos.append(encode(video))
        return {"uri": uris, "video": videos}


@dataclass(frozen=True)
class ActorSize:
    """How many actors and what each asks Ray for."""

    actors: int
    num_cpus: float
    num_gpus: float
    memory_bytes: float


def needs(spec: PipelineSpec) -> Resources:
    """What one actor running the whole chain needs: the largest need of any of its stages."""
    stages = spec.build()
    if not stages:
        return Resources()
    return Resources(
        cpus=max(s.resources.cpus for s in stages),
        gpus=max(s.resources.gpus for s in stages),
        memory_gb=max(s.resources.memory_gb for s in stages),
    )


def size_actors(need: Resources, cluster: dict[str, float], workers: int = 0) -> ActorSize:
    """Pool size and per-actor resources for a cluster with `cluster` total resources.

    `workers` > 0 fixes the pool size; otherwise as many actors as the cluster's CPUs (or
    GPUs, for GPU stages) hold. CPU and memory requests shrink so the pool always fits with a
    margin for Ray Data's tasks: an actor that cannot be placed would stall the run forever.
    """
    cpus = float(cluster.get("CPU", 1.0))
    gpus = float(cluster.get("GPU", 0.0))
    memory = float(cluster.get("memory", 0.0))
    if workers > 0:
        actors = workers
    elif need.gpus > 0:
        actors = max(1, int(gpus // need.gpus))
    else:
        actors = max(1, int(cpus // max(need.cpus, 1e-3)))
    num_cpus = min(need.cpus, cpus * (1.0 - CPU_RESERVE) / actors)
    num_gpus = min(need.gpus, gpus / actors) if need.gpus > 0 else 0.0
    memory_bytes = need.memory_gb * 1e9
    if memory:
        memory_bytes = min(memory_bytes, memory * (1.0 - CPU_RESERVE) / actors)
    return ActorSize(actors=actors, num_cpus=round(num_cpus, 4), num_gpus=num_gpus, memory_bytes=int(memory_bytes))


class RayRunner(Runner):
    """Runs pipelines on Ray: an existing cluster at `address`, or a local Ray it starts and stops.

    `address` is anything `ray.init` accepts ("auto", "127.0.0.2:6379", "ray://host:10001");
    None starts a private local Ray with `workers` CPUs (0 = one per core) and shuts it down
    when `map` ends. If this process is already connected to Ray, that connection is used.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int = 0,
        retries: int = 1,
        object_store_memory: int | None = None,
        queue: int = 2,
    ) -> None:
        self.address = address
        self.workers = workers or (0 if address else os.cpu_count() or 1)
        self.retries = retries
        self.queue = queue
        self.object_store_memory = object_store_memory

    def map(self, spec: PipelineSpec, videos: Iterable[Video]) -> Iterator[Video]:
        import ray

        inputs = list(videos)
        if not inputs:
            return
        started_here = self._connect(ray)
        try:
            yield from self._map(ray, spec, inputs)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Connect or start Ray; True when this runner started it (and so must stop it)."""
        if ray.is_initialized():
            return False
        _quiet_ray_logs()
        common: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": logging.WARNING,
            "configure_logging": False,
        }
        if self.address:
            ray.init(address=self.address, **common)
        else:
            ray.init(
                address="local",
                num_cpus=self.workers,
                num_gpus=0,
                object_store_memory=self.object_store_memory,
                **common,
            )
        return True

    def _map(self, ray: Any, spec: PipelineSpec, inputs: list[Video]) -> Iterator[Video]:
        finished: set[str] = set()
        todo = inputs
        for attempt in range(2):
            size = size_actors(needs(spec), ray.cluster_resources(), self.workers if not self.address else 0)
            log.info(
                "ray pass %d: %d videos, %d actors x %.2f CPU, %.2f GPU",
                attempt + 1,
                len(todo),
                size.actors,
                size.num_cpus,
                size.num_gpus,
            )
            # First pass: each actor holds `queue` videos so it never idles while Ray Data hands it the next.
            # Later passes hold the videos of workers that died, one per actor, so only a video that
            # kills its worker on its own is blamed.
            yield from self._pass(ray, spec, todo, size, self.queue if attempt == 0 else 1, finished)
            todo = [v for v in todo if v.uri not in finished]
            if not todo:
                return
            log.warning("ray: %d videos were on workers that died; retrying them one per worker", len(todo))
        for video in todo:
            log.warning("ray: %s never finished; its worker died on every attempt", video.uri)
            video.fail("worker", "worker process died while processing this video", type_="WorkerDied")
            yield video

    def _pass(
        self, ray: Any, spec: PipelineSpec, videos: list[Video], size: ActorSize, queue: int, finished: set[str]
    ) -> Iterator[Video]:
        from ray.data import ActorPoolStrategy, DataContext

        context = DataContext.get_current()
        options = context.execution_options
        saved = (context.max_errored_blocks, context.enable_progress_bars, options.preserve_order)
        context.max_errored_blocks = -1  # a video that keeps killing its worker is reported by `_map`, not fatal
        context.enable_progress_bars = False  # the caller shows its own progress
        options.preserve_order = False  # yield each video when it is done
        try:
            dataset = ray.data.from_items(
                [{"uri": v.uri, "video": encode(v)} for v in videos], override_num_blocks=len(videos)
            )
            with warnings.catch_warnings():
                # Ray 2.60 has no named parameter for actor restarts and task retries yet; the
                # keyword form still works and is deprecated (removal announced for 2.64).
                warnings.simplefilter("ignore", DeprecationWarning)
                results = dataset.map_batches(
                    PipelineActor,
                    fn_constructor_kwargs={"spec": spec, "log_level": logging.getLogger().getEffectiveLevel()},
                    batch_size=1,
                    batch_format="numpy",
                    compute=ActorPoolStrategy(size=min(size.actors, len(videos)), max_tasks_in_flight_per_actor=queue),
                    num_cpus=size.num_cpus,
                    num_gpus=size.num_gpus or None,
                    memory=size.memory_bytes or None,
                    max_restarts=-1,  # a dead actor is always replaced ...
                    max_task_retries=self.retries,  # ... and the videos it held retried this many times
                )
            for row in results.iter_rows():
                uri = str(row["uri"])
                if uri == SETUP_FAILED:
                    raise SetupError(str(row["video"]))
                if uri in finished:  # a retried block that had in fact completed: never yield twice
                    continue
                finished.add(uri)
                yield decode(str(row["video"]))
        finally:
            context.max_errored_blocks, context.enable_progress_bars, options.preserve_order = saved


def _quiet_ray_logs() -> None:
    """Keep Ray's routine chatter out of a run's output unless the user asked for more (-v): Ray Data's per-dataset
    INFO lines and its "progress bars disabled" warning (humannet shows its own progress), and the token-authentication
    notice of the cluster the runner starts. Errors still show; Ray Data's log file in the session folder is the
    same filter's, so its own INFO lines go too."""
    if logging.getLogger().getEffectiveLevel() < logging.WARNING:
        return
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")  # read each time Ray Data (re)configures its logger
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
