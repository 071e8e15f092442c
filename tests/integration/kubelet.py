"""A stand-in for the kubelet, shared by its two modes: the pod spec read as the program recorded it.

It takes a Deployment, Job or CronJob and builds what the cluster would start: the container's
command, its environment from `env` and `envFrom` (ConfigMaps and Secrets of the same recording, so
the generated passwords are the real ones), and its volumes. containers.py runs it from its image
under the pod spec; this module's process mode runs it as a local process, only for images that
cannot be had here (PostgreSQL's own: its pg_dump step runs Debian's pg_dump). What the cluster
provides differently is translated, and nothing else:

- in-cluster DNS names and ports (`mlflow.mlops.svc.cluster.local:5000`) become loopback servers;
- a server's own port becomes a free loopback port;
- (process mode) mount paths become the pod's folders.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mlops_stack.offline import Recording, is_secret_value

KINDS = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "ConfigMap": "kubernetes:core/v1:ConfigMap",
    "Secret": "kubernetes:core/v1:Secret",
}
PORT_FLAGS = ("--port", "-p", "--api-port")  # --api-port: configurable-http-proxy's API


def plain(value: Any) -> Any:
    """Recorded inputs with secrets unwrapped: the values the cluster would hold."""
    if is_secret_value(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass
class LocalProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    ports: dict[int, int]  # container port -> loopback port
    log: Path
    process: Optional[subprocess.Popen] = None

    def with_command(self, argv: list[str], name: Optional[str] = None) -> "LocalProcess":
        """The same container (env, mounts) running another command, as `kubectl exec` would."""
        return LocalProcess(name=name or self.name, argv=argv, env=dict(self.env), cwd=self.cwd, ports=self.ports, log=self.log)

    def run(self, timeout: float = 600, extra_args: Optional[list[str]] = None) -> subprocess.CompletedProcess:
        argv = self.argv + list(extra_args or [])
        with self.log.open("a") as log:
            log.write(f"$ {shlex.join(argv)}\n")
        result = subprocess.run(argv, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=timeout)
        with self.log.open("a") as log:
            log.write(result.stdout + result.stderr)
        return result

    def start(self) -> "LocalProcess":
        log = self.log.open("a")
        log.write(f"$ {shlex.join(self.argv)}\n")
        log.flush()
        # Its own process group: servers fork workers, and stop() ends them all.
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text() if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class LocalCluster:
    recording: Recording
    workdir: Path
    # "host:port" as pods see it (in-cluster DNS) -> "127.0.0.1:port" where it runs here
    addresses: dict[str, str] = field(default_factory=dict)
    processes: list[LocalProcess] = field(default_factory=list)

    def object(self, kind: str, name: str, namespace: Optional[str] = None) -> dict[str, Any]:
        found = [
            r.inputs for r in self.recording.by_type(KINDS[kind])
            if r.inputs["metadata"]["name"] == name and namespace in (None, r.inputs["metadata"].get("namespace"))
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} {kind} objects named {name} in namespace {namespace}")
        return plain(found[0])

    def expose(self, in_cluster: str, loopback_port: int) -> None:
        self.addresses[in_cluster] = f"127.0.0.1:{loopback_port}"
        # URL-encoded too, as in the query of an Airflow connection URI (endpoint_url=http%3A%2F%2F...).
        self.addresses[in_cluster.replace(":", "%3A")] = f"127.0.0.1%3A{loopback_port}"

    def translate_env(self, env: dict[str, str], paths: dict[str, str]) -> dict[str, str]:
        """Every value translated; and where a host and its port are two variables (<X>_HOST, <X>_PORT),
        the port becomes the loopback port of the server behind that host:port (the host resolves to loopback)."""
        translated = {key: self.translate(value, paths) for key, value in env.items()}
        for key, host in env.items():
            port_key = key.removesuffix("_HOST") + "_PORT"
            if key.endswith("_HOST") and f"{host}:{env.get(port_key)}" in self.addresses:
                translated[port_key] = self.addresses[f"{host}:{env[port_key]}"].rsplit(":", 1)[1]
        return translated

    def translate(self, text: str, paths: dict[str, str]) -> str:
        """One pass over the text, so a replacement is never replaced again. Paths match whole
        segments only, the longest mount first (/etc/airflow/auth before /etc/airflow)."""
        table = {**self.addresses, **paths}
        if not table:
            return text
        keys = sorted(table, key=len, reverse=True)
        pattern = "|".join(
            re.escape(k) + (r"(?=/|$|[\s'\":;,])" if k.startswith("/") else "") for k in keys
        )
        return re.sub(pattern, lambda m: table[m.group(0)], text)

    def container(
        self, kind: str, name: str, container: Optional[str] = None, *, init: bool = False, ports: Optional[dict[int, int]] = None
    ) -> LocalProcess:
        """The process a container of the named workload would run, with its environment and volumes."""
        workload = self.object(kind, name)
        spec = workload["spec"]
        if kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        return self.pod_container(workload["metadata"]["namespace"], name, spec["template"]["spec"], container, init=init, ports=ports)

    def pod_container(
        self, namespace: str, name: str, pod: dict[str, Any], container: Optional[str] = None, *,
        init: bool = False, ports: Optional[dict[int, int]] = None,
    ) -> LocalProcess:
        """A container of a pod spec, e.g. the Airflow task pod template."""
        chosen = choose_container(pod, container, init)
        root = self.workdir / f"{name}-{chosen['name']}"
        root.mkdir(parents=True, exist_ok=True)
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        paths: dict[str, str] = {}
        for mount in chosen.get("volumeMounts", []):
            # Volumes belong to the pod: its containers share them (a dump step and its upload step).
            local = self.workdir / name / "mounts" / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            self.fill_volume(volumes[mount["name"]], namespace, local)
            paths[mount["mountPath"]] = str(local)

        env = self.environment(chosen, namespace)
        ports = {p["containerPort"]: (ports or {}).get(p["containerPort"]) or free_port() for p in chosen.get("ports", [])}
        argv = [self.translate(arg, paths) for arg in expand_all(chosen.get("command", []) + chosen.get("args", []), env)]
        argv = rebind(argv, ports)
        env = self.translate_env({key: value for key, value in env.items() if key != "PATH"}, paths)
        env.update({"PATH": os.environ["PATH"], "HOME": str(root / "home")})
        (root / "home").mkdir(exist_ok=True)
        cwd = paths.get("/tmp", str(root))
        process = LocalProcess(name=f"{name}/{chosen['name']}", argv=argv, env=env, cwd=cwd, ports=ports, log=root / "log.txt")
        self.processes.append(process)
        return process

    def environment(self, container: dict[str, Any], namespace: str) -> dict[str, str]:
        """`envFrom`, then `env` in order, with `$(VAR)` references expanded as the kubelet does."""
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self.object("ConfigMap", source["configMapRef"]["name"], namespace).get("data", {})
            else:
                data = secret_data(self.object("Secret", source["secretRef"]["name"], namespace))
            env.update({prefix + key: value for key, value in data.items()})
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = expand(variable["value"], env)
            elif "secretKeyRef" in variable["valueFrom"]:
                ref = variable["valueFrom"]["secretKeyRef"]
                env[variable["name"]] = secret_data(self.object("Secret", ref["name"], namespace))[ref["key"]]
            elif "configMapKeyRef" in variable["valueFrom"]:
                ref = variable["valueFrom"]["configMapKeyRef"]
                env[variable["name"]] = self.object("ConfigMap", ref["name"], namespace)["data"][ref["key"]]
            else:
                field_path = variable["valueFrom"]["fieldRef"]["fieldPath"]
                env[variable["name"]] = {"metadata.namespace": namespace}.get(field_path, "127.0.0.1")
        return env

    def fill_volume(self, volume: dict, namespace: str, local: Path) -> None:
        if "configMap" in volume:
            data = self.object("ConfigMap", volume["configMap"]["name"], namespace).get("data", {})
            items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        elif "secret" in volume:
            data = secret_data(self.object("Secret", volume["secret"]["secretName"], namespace))
            items = volume["secret"].get("items") or [{"key": k, "path": k} for k in data]
        else:  # emptyDir
            return
        for item in items:
            target = local / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.translate(data[item["key"]], {}))

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def choose_container(pod: dict[str, Any], container: Optional[str], init: bool) -> dict[str, Any]:
    candidates = pod.get("initContainers", []) if init else pod["containers"]
    return next(c for c in candidates if container is None or c["name"] == container)


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    """A Secret's values: `data` is base64, `stringData` plain, and `stringData` wins."""
    decoded = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return {**decoded, **(secret.get("stringData") or {})}


REFERENCE = re.compile(r"\$(\$|\(([^)]*)\))")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, others left as written, `$$` is `$`."""
    def replace(match: re.Match) -> str:
        if match.group(1) == "$":
            return "$"
        return env.get(match.group(2), match.group(0))
    return REFERENCE.sub(replace, text)


def expand_all(values: list[str], env: dict[str, str]) -> list[str]:
    return [expand(value, env) for value in values]


def rebind(argv: list[str], ports: dict[int, int]) -> list[str]:
    """A server's listening port, in its flags (`--port 5000`) or inside a `sh -c` script."""
    out = []
    for index, arg in enumerate(argv):
        if index and argv[index - 1] in PORT_FLAGS and arg.isdigit() and int(arg) in ports:
            arg = str(ports[int(arg)])
        for container_port, local_port in ports.items():
            for flag in PORT_FLAGS:
                arg = arg.replace(f"{flag} {container_port}", f"{flag} {local_port}")
            # A sibling container of the pod, reached on localhost as in the pod's network namespace.
            arg = arg.replace(f"127.0.0.1:{container_port}", f"127.0.0.1:{local_port}")
        out.append(arg)
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
