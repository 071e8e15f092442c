"""MLflow tracking server and model registry in the cluster.

Runs and registered models live in MLflow's own Postgres database; artifacts are proxied by the server
to the artifacts bucket (`--artifacts-destination`), so clients need only the tracking URI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import AppArgs
from components.specs import Ingress
from infra.contract import Database

APP = "mlflow"
PORT = 5000
SECRET_NAME = "mlflow-backend-store"


@dataclass(frozen=True)
class MlflowArgs(AppArgs):
    database: Optional[Database] = None  # its login under the consumer key "mlflow"
    artifacts_destination: pulumi.Input[str] = ""  # s3://<artifacts bucket>/mlflow
    workers: int = 1
    ingress: Ingress = Ingress()


def allowed_hosts(namespace: str, ingress_host: Optional[str]) -> str:
    """Host headers the server answers (MLflow rejects others, against DNS rebinding): its in-cluster
    names, localhost for `kubectl port-forward`, and the Ingress host."""
    names = [APP, f"{APP}.{namespace}", f"{APP}.{namespace}.svc", f"{APP}.{namespace}.svc.cluster.local", "localhost", "127.0.0.1"]
    if ingress_host:
        names.append(ingress_host)
    return ",".join(h for name in names for h in (name, f"{name}:*"))


def server_command(workers: int) -> list[str]:
    """The container command. The backend store URI comes from MLFLOW_BACKEND_STORE_URI (a Secret) and the
    artifact destination from MLFLOW_ARTIFACTS_DESTINATION, so neither appears in the pod spec."""
    return ["mlflow", "server", "--host", "0.0.0.0", "--port", str(PORT), "--workers", str(workers), "--serve-artifacts"]


class Mlflow(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: MlflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:Mlflow", name, None, opts)
        assert args.database is not None, "MlflowArgs.database is required"
        secret = k8s.core.v1.Secret(
            f"{name}-backend-store",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET_NAME, namespace=args.namespace, labels=workload.labels(APP, args.labels)),
            type="Opaque",
            string_data={"uri": workload.database_url(args.database, APP)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        hosts = pulumi.Output.from_input(args.namespace).apply(lambda ns: allowed_hosts(ns, args.ingress.host))
        volumes, mounts = workload.writable_dirs("/tmp")
        health = workload.http_probe("/health", PORT, host="localhost")
        server = k8s.core.v1.ContainerArgs(
            name=APP,
            image=args.image,
            command=server_command(args.workers),
            env=[
                workload.secret_env("MLFLOW_BACKEND_STORE_URI", secret.metadata.name, "uri"),
                k8s.core.v1.EnvVarArgs(name="MLFLOW_ARTIFACTS_DESTINATION", value=args.artifacts_destination),
                k8s.core.v1.EnvVarArgs(name="MLFLOW_SERVER_ALLOWED_HOSTS", value=hosts),
                # The GenAI job runner (scorers, prompt optimisation) starts seven Huey consumers of about
                # 260 MB each: 1.8 GB in all, killed at the pod's memory limit. The platform runs none of its jobs.
                k8s.core.v1.EnvVarArgs(name="MLFLOW_SERVER_ENABLE_JOB_EXECUTION", value="false"),
            ],
            # S3 endpoint, region and keys (or the pod's cloud identity) come from the pipeline config.
            env_from=workload.pipeline_env_from(args.pipeline_config),
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
            startup_probe=workload.startup_probe(health, seconds=300),
            readiness_probe=health,
            liveness_probe=workload.http_probe("/health", PORT, host="localhost", period=20, failures=5),
            resources=workload.resources(args.size),
            security_context=workload.container_security(),
            volume_mounts=mounts,
        )
        account = workload.service_account(self, name, APP, args.namespace, args.labels, args.service_account_annotations)
        deployment = workload.deployment(self, name, APP, args, service_account=account.metadata.name, containers=[server], volumes=volumes)
        service = workload.cluster_service(self, name, APP, args, PORT)
        if args.ingress.enabled:
            workload.ingress(
                self, name, APP, args, service, PORT,
                host=args.ingress.host or "", class_name=args.ingress.class_name, tls_secret=args.ingress.tls_secret,
            )
        self.url = workload.service_url(APP, args.namespace, PORT)
        self.deployment_name = deployment.metadata.name
        self.register_outputs({"url": self.url, "deploymentName": self.deployment_name})
