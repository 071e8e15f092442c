"""The kubelet's container mode: a container of the rendered program run as `docker run` from its image.

It takes the pod spec exactly as recorded and gives the container what a node would:
- `command` replaces the image's ENTRYPOINT and `args` its CMD;
- the pod's and the container's security context: user, group, fsGroup as a supplementary group,
  a read-only root file system, dropped capabilities, no privilege escalation, and runAsNonRoot checked;
- volumes: emptyDir is a fresh folder of the pod (shared by its containers; tmpfs for `medium: Memory`),
  ConfigMap and Secret volumes are read-only files at their paths, with items, modes and subPaths;
- `env` and `envFrom` from the recorded ConfigMaps and Secrets, with `$(VAR)` expanded;
- `--memory` and `--cpus` from the limits; an out-of-memory kill fails the caller.

Only what host networking forces is translated: every in-cluster DNS name resolves to loopback
(`--add-host`), an in-cluster `host:port` becomes the loopback port of the server behind it (also as a
pair of variables `<X>_HOST` and `<X>_PORT`), and a server listens on a free loopback port
(`--port 5000` becomes `--port <free>`). Paths are not translated.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.integration.kubelet import LocalCluster, choose_container, expand_all, free_port, rebind

# Debian's client speaks to the daemon's built-in BuildKit and API; any client works for `run`.
DOCKER = shutil.which("docker") or "/usr/bin/docker"
# serving/churn/Dockerfile, built on the platform image by scripts/images.sh.
CHURN_IMAGE = "mlops-stack.local/churn:test"
PLATFORM_IMAGE_FILE = Path(__file__).resolve().parents[2] / "images" / "platform" / "VERSION"
# Every container the tests start carries it, so scripts/test.sh can remove what a killed run left.
LABEL = "mlops-stack.test"
QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([a-zA-Z]*)$")
UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def platform_image() -> str:
    return f"ghcr.io/mlops-stack/platform:{PLATFORM_IMAGE_FILE.read_text().strip()}"


def notebook_image() -> str:
    """images/notebook/Dockerfile on the platform image, built by scripts/images.sh; its tag follows the platform's."""
    return f"ghcr.io/mlops-stack/notebook:{PLATFORM_IMAGE_FILE.read_text().strip()}"


def docker_ready(*images: str) -> None:
    """The engine answers and the images are built (scripts/images.sh); in CI their absence fails."""
    problem = None
    if subprocess.run([DOCKER, "info"], capture_output=True).returncode != 0:
        problem = "no Docker engine answers (./scripts/test.sh starts one as root; DOCKER_HOST names it)"
    else:
        missing = [i for i in images if subprocess.run([DOCKER, "image", "inspect", i], capture_output=True).returncode]
        if missing:
            problem = f"images not built: {', '.join(missing)} (./scripts/images.sh builds them)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


def memory_bytes(quantity: str) -> int:
    number, unit = QUANTITY.match(str(quantity)).groups()
    return int(float(number) * UNITS[unit])


def cpus(quantity: str) -> str:
    text = str(quantity)
    return str(int(text[:-1]) / 1000) if text.endswith("m") else text


