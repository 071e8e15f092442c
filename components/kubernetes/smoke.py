"""The check that ends every `pulumi up`: a Job that waits for every service and then uses each one
through the pipeline config, as a pipeline pod would (`mlops_jobs/smoke.py`).

Pulumi waits for a Job to complete, so a failing check fails the deployment. The Job's name carries a
hash of the pipeline config: a changed platform gets a new run, an unchanged one keeps its result.
Finished Jobs are removed by Kubernetes after an hour (`ttlSecondsAfterFinished`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from infra.contract import Size
from mlops_jobs import pipeline_names

APP = "mlops-smoke"
# MLflow and Feast clients: more than a setup script, far less than a server.
CHECK_SIZE = Size(1, "250m", "512Mi", "1", "1Gi")
FINISHED_TTL_SECONDS = 3600


@dataclass(frozen=True)
class SmokeCheckArgs:
    namespace: pulumi.Input[str]  # the pipelines namespace: a pipeline's network access
    image: str
    config_checksum: pulumi.Input[str]
    timeout_seconds: int
    pipeline_config: str = pipeline_names.CONFIG_NAME
    # Endpoints whose variants may still wait for their models (awaitReady: false).
    skip_endpoints: tuple[str, ...] = ()
    # Endpoint -> a request body to POST to /invocations of each variant with traffic.
    requests: Mapping[str, dict] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    # A pipeline's cloud identity (IRSA, workload identity).
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    depends_on: tuple[pulumi.Resource, ...] = ()


def command(skip_endpoints: tuple[str, ...] = (), requests: Optional[Mapping[str, dict]] = None) -> list[str]:
    argv = ["python", "-m", "mlops_jobs.smoke"]
    for endpoint in skip_endpoints:
        argv += ["--skip-endpoint", endpoint]
    for endpoint, body in sorted((requests or {}).items()):
        argv += ["--request", f"{endpoint}={json.dumps(body, sort_keys=True)}"]
    return argv


class SmokeCheck(pulumi.ComponentResource):
    job_name: pulumi.Output[str]

    def __init__(self, name: str, args: SmokeCheckArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:SmokeCheck", name, None, opts)
        labels = workload.labels(APP, args.labels, "check")
        account = workload.service_account(self, name, APP, args.namespace, args.labels, args.service_account_annotations)
        volumes, mounts = workload.writable_dirs("/tmp")
        container = k8s.core.v1.ContainerArgs(
            name="check",
            image=args.image,
            command=command(args.skip_endpoints, args.requests),
            env=[k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
            env_from=workload.pipeline_env_from(args.pipeline_config),
            resources=workload.resources(CHECK_SIZE),
            security_context=workload.container_security(),
            volume_mounts=[
                *mounts,
                k8s.core.v1.VolumeMountArgs(name="pipeline-config", mount_path=pipeline_names.CONFIG_MOUNT, read_only=True),
            ],
        )
        pod = workload.batch_pod(
            labels, service_account=account.metadata.name, containers=[container],
            volumes=[*volumes, workload.pipeline_files_volume(args.pipeline_config)], restart_policy="Never",
        )
        # It checks the deployed platform: every service first. A new config is a new Job.
        job = workload.run_once_job(
            self, f"{name}-job", pulumi.Output.from_input(args.config_checksum).apply(lambda h: f"{APP}-{h[:10]}"),
            args.namespace, labels, pod,
            depends_on=list(args.depends_on),
            deadline_seconds=args.timeout_seconds,
            backoff_limit=0,  # a failed check is a result, not something to retry
            ttl_seconds=FINISHED_TTL_SECONDS,
        )
        self.job_name = job.metadata.name
        self.register_outputs({"jobName": self.job_name})
