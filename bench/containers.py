"""The images and their containers: each image's size, and each workload's time from `docker run` to
ready, run from the built images under their rendered pod specs, against real PostgreSQL, Redis and an
S3 endpoint on loopback (the integration harness: tests/integration/containers.py, backing_services.py).

- A server starts alone, so it has the machine to itself, and is timed to its first passing readiness
  probe, the rendered one, polled every half second (the kubelet polls every periodSeconds, which adds
  up to one period to a pod's Ready).
- A Job is timed to its exit, which must be 0.
- Memory is the container's peak, at ready and over the whole run (serving the post-deploy check),
  against its limit. Stop is the time from SIGTERM to exit.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tests.conftest import recording_of
from tests.integration import backing_services
from tests.integration.containers import CHURN_IMAGE, DOCKER, Container, ContainerCluster, memory_bytes, platform_image

BASE_REPOSITORY = "mlops-stack.local/python"  # scripts/images.sh tags its stand-in base here
MB, MIB = 10**6, 2**20  # images in MB (as Docker prints them), memory in MiB (as Kubernetes' limits)


@dataclass
class Timing:
    stack: str
    workload: str
    kind: str  # "server" or "job"
    seconds: float  # to ready (server) or to exit (job)
    limit_mib: Optional[float]
    peak_at_ready_mib: Optional[float] = None  # servers only
    peak_mib: Optional[float] = None
    stop_seconds: Optional[float] = None  # servers only


def _docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True)


def engine_problem() -> Optional[str]:
    """Why the containers cannot be measured here, or None."""
    if _docker("info").returncode != 0:
        return "no Docker engine answers (./scripts/test.sh starts one as root; DOCKER_HOST names it)"
    missing = [i for i in (platform_image(), CHURN_IMAGE) if _docker("image", "inspect", i).returncode]
    return f"images not built: {', '.join(missing)} (./scripts/images.sh builds them)" if missing else None


def image_sizes() -> list[tuple[str, float, int]]:
    """(tag, size in MB, layers) of the stand-in base, the platform image and the example's image."""
    bases = _docker("image", "ls", BASE_REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    rows = []
    for tag in [*bases[:1], platform_image(), CHURN_IMAGE]:
        image = json.loads(_docker("image", "inspect", tag).stdout)[0]
        rows.append((tag, image["Size"] / MB, len(image["RootFS"]["Layers"])))
    return rows


def _cgroup(full_id: str) -> Optional[tuple[Path, Path, str]]:
    """The container's memory usage file, its stat file and the stat key of reclaimable file pages (v1 or v2)."""
    for folder, usage, inactive in ((Path(f"/sys/fs/cgroup/memory/docker/{full_id}"), "memory.usage_in_bytes", "total_inactive_file"),
                                    (Path(f"/sys/fs/cgroup/docker/{full_id}"), "memory.current", "inactive_file"),
                                    (Path(f"/sys/fs/cgroup/system.slice/docker-{full_id}.scope"), "memory.current", "inactive_file")):
        if (folder / usage).exists():
            return folder / usage, folder / "memory.stat", inactive
    return None


class MemorySampler:
    """Each container's peak working set (usage less inactive file pages: what Kubernetes reports and
    what nears the OOM killer; the page cache is reclaimed first), sampled every quarter second."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self._watched: dict[str, tuple[Path, Path, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, container: Container) -> None:
        full_id = _docker("inspect", "-f", "{{.Id}}", container.container_id).stdout.strip()
        found = _cgroup(full_id)
        if found:
            self._watched[container.container_id] = found
            self.sample()

    def peak_mib(self, container: Container) -> Optional[float]:
        self.sample()
        peak = self.peaks.get(container.container_id)
        return peak / MIB if peak is not None else None

    def sample(self) -> None:
        for key, (usage, stat, inactive) in list(self._watched.items()):
            with contextlib.suppress(OSError, ValueError, StopIteration):
                stats = dict(line.split() for line in stat.read_text().splitlines())
                working_set = int(usage.read_text()) - int(stats[inactive])
                self.peaks[key] = max(self.peaks.get(key, 0), working_set)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.sample()

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def limit_mib(container: Container) -> Optional[float]:
    """The rendered limit, which the stand-in scheduler's container exceeds to hold its tasks."""
    return memory_bytes(container.memory_limit) / MIB if container.memory_limit else None


class Run:
    """One stack's workloads, started one at a time in the order a first deployment reaches them."""

    def __init__(self, stack: str, cluster: ContainerCluster, memory: MemorySampler):
        self.stack, self.cluster, self.memory = stack, cluster, memory
        self.timings: list[Timing] = []
        self.servers: list[tuple[Container, Timing]] = []

    def server(self, container: Container, env: Optional[dict[str, str]] = None) -> Container:
        container.env.update(env or {})
        container.start()
        self.memory.watch(container)
        seconds = container.wait_ready(timeout=600)
        timing = Timing(self.stack, container.name, "server", seconds, limit_mib(container), self.memory.peak_mib(container))
        self.timings.append(timing)
        self.servers.append((container, timing))
        return container

    def job(self, container: Container, name: str) -> None:
        container.start()
        self.memory.watch(container)
        code = int(_docker("wait", container.container_id).stdout.strip() or -1)
        seconds = time.monotonic() - container.started_at
        peak = self.memory.peak_mib(container)
        container.check_not_killed()
        if code != 0:
            raise RuntimeError(f"{name} exited with {code}:\n{container.tail()}")
        container.remove()
        self.timings.append(Timing(self.stack, name, "job", seconds, limit_mib(container), peak_mib=peak))

    def stop_all(self) -> None:
        for container, timing in reversed(self.servers):
            timing.peak_mib = self.memory.peak_mib(container)
            stopped = container.stop()
            timing.stop_seconds = stopped[0] if stopped else None


def measure(stack: str) -> list[Timing]:
    redis = shutil.which("redis-server")
    if not redis:
        raise RuntimeError("redis-server is not installed (.ci/run installs it: apt-get install postgresql redis-server)")
    recording = recording_of(stack)
    work = Path(tempfile.mkdtemp(prefix=f"mlops-bench-{stack}-"))
    cluster = ContainerCluster(recording, work)
    try:
        with MemorySampler() as memory, backing_services.running(stack, recording, cluster, work, redis):
            run = Run(stack, cluster, memory)
            ports = backing_services.expose_applications(cluster)
            deployment = cluster.container
            run.server(deployment("Deployment", "mlflow", ports={5000: ports["mlflow"]}))
            run.server(deployment("Deployment", "evidently", ports={8000: ports["evidently"]}))
            run.job(deployment("Job", "feast-apply"), "feast-apply")
            run.server(deployment("Deployment", "feast", ports={6566: ports["feast"]}))
            run.job(deployment("Job", "airflow-migrate"), "airflow-migrate")
            run.server(deployment("Deployment", "airflow-api-server", ports={8080: ports["airflow-api-server"]}))
            # The example DAGs stay paused: under the stand-in executor their tasks would run in the
            # scheduler's container, where the cluster gives each a pod of its own.
            paused = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
            run.server(backing_services.stand_in_scheduler(cluster), paused)
            run.server(deployment("Deployment", "airflow-dag-processor"), paused)
            run.server(deployment("Deployment", "airflow-triggerer"))
            run.job(backing_services.smoke_container(cluster), "smoke")
            run.stop_all()
    finally:
        cluster.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return run.timings


def _mib(value: Optional[float]) -> str:
    return f"{value:.0f} MiB" if value is not None else ""


def report(stacks: list[str]) -> int:
    """Prints the images' sizes and the workloads' times; 1 if a workload failed, 0 if none did or the
    engine is absent (then it says why)."""
    print("\n## Images and containers\n")
    problem = engine_problem()
    if problem:
        print(f"Not measured: {problem}.")
        return 0
    print("| image | size | layers |\n|---|---|---|")
    for tag, size, layers in image_sizes():
        print(f"| `{tag}` | {size:.0f} MB | {layers} |")
    print("\nEach workload alone, from `docker run` to its first passing readiness probe (servers) or to its exit "
          "(Jobs), under its rendered pod spec; peak working set (cgroup usage less inactive file pages) at ready "
          "and over the run, which ends with the post-deploy check; stop is SIGTERM to exit.\n")
    print("| stack | workload | kind | to ready / done | peak at ready | peak | limit | stop |\n|---|---|---|---|---|---|---|---|")
    failed = 0
    for stack in stacks:
        try:
            timings = measure(stack)
        except Exception as error:  # a workload that fails is a finding: printed, and the exit code says so
            print(f"| {stack} | FAILED | | {str(error).splitlines()[0][:200]} | | | | |")
            failed = 1
            continue
        for t in timings:
            stop = f"{t.stop_seconds:.1f} s" if t.stop_seconds is not None else ""
            print(f"| {stack} | {t.workload} | {t.kind} | {t.seconds:.1f} s | {_mib(t.peak_at_ready_mib)} | {_mib(t.peak_mib)} "
                  f"| {_mib(t.limit_mib)} | {stop} |")
    return failed
