"""A throwaway multi-node Ray cluster on one machine, for tests and benchmarks.

Each node is a `ray start` on its own loopback address (127.0.X.2, 127.0.X.3, ...: Ray
rewrites 127.0.0.1 to the host's address; X comes from the process ID, so clusters started at
the same time by parallel test workers never share an address), with bounded CPUs and memory and a free port for
every service, started in its own process group. Stopping kills exactly those groups;
`ray stop` would stop every Ray process of this user on the machine, other runs' included.
`ray start --head` turns token authentication on (token in ~/.ray/auth_token); a driver must
then run with RAY_AUTH_MODE=token.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def node_options(ip: str, cpus: int, memory_bytes: int, object_store_bytes: int) -> list[str]:
    ports = ["node-manager-port", "object-manager-port", "runtime-env-agent-port", "metrics-export-port"]
    ports += ["dashboard-agent-listen-port", "dashboard-agent-grpc-port"]
    # Below Linux's ephemeral range (32768+), where `free_port` picks the service ports: no collision.
    worker_ports = 20000 + free_port(ip) % 12000
    return [
        f"--node-ip-address={ip}",
        f"--num-cpus={cpus}",
        f"--memory={memory_bytes}",
        f"--object-store-memory={object_store_bytes}",
        "--disable-usage-stats",
        f"--min-worker-port={worker_ports}",
        f"--max-worker-port={worker_ports + 99}",
        *(f"--{name}={free_port(ip)}" for name in ports),
    ]


@dataclass
class LoopbackCluster:
    address: str
    node_ips: list[str]
    groups: list[int] = field(default_factory=list)  # one process group per node, head first

    def kill_node(self, number: int) -> None:
        """The machine behind node `number` dies: its raylet, object store and workers at once."""
        os.killpg(self.groups[number], signal.SIGKILL)

    def stop(self) -> None:
        for group in reversed(self.groups):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(group, sig)
                except ProcessLookupError:
                    break
                time.sleep(0.5 if sig == signal.SIGTERM else 0)


def _start(command: list[str], env: dict[str, str], cluster: LoopbackCluster) -> None:
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    cluster.groups.append(process.pid)  # the node's daemons keep this process group
    output, _ = process.communicate(timeout=120)
    if process.returncode != 0:
        raise RuntimeError(f"ray start failed: {output.decode(errors='replace')[-4000:]}")


@contextlib.contextmanager
def loopback_cluster(
    nodes: int = 2, cpus_per_node: int = 1, memory_gb: float = 3.0, object_store_mb: int = 300
) -> Iterator[LoopbackCluster]:
    """Start `nodes` Ray nodes on 127.0.X.2, 127.0.X.3, ...; stopped when the block ends, however it ends."""
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    temp_dir = tempfile.mkdtemp(prefix="hnray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    subnet = 1 + os.getpid() % 250
    ips = [f"127.0.{subnet}.{2 + n}" for n in range(nodes)]
    port = free_port(ips[0])
    cluster = LoopbackCluster(address=f"{ips[0]}:{port}", node_ips=ips)
    sizes = (cpus_per_node, int(memory_gb * 1e9), object_store_mb * 10**6)
    try:
        head = [
            RAY,
            "start",
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--dashboard-port={free_port(ips[0])}",
            f"--temp-dir={temp_dir}",
        ]
        _start([*head, *node_options(ips[0], *sizes)], env, cluster)
        for ip in ips[1:]:
            _start([RAY, "start", f"--address={cluster.address}", *node_options(ip, *sizes)], env, cluster)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
