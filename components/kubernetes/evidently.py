"""Evidently in the cluster: the UI service with its workspace in the monitoring bucket, and a
scheduled monitoring job (mlops_jobs.monitor) that adds a drift snapshot per variant of the captured
requests, and of a configured dataset, and asks Airflow for retraining where a variant drifted.

Writers (the monitoring job, pipelines) go through the UI's API with a generated token, so the UI's
view of the workspace is always current; reading needs no token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import AppArgs
from components.specs import Monitoring

APP = "evidently"
PORT = 8000
SECRET_NAME = "evidently-token"


@dataclass(frozen=True)
class EvidentlyArgs(AppArgs):
    workspace: pulumi.Input[str] = ""  # s3://<monitoring bucket>/evidently
    monitoring: Optional[Monitoring] = None  # no scheduled report


def ui_command() -> list[str]:
    """The workspace comes from EVIDENTLY_WORKSPACE and the write token from EVIDENTLY_SECRET (a Secret)."""
    return ["sh", "-c", f'exec evidently ui --host 0.0.0.0 --port {PORT} --workspace "$EVIDENTLY_WORKSPACE"']


def monitor_command(monitoring: Monitoring) -> list[str]:
    return ["python", "-m", "mlops_jobs.monitor", "--project", monitoring.project, "--reference", monitoring.reference,
            "--threshold", f"{monitoring.threshold:g}", "--window-hours", str(monitoring.window_hours),
            *(["--current", monitoring.current] if monitoring.current else [])]


class Evidently(pulumi.ComponentResource):
    url: pulumi.Output[str]
    token: pulumi.Output[str]

    def __init__(self, name: str, args: EvidentlyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:Evidently", name, None, opts)
        token = workload.password(f"{name}-token", self, protect=False)
        secret = k8s.core.v1.Secret(
            f"{name}-token-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET_NAME, namespace=args.namespace, labels=workload.labels(APP, args.labels)),
            type="Opaque",
            string_data={"token": token},
            opts=pulumi.ResourceOptions(parent=self),
        )
        volumes, mounts = workload.writable_dirs("/tmp")
        health = workload.http_probe("/api/version", PORT)
        ui = k8s.core.v1.ContainerArgs(
            name=APP,
            image=args.image,
            command=ui_command(),
            env=[
                k8s.core.v1.EnvVarArgs(name="EVIDENTLY_WORKSPACE", value=args.workspace),
                workload.secret_env("EVIDENTLY_SECRET", secret.metadata.name, "token"),
                # Telemetry off: it phones home, and it keeps its state under $HOME, on the read-only root,
                # where every API call then fails with a 500.
                k8s.core.v1.EnvVarArgs(name="DO_NOT_TRACK", value="1"),
            ],
            # S3 endpoint, region and keys for the workspace (or the pod's cloud identity).
            env_from=workload.pipeline_env_from(args.pipeline_config),
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
            startup_probe=workload.startup_probe(health, seconds=180),
            readiness_probe=health,
            liveness_probe=workload.http_probe("/api/version", PORT, period=20, failures=5),
            resources=workload.resources(args.size),
            security_context=workload.container_security(),
            volume_mounts=mounts,
        )
        # One writer of the workspace: a new pod starts only after the old one has stopped.
        account = workload.service_account(self, name, APP, args.namespace, args.labels, args.service_account_annotations)
        workload.deployment(self, name, APP, args, service_account=account.metadata.name, containers=[ui], volumes=volumes, replicas=1, recreate=True)
        workload.cluster_service(self, name, APP, args, PORT)

        if args.monitoring is not None and args.monitoring.enabled:
            monitor_labels = workload.labels(APP, args.labels, "monitor")
            monitor = k8s.core.v1.ContainerArgs(
                name="monitor",
                image=args.image,
                command=monitor_command(args.monitoring),
                # MLOPS_EVIDENTLY_URL and MLOPS_EVIDENTLY_TOKEN come with the pipeline config.
                env_from=workload.pipeline_env_from(args.pipeline_config),
                resources=workload.resources(args.size),
                security_context=workload.container_security(),
                volume_mounts=mounts,
            )
            workload.cron_job(
                self, f"{name}-monitor", f"{APP}-monitor", args.namespace, monitor_labels, args.monitoring.schedule,
                workload.batch_pod(monitor_labels, service_account=account.metadata.name, containers=[monitor], volumes=volumes, restart_policy="Never"),
                depends_on=list(args.depends_on),
            )

        self.url = workload.service_url(APP, args.namespace, PORT)
        self.token = token
        self.register_outputs({"url": self.url, "token": self.token})
