"""Feast in the cluster: the feature server, `feast apply` of the feature repository, and scheduled
materialization into the online store.

All three read the generated feature_store.yaml of the pipeline config, mounted as a file, with its
secrets (`${VAR}`) from the pipeline config's Secret: the same file every pipeline uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import AppArgs
from components.specs import GitCheckout
from mlops_jobs import pipeline_names

APP = "feast"
PORT = 6566
CONFIG_DIR = pipeline_names.CONFIG_MOUNT
FEATURE_STORE_YAML = f"{CONFIG_DIR}/{pipeline_names.FEATURE_STORE_YAML}"
SOURCE_ROOT = "/src"


@dataclass(frozen=True)
class FeastArgs(AppArgs):
    repository: GitCheckout = GitCheckout(path="")
    materialize_schedule: str = "0 * * * *"
    git_sync_image: str = ""


def repository_dir(repository: GitCheckout) -> str:
    """Where the feature repository is inside the container: the git-sync checkout, or the image."""
    if repository.git:
        return posixpath.normpath(f"{SOURCE_ROOT}/current/{repository.path}")
    return repository.path


def apply_command(repository: GitCheckout) -> list[str]:
    return ["feast", "--chdir", repository_dir(repository), "--feature-store-yaml", FEATURE_STORE_YAML, "apply"]


def serve_command() -> list[str]:
    return ["feast", "--chdir", "/tmp", "--feature-store-yaml", FEATURE_STORE_YAML, "serve",
            "--host", "0.0.0.0", "--port", str(PORT), "--no-access-log"]


# Up to now, in UTC; Feast remembers where the previous run ended.
MATERIALIZE_SCRIPT = (
    f'exec feast --chdir /tmp --feature-store-yaml {FEATURE_STORE_YAML} '
    'materialize-incremental "$(date -u +%Y-%m-%dT%H:%M:%S)"'
)


def feast_container(name: str, args: FeastArgs, command: list[str], mounts: list[k8s.core.v1.VolumeMountArgs],
                    **extra) -> k8s.core.v1.ContainerArgs:
    """A container of the Feast image with the pipeline config as environment (`extra`: ports, probes)."""
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=args.image,
        command=command,
        env=[k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1")],
        env_from=workload.pipeline_env_from(args.pipeline_config),
        resources=workload.resources(args.size),
        security_context=workload.container_security(),
        volume_mounts=mounts,
        **extra,
    )


class Feast(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: FeastArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:Feast", name, None, opts)
        config_volume = workload.pipeline_files_volume(args.pipeline_config)
        config_mount = k8s.core.v1.VolumeMountArgs(name=config_volume.name, mount_path=CONFIG_DIR, read_only=True)
        scratch, scratch_mounts = workload.writable_dirs("/tmp")

        health = workload.http_probe("/health", PORT)
        server = feast_container(
            APP, args, serve_command(), [config_mount, *scratch_mounts],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
            startup_probe=workload.startup_probe(health, seconds=180),
            readiness_probe=health,
            liveness_probe=workload.http_probe("/health", PORT, period=20, failures=5),
        )
        account = workload.service_account(self, name, APP, args.namespace, args.labels, args.service_account_annotations)
        workload.deployment(self, name, APP, args, service_account=account.metadata.name, containers=[server], volumes=[config_volume, *scratch])
        workload.cluster_service(self, name, APP, args, PORT)

        # `feast apply`: once per change of the repository or of the pipeline config.
        job_volumes = [config_volume, *scratch]
        init = []
        if args.repository.git:
            job_volumes.append(k8s.core.v1.VolumeArgs(name="source", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")))
            init.append(workload.git_sync_container(args.git_sync_image, args.repository, root=SOURCE_ROOT, one_time=True))
        source_mounts = [k8s.core.v1.VolumeMountArgs(name="source", mount_path=SOURCE_ROOT, read_only=True)] if args.repository.git else []
        apply_labels = workload.labels(APP, args.labels, "apply")
        repository_hash = hashlib.sha256(json.dumps(dataclasses.asdict(args.repository), sort_keys=True).encode()).hexdigest()
        apply = feast_container("apply", args, apply_command(args.repository), [config_mount, *scratch_mounts, *source_mounts])
        workload.run_once_job(
            self, f"{name}-apply", f"{APP}-apply", args.namespace, apply_labels,
            workload.batch_pod(
                apply_labels,
                service_account=account.metadata.name,
                containers=[apply],
                init_containers=init,
                volumes=job_volumes,
                annotations={
                    "mlops-stack/config-checksum": args.config_checksum,
                    "mlops-stack/repository-sha256": repository_hash,
                },
            ),
            depends_on=list(args.depends_on),
        )

        materialize_labels = workload.labels(APP, args.labels, "materialize")
        materialize = feast_container("materialize", args, ["sh", "-c", MATERIALIZE_SCRIPT], [config_mount, *scratch_mounts])
        workload.cron_job(
            self, f"{name}-materialize", f"{APP}-materialize", args.namespace, materialize_labels,
            args.materialize_schedule,
            workload.batch_pod(materialize_labels, service_account=account.metadata.name, containers=[materialize], volumes=[config_volume, *scratch], restart_policy="Never"),
            depends_on=list(args.depends_on),
        )

        self.url = workload.service_url(APP, args.namespace, PORT)
        self.register_outputs({"url": self.url})