@dataclass
class Container:
    """One container of a pod: run, start, stop, and `wait_ready`, which checks its rendered readiness probe."""

    name: str
    image: str
    argv: list[str]  # command + args as rendered, translated for loopback
    entrypoint: Optional[str]  # None: the image's ENTRYPOINT stays
    env: dict[str, str]
    options: list[str]  # docker run flags: user, security, mounts, limits, network
    ports: dict[int, int]
    log: Path
    grace_seconds: int = 30
    container_id: str = field(default="")
    follower: Optional[subprocess.Popen] = None
    started_at: float = 0.0  # time.monotonic() as `docker run` began: creating the container counts, as for a pod
    readiness: Optional[dict] = None  # the rendered readinessProbe, its port a number
    memory_limit: Optional[str] = None  # the rendered limit (`--memory` may differ: the stand-in scheduler)

    def with_command(self, argv: list[str], name: Optional[str] = None, image: Optional[str] = None,
                     keep_entrypoint: bool = False) -> "Container":
        """The same pod (env, mounts, limits) running another command, as `kubectl exec` would;
        `keep_entrypoint` runs argv as the CMD of `image` instead (how SageMaker starts a model)."""
        return Container(name=name or self.name, image=image or self.image, argv=list(argv),
                         entrypoint=None if keep_entrypoint else argv[0], env=dict(self.env),
                         options=list(self.options), ports=dict(self.ports), log=self.log, grace_seconds=self.grace_seconds,
                         readiness=self.readiness, memory_limit=self.memory_limit)

    def _docker_run(self, detach: bool, extra_args: list[str]) -> list[str]:
        self.container_id = f"mlops-{re.sub(r'[^a-zA-Z0-9_.-]', '-', self.name)}-{uuid.uuid4().hex[:8]}"
        flags = ["--name", self.container_id, "--label", f"{LABEL}=1", *self.options, *[f"--env={key}" for key in sorted(self.env)]]
        if self.entrypoint is not None:
            flags += ["--entrypoint", self.entrypoint]
            arguments = self.argv[1:]
        else:
            arguments = self.argv
        return [DOCKER, "run", *(["--detach"] if detach else []), *flags, self.image, *arguments, *extra_args]

    def _client_env(self) -> dict[str, str]:
        # Values reach the container through the client's environment, never its command line.
        return {**{k: v for k, v in os.environ.items() if k in ("PATH", "DOCKER_HOST", "HOME")}, **self.env}

    def _write_log(self, text: str) -> None:
        with self.log.open("a") as log:
            log.write(text)

    def run(self, timeout: float = 600, extra_args: Optional[list[str]] = None) -> subprocess.CompletedProcess:
        command = self._docker_run(False, list(extra_args or []))
        self._write_log(f"$ {shlex.join(self.argv + list(extra_args or []))}  [{self.image}]\n")
        try:
            result = subprocess.run(command, env=self._client_env(), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.remove()
            raise
        self._write_log(result.stdout + result.stderr)
        self.check_not_killed()
        self.remove()
        return result

    def start(self) -> "Container":
        command = self._docker_run(True, [])
        self._write_log(f"$ {shlex.join(self.argv)}  [{self.image}]\n")
        self.started_at = time.monotonic()
        started = subprocess.run(command, env=self._client_env(), capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"{self.name}: docker run failed: {started.stderr}")
        log = self.log.open("a")
        self.follower = subprocess.Popen([DOCKER, "logs", "--follow", self.container_id], stdout=log, stderr=subprocess.STDOUT)
        return self

    def state(self) -> dict[str, Any]:
        out = subprocess.run([DOCKER, "inspect", "-f", "{{json .State}}", self.container_id], capture_output=True, text=True)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def running(self) -> bool:
        return bool(self.state().get("Running"))

    def check_not_killed(self) -> None:
        if self.state().get("OOMKilled"):
            raise AssertionError(f"{self.name} was killed at its memory limit:\n{self.tail()}")

    def wait_ready(self, timeout: float = 300) -> float:
        """Waits until the rendered readinessProbe passes, checked as the kubelet checks it (every half
        second here, not every periodSeconds); returns the seconds since `docker run` began."""
        if not self.readiness:
            raise AssertionError(f"{self.name} has no readinessProbe: Kubernetes would send it traffic before it is up")
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if not self.running():
                self.check_not_killed()
                raise RuntimeError(f"{self.name} exited with {self.state().get('ExitCode')}:\n{self.tail()}")
            passed, last = self._probe(self.readiness)
            if passed:
                return time.monotonic() - self.started_at
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: readinessProbe {self.readiness} did not pass within {timeout}s ({last}):\n{self.tail()}")

    def _probe(self, probe: dict) -> tuple[bool, Any]:
        seconds = probe.get("timeoutSeconds", 1)
        if "httpGet" in probe:
            action = probe["httpGet"]
            headers = {h["name"]: h["value"] for h in action.get("httpHeaders", [])}
            url = f"http://127.0.0.1:{self.ports.get(action['port'], action['port'])}{action.get('path', '/')}"
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=seconds) as response:
                    return 200 <= response.status < 400, response.status
            except Exception as error:  # refused, timed out or an HTTP error: not ready
                return False, error
        if "exec" in probe:
            try:
                done = subprocess.run([DOCKER, "exec", self.container_id, *probe["exec"]["command"]],
                                      capture_output=True, text=True, timeout=seconds)
            except subprocess.TimeoutExpired as error:
                return False, error
            return done.returncode == 0, (done.stdout + done.stderr)[-500:]
        if "tcpSocket" in probe:
            port = probe["tcpSocket"]["port"]
            with socket.socket() as connection:
                connection.settimeout(seconds)
                return connection.connect_ex(("127.0.0.1", self.ports.get(port, port))) == 0, port
        raise AssertionError(f"{self.name}: unsupported probe {probe}")

    def stop(self) -> Optional[tuple[float, int]]:
        """SIGTERM, as the kubelet sends it, then SIGKILL after the pod's grace period.
        Returns the seconds the container took to exit and its exit code, or None if it was not running."""
        if not self.container_id:
            return None
        stopped = None
        if self.running():
            began = time.monotonic()
            subprocess.run([DOCKER, "stop", "--time", str(self.grace_seconds), self.container_id], capture_output=True)
            stopped = (time.monotonic() - began, int(self.state().get("ExitCode", -1)))
            self.check_not_killed()
        self.remove()
        return stopped

    def remove(self) -> None:
        if self.follower is not None:
            self.follower.terminate()
            self.follower.wait(timeout=10)
            self.follower = None
        subprocess.run([DOCKER, "rm", "--force", self.container_id], capture_output=True)

    def tail(self, lines: int = 60) -> str:
        if self.container_id and self.follower is None:
            logs = subprocess.run([DOCKER, "logs", self.container_id], capture_output=True, text=True)
            self._write_log(logs.stdout + logs.stderr)
        text = self.log.read_text() if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _numbered(probe: Optional[dict], container: dict) -> Optional[dict]:
    """The probe with a named port (`port: health`) replaced by the container's port number."""
    if not probe:
        return None
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if p.get("name")}
    probe = json.loads(json.dumps(probe))
    for action in ("httpGet", "tcpSocket"):
        if action in probe:
            port = probe[action]["port"]
            probe[action]["port"] = named[port] if isinstance(port, str) and not port.isdigit() else int(port)
    return probe


