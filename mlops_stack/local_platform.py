"""`mlops-stack up local` and `down local`: a running platform on a kind cluster, with the tools a user
already has (docker, kind, kubectl, pulumi), each called as the user would call it.

`up`: checks the tools; creates the kind cluster of the stack's context from `kind/cluster.yaml` if it
is missing; builds the platform image (or takes a given tag) and loads it into the cluster; logs in to
Pulumi's local backend when no backend is set; selects or creates the stack; runs `pulumi up` with
Pulumi's own progress; then prints how to reach each UI. `down` destroys the stack, and deletes the
cluster only when asked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TextIO

from infra import config
from mlops_stack import offline

KIND_CONFIG = Path("kind") / "cluster.yaml"
KIND_CONTEXT_PREFIX = "kind-"
TOOLS = {
    "docker": "install Docker Engine or Docker Desktop: https://docs.docker.com/engine/install/",
    "kind": "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/",
    "pulumi": "install the Pulumi CLI: https://www.pulumi.com/docs/install/",
    # Pulumi.yaml's toolchain: Pulumi runs the program in .venv through uv.
    "uv": "put uv on PATH: export PATH=\"$(./scripts/uv --bin-dir):$PATH\" (the version in scripts/uv-version)",
}
# The images a stack may take from `--image`: every application and the platform's jobs run it.
IMAGE_KEYS = tuple(f"{config.NAMESPACE}:services.{service}.image" for service in ("mlflow", "feast", "evidently", "airflow"))
DOCKERFILE = Path("images") / "platform" / "Dockerfile"
NOTEBOOK_DOCKERFILE = Path("images") / "notebook" / "Dockerfile"


class LocalPlatformError(Exception):
    """A refusal or a failed step, with a message meant for the person who ran the command."""


@dataclass(frozen=True)
class Ui:
    name: str
    service: str
    port: int
    path: str = "/"
    service_port: Optional[int] = None  # the Service's port, when it is not `port` (a privileged one)


def uis(notebooks: bool = False) -> list[Ui]:
    """What a user opens, by the Services the components create."""
    from components.kubernetes import airflow, evidently, feast, jupyterhub, mlflow, seaweedfs

    hub = [Ui("Notebooks (JupyterHub)", f"{jupyterhub.APP}-proxy", jupyterhub.PROXY_PORT, "/", jupyterhub.SERVICE_PORT)]
    return (hub if notebooks else []) + [
        Ui("MLflow", mlflow.APP, mlflow.PORT),
        Ui("Airflow", f"{airflow.APP}-api-server", airflow.API_PORT),
        Ui("Evidently", evidently.APP, evidently.PORT),
        Ui("Feast feature server", feast.APP, feast.PORT, "/health"),
        Ui("Object store (S3 API)", seaweedfs.APP, seaweedfs.S3_PORT),
    ]


# run(argv, capture) -> (exit code, output); output is "" when not captured (the tool prints itself).
Runner = Callable[[list[str], bool], tuple[int, str]]


def run_tool(argv: list[str], capture: bool) -> tuple[int, str]:
    if capture:
        done = subprocess.run(argv, capture_output=True, text=True)
        return done.returncode, done.stdout + done.stderr
    return subprocess.run(argv).returncode, ""


@dataclass
class LocalPlatform:
    stack: str
    project: Path
    run: Runner = run_tool
    out: TextIO = sys.stdout
    which: Callable[[str], Optional[str]] = shutil.which
    environ: Optional[dict] = None
    interactive: Optional[bool] = None  # may Pulumi prompt for the passphrase (default: stdin is a terminal)

    def __post_init__(self) -> None:
        self.environ = dict(os.environ) if self.environ is None else self.environ
        if self.interactive is None:
            self.interactive = sys.stdin.isatty()

    # --- the steps ---------------------------------------------------------------------------------

    def check_tools(self) -> None:
        missing = [f"{tool} is not installed: {how}" for tool, how in TOOLS.items() if not self.which(tool)]
        if missing:
            raise LocalPlatformError("\n".join(missing))

    def cluster_name(self) -> str:
        cfg = offline.validated_config(self.stack, self.project)
        if cfg.backend is not config.Backend.ENSEMBLE:
            raise LocalPlatformError(f"{config.NAMESPACE}:backend is {cfg.backend.value!r}; `up` runs the ensemble on kind: allowed: ensemble")
        context = cfg.cluster.context or ""
        if not context.startswith(KIND_CONTEXT_PREFIX) or len(context) == len(KIND_CONTEXT_PREFIX):
            raise LocalPlatformError(
                f"{config.NAMESPACE}:cluster.context is {context!r}; `up` creates kind clusters only: allowed: kind-<name>")
        return context[len(KIND_CONTEXT_PREFIX):]

    def ensure_cluster(self, name: str) -> None:
        code, listed = self.run(["kind", "get", "clusters"], True)
        if code != 0:
            raise LocalPlatformError(f"kind get clusters failed (is Docker running?): {listed.strip()}")
        if name in listed.split():
            self.say(f"kind cluster {name}: exists")
            return
        self.say(f"kind cluster {name}: creating from {KIND_CONFIG}")
        self.step(["kind", "create", "cluster", "--name", name, "--config", str(self.project / KIND_CONFIG), "--wait", "180s"])

    def load_image(self, name: str, image: Optional[str]) -> str:
        """The platform image in the cluster's nodes: the given tag, or the default one built here."""
        if image:
            code, _ = self.run(["docker", "image", "inspect", image], True)
            if code != 0:
                raise LocalPlatformError(f"--image {image}: no such image in Docker; build or pull it first")
        else:
            image = config.PLATFORM_IMAGE
            self.say(f"building {image} from {DOCKERFILE}")
            self.step(["docker", "build", "-f", str(self.project / DOCKERFILE), "-t", image, str(self.project)])
        self.step(["kind", "load", "docker-image", image, "--name", name])
        return image

    def load_notebook_image(self, name: str, platform_image: str) -> None:
        """The notebook image, on the platform image in use, when the stack runs the hub."""
        if not offline.validated_config(self.stack, self.project).notebooks.in_cluster:
            return
        image = config.NOTEBOOK_IMAGE
        self.say(f"building {image} from {NOTEBOOK_DOCKERFILE}")
        self.step(["docker", "build", "-f", str(self.project / NOTEBOOK_DOCKERFILE), "--build-arg", f"PLATFORM_IMAGE={platform_image}",
                   "-t", image, str(self.project)])
        self.step(["kind", "load", "docker-image", image, "--name", name])

    def ensure_backend(self) -> None:
        if self.environ.get("PULUMI_BACKEND_URL"):
            return
        code, _ = self.run(["pulumi", "whoami"], True)
        if code != 0:
            self.say("no Pulumi backend: using the local one (pulumi login --local)")
            self.step(["pulumi", "login", "--local"])

    def check_passphrase(self) -> None:
        """Pulumi encrypts the stack's secrets with a passphrase; without a terminal it cannot ask."""
        if self.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or self.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
            return
        if not self.interactive:
            raise LocalPlatformError(
                "PULUMI_CONFIG_PASSPHRASE is not set and there is no terminal to ask for it: set it "
                "(or PULUMI_CONFIG_PASSPHRASE_FILE); it encrypts the stack's secrets")

    def select_stack(self) -> None:
        self.step(["pulumi", "stack", "select", self.stack, "--create", "--cwd", str(self.project)])

    def use_image(self, image: str) -> None:
        if image == config.PLATFORM_IMAGE:
            return
        for key in IMAGE_KEYS:
            self.step(["pulumi", "config", "set", "--path", key, image, "--stack", self.stack, "--cwd", str(self.project)])

    def pulumi(self, command: str, yes: bool) -> None:
        self.step(["pulumi", command, "--stack", self.stack, "--cwd", str(self.project), *(["--yes"] if yes else [])])

    def print_access(self) -> None:
        cfg = offline.validated_config(self.stack, self.project)
        namespace = cfg.namespaces.platform
        self.say(f"\nThe platform is up on {cfg.cluster.context}. Reach each UI with a port-forward:")
        for ui in uis(cfg.notebooks.in_cluster):
            self.say(f"  {ui.name}: kubectl --context {cfg.cluster.context} -n {namespace} port-forward svc/{ui.service} "
                     f"{ui.port}:{ui.service_port or ui.port}  ->  http://localhost:{ui.port}{ui.path}")
        self.say("Logins are in the stack's Secrets; `pulumi stack output --show-secrets` prints the pipeline config.")

    # --- the commands ------------------------------------------------------------------------------

    def up(self, image: Optional[str] = None, yes: bool = False) -> None:
        self.check_tools()
        name = self.cluster_name()
        self.check_passphrase()
        self.ensure_cluster(name)
        tag = self.load_image(name, image)
        self.load_notebook_image(name, tag)
        self.ensure_backend()
        self.select_stack()
        self.use_image(tag)
        self.pulumi("up", yes)
        self.print_access()

    def down(self, delete_cluster: bool = False, yes: bool = False) -> None:
        missing = [t for t in ("kind", "pulumi") if not self.which(t)]
        if missing:
            raise LocalPlatformError("\n".join(f"{t} is not installed: {TOOLS[t]}" for t in missing))
        name = self.cluster_name()
        cfg = offline.validated_config(self.stack, self.project)
        if cfg.protect:
            raise LocalPlatformError(
                f"{self.stack} protects its data ({config.NAMESPACE}:protect is true); `down` destroys only unprotected stacks")
        self.check_passphrase()
        self.ensure_backend()
        self.pulumi("destroy", yes)
        if delete_cluster:
            self.step(["kind", "delete", "cluster", "--name", name])
        else:
            self.say(f"kind cluster {name} kept (--delete-cluster deletes it)")

    # --- helpers -----------------------------------------------------------------------------------

    def step(self, argv: list[str]) -> None:
        code, _ = self.run(argv, False)
        if code != 0:
            raise LocalPlatformError(f"`{' '.join(argv)}` failed with exit code {code}")

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)