# What EKS's pod identity webhook adds to a pod whose service account names an IAM role (IRSA).
IRSA_ROLE = "eks.amazonaws.com/role-arn"
IRSA_TOKEN = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ContainerCluster(LocalCluster):
    """The recorded workloads run as containers of their images (see the module's docstring)."""

    def __init__(self, recording, workdir: Path, addresses: Optional[dict[str, str]] = None):
        super().__init__(recording, workdir, dict(addresses or {}))
        # Variables every container gets, standing for what a cloud provides (AWS_ENDPOINT_URL).
        self.cloud_env: dict[str, str] = {}
        self.trusted: list[Path] = []

    def trust(self, certificate: Path) -> None:
        """Containers trust this certificate as they trust a cloud's public CAs: in the system bundle."""
        self.trusted.append(certificate)

    def pod_container(
        self, namespace: str, name: str, pod: dict[str, Any], container: Optional[str] = None, *,
        init: bool = False, ports: Optional[dict[int, int]] = None,
    ) -> Container:
        chosen = choose_container(pod, container, init)
        root = self.workdir / f"{name}-{chosen['name']}"
        root.mkdir(parents=True, exist_ok=True)
        pod_security = pod.get("securityContext") or {}
        security = {**pod_security, **(chosen.get("securityContext") or {})}
        options = ["--network", "host", *self._hosts()]
        options += self._user(security, pod_security, chosen["image"])
        if security.get("readOnlyRootFilesystem"):
            options.append("--read-only")
        capabilities = security.get("capabilities") or {}
        options += [f"--cap-drop={c}" for c in capabilities.get("drop", [])]
        options += [f"--cap-add={c}" for c in capabilities.get("add", [])]
        if security.get("allowPrivilegeEscalation") is False:
            options += ["--security-opt", "no-new-privileges"]
        limits = (chosen.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            memory = memory_bytes(limits["memory"])
            options += ["--memory", str(memory), "--memory-swap", str(memory)]
        if "cpu" in limits:
            # A limit above the node's cores never binds (Kubernetes allows it; the engine refuses it).
            options += ["--cpus", str(min(float(cpus(limits["cpu"])), os.cpu_count() or 1))]
        if chosen.get("workingDir"):
            options += ["--workdir", chosen["workingDir"]]
        options += self._mounts(pod, chosen, namespace, name, pod_security.get("fsGroup"))
        options += self._trust_mount(chosen["image"])

        env = {**self.cloud_env, **self._identity(pod, namespace, name, options), **self._api_access(pod, namespace, name, options),
               **self.environment(chosen, namespace)}
        own = {p["containerPort"] for p in chosen.get("ports", [])}
        # Given ports of the pod's other containers: where this one reaches them on localhost.
        siblings = {port: local for port, local in (ports or {}).items() if port not in own}
        ports = {p["containerPort"]: (ports or {}).get(p["containerPort"]) or free_port() for p in chosen.get("ports", [])}
        command = chosen.get("command") or []
        argv = rebind([self.translate(a, {}) for a in expand_all(command + (chosen.get("args") or []), env)], {**siblings, **ports})
        env = self.translate_env(env, {})
        # A listening port set by a variable (Airflow's scheduler health server), as `rebind` does for flags.
        env.update({key: str(ports[int(value)]) for key, value in env.items()
                    if key.endswith("_PORT") and value.isdigit() and int(value) in ports})
        result = Container(
            name=f"{name}/{chosen['name']}", image=chosen["image"], argv=argv, entrypoint=argv[0] if command else None,
            env=env, options=options, ports=ports, log=root / "log.txt",
            grace_seconds=int(pod.get("terminationGracePeriodSeconds", 30)), readiness=_numbered(chosen.get("readinessProbe"), chosen),
            memory_limit=limits.get("memory"),
        )
        self.processes.append(result)
        return result

    def _identity(self, pod: dict, namespace: str, pod_name: str, options: list[str]) -> dict[str, str]:
        """IRSA, as EKS's webhook injects it: the role, and a projected web identity token."""
        accounts = [a.inputs["metadata"] for a in self.recording.by_type("kubernetes:core/v1:ServiceAccount")
                    if a.inputs["metadata"]["name"] == pod.get("serviceAccountName")
                    and a.inputs["metadata"].get("namespace") == namespace]
        role = ((accounts[0].get("annotations") or {}) if accounts else {}).get(IRSA_ROLE)
        if not role:
            return {}
        token = self.workdir / pod_name / "irsa-token"
        token.parent.mkdir(parents=True, exist_ok=True)
        token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl")
        os.chmod(token, 0o644)
        options += ["--mount", f"type=bind,source={token},target={IRSA_TOKEN},readonly"]
        return {"AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": IRSA_TOKEN, "AWS_STS_REGIONAL_ENDPOINTS": "regional"}

    def _api_access(self, pod: dict, namespace: str, pod_name: str, options: list[str]) -> dict[str, str]:
        """A pod that mounts its service account token gets what the kubelet gives it: the token, the
        cluster's CA and namespace, and the API's address. No API server answers there: a client loads
        its in-cluster config, and a call to the API fails as it would against an unreachable one."""
        if not pod.get("automountServiceAccountToken"):
            return {}
        folder = self.workdir / pod_name / "serviceaccount"
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "ca.crt").exists():
            from tests.integration.conftest import make_certificate

            certificate, _ = make_certificate(folder)
            certificate.rename(folder / "ca.crt")
            (folder / "token").write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl")
            (folder / "namespace").write_text(namespace)
            for item in folder.iterdir():
                os.chmod(item, 0o644)
        options += ["--mount", f"type=bind,source={folder},target={SERVICE_ACCOUNT_DIR},readonly"]
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(free_port())}

    def _trust_mount(self, image: str) -> list[str]:
        if not self.trusted:
            return []
        bundle = self.workdir / "trusted" / re.sub(r"[^a-zA-Z0-9_.-]", "-", image) / "ca-certificates.crt"
        if not bundle.exists():
            bundle.parent.mkdir(parents=True, exist_ok=True)
            system = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "--entrypoint", "cat", image, SYSTEM_BUNDLE],
                                    capture_output=True, text=True, check=True).stdout
            bundle.write_text(system + "".join(path.read_text() for path in self.trusted))
            os.chmod(bundle, 0o644)
        return ["--mount", f"type=bind,source={bundle},target={SYSTEM_BUNDLE},readonly"]

    def _hosts(self) -> list[str]:
        """Every Service's DNS names, as a pod's resolver would answer them, on loopback."""
        names = set()
        for service in self.recording.by_type("kubernetes:core/v1:Service"):
            meta = service.inputs["metadata"]
            name, namespace = meta["name"], meta.get("namespace", "default")
            names |= {name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"}
        names |= {address.split(":")[0] for address in self.addresses if "%3A" not in address}
        return [f"--add-host={host}:127.0.0.1" for host in sorted(names)]

    def _user(self, security: dict, pod_security: dict, image: str) -> list[str]:
        uid, gid = security.get("runAsUser"), security.get("runAsGroup")
        if uid is None:
            configured = subprocess.run([DOCKER, "image", "inspect", "-f", "{{.Config.User}}", image],
                                        capture_output=True, text=True).stdout.strip()
            uid = int(configured.split(":")[0]) if configured.split(":")[0].isdigit() else (0 if not configured else None)
        if security.get("runAsNonRoot") and uid in (0, None):
            # The kubelet refuses to start it: "container has runAsNonRoot and image will run as root".
            raise AssertionError(f"runAsNonRoot, but {image} would run as root")
        flags = ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
        groups = [pod_security.get("fsGroup"), *(pod_security.get("supplementalGroups") or [])]
        return flags + [f"--group-add={g}" for g in groups if g is not None]

    def _mounts(self, pod: dict, container: dict, namespace: str, pod_name: str, fs_group: Optional[int]) -> list[str]:
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        flags = []
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            read_only = mount.get("readOnly", False)
            if "emptyDir" in volume and (volume["emptyDir"] or {}).get("medium") == "Memory":
                size = (volume["emptyDir"] or {}).get("sizeLimit")
                options = "rw,nosuid,nodev,mode=1777" + (f",size={memory_bytes(size)}" if size else "")
                flags += ["--tmpfs", f"{mount['mountPath']}:{options}"]
                continue
            # The pod's folder, as in process mode: a pod's containers share it (a dump step and its upload).
            local = self.workdir / pod_name / "mounts" / mount["name"]
            if "emptyDir" in volume:
                local.mkdir(parents=True, exist_ok=True)
                os.chmod(local, 0o777)  # what the kubelet makes of an emptyDir: writable by the pod's user
            else:
                if not local.exists():
                    local.mkdir(parents=True)
                    self.fill_volume(volume, namespace, local)
                    self._set_modes(volume, local, fs_group)
                read_only = True  # ConfigMap and Secret volumes are always read-only
            source = local / mount["subPath"] if mount.get("subPath") else local
            if not source.exists():
                raise AssertionError(f"{pod_name}: subPath {mount['subPath']} is not in volume {mount['name']}")
            flags += ["--mount", f"type=bind,source={source},target={mount['mountPath']}" + (",readonly" if read_only else "")]
        return flags

    @staticmethod
    def _set_modes(volume: dict, local: Path, fs_group: Optional[int]) -> None:
        """File modes as the kubelet sets them: `mode`, else `defaultMode`, else 0644; with fsGroup,
        files belong to that group and are readable by it."""
        source = volume.get("configMap") or volume.get("secret") or {}
        default = source.get("defaultMode", 0o644)
        modes = {item["path"]: item.get("mode", default) for item in source.get("items") or []}
        os.chmod(local, 0o755)
        for path in local.rglob("*"):
            relative = str(path.relative_to(local))
            if path.is_dir():
                os.chmod(path, 0o755)
                continue
            mode = modes.get(relative, default)
            if fs_group is not None:
                os.chown(path, 0, fs_group)
                mode |= 0o040
            os.chmod(path, mode)
