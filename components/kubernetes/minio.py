"""MinIO in the cluster: the S3 object store, with the platform's buckets and a key for pipelines.

One replica serves from one volume; four or more form an erasure-coded cluster that survives losing a
node, and only then can buckets be versioned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import StatefulServiceArgs
from mlops_jobs.object_store_setup import lifecycle

APP = "minio"
API_PORT = 9000
CONSOLE_PORT = 9001
UID = GID = 1000
SECRET_NAME = "minio-credentials"
ROOT_USER = "minio-admin"
PIPELINES_ACCESS_KEY = "mlops-pipelines"
PIPELINES_POLICY = "mlops-pipelines"
REGION = "us-east-1"


@dataclass(frozen=True)
class MinioArgs(StatefulServiceArgs):
    client_image: str = ""
    buckets: tuple[str, ...] = ()
    # Created like the others, but outside the pipelines' policy (the platform's backups).
    private_buckets: tuple[str, ...] = ()
    versioning: bool = False
    # bucket -> prefix -> days its objects are kept (lifecycle rules)
    expirations: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def lifecycle_file(bucket: str) -> str:
    return f"lifecycle-{bucket}.json"


def server_args(replicas: int, namespace: str) -> list[str]:
    if replicas == 1:
        volumes = ["/data"]
    else:
        # MinIO expands {0...N} itself: every server lists every other by its stable pod DNS name.
        volumes = [f"http://{APP}-{{0...{replicas - 1}}}.{APP}-headless.{namespace}.svc.cluster.local/data"]
    return ["server", *volumes, "--address", f":{API_PORT}", "--console-address", f":{CONSOLE_PORT}"]


def pipelines_policy(buckets: tuple[str, ...]) -> str:
    """Pipelines may read and write objects in the platform's buckets, and nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                    "Resource": [f"arn:aws:s3:::{b}" for b in buckets],
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                    "Resource": [f"arn:aws:s3:::{b}/*" for b in buckets],
                },
            ],
        },
        indent=2,
    )


def setup_script(buckets: tuple[str, ...], versioning: bool, expirations: Mapping[str, Mapping[str, int]]) -> str:
    """Idempotent: buckets, the pipelines' policy and user; mc reads the admin login from MC_HOST_mlops."""
    lines = [
        "#!/bin/sh",
        "set -eu",
        'export MC_HOST_mlops="http://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@${MINIO_SERVICE_HOST}:' + str(API_PORT) + '"',
        "tries=0",
        "until mc ready mlops >/dev/null 2>&1; do",
        "  tries=$((tries + 1))",
        '  if [ "$tries" -ge 150 ]; then echo "minio at $MINIO_SERVICE_HOST is not ready" >&2; exit 1; fi',
        "  sleep 2",
        "done",
    ]
    for bucket in buckets:
        lines.append(f"mc mb --ignore-existing mlops/{bucket}")
        if versioning:
            lines.append(f"mc version enable mlops/{bucket}")
        if expirations.get(bucket):
            # An import replaces the bucket's rules: the same on every run.
            lines.append(f"mc ilm import mlops/{bucket} < /setup/{lifecycle_file(bucket)}")
    lines += [
        f"mc admin policy create mlops {PIPELINES_POLICY} /setup/pipelines-policy.json",
        'mc admin user add mlops "$PIPELINES_ACCESS_KEY" "$PIPELINES_SECRET_KEY"',
        f'if ! out=$(mc admin policy attach mlops {PIPELINES_POLICY} --user "$PIPELINES_ACCESS_KEY" 2>&1); then',
        '  case "$out" in *already*) ;; *) echo "$out" >&2; exit 1 ;; esac',
        "fi",
    ]
    return "\n".join(lines) + "\n"


def server_container(args: MinioArgs, secret: k8s.core.v1.Secret) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=APP,
        image=args.image,
        args=pulumi.Output.from_input(args.namespace).apply(lambda ns: server_args(args.size.replicas, ns)),
        ports=[
            k8s.core.v1.ContainerPortArgs(name="api", container_port=API_PORT),
            k8s.core.v1.ContainerPortArgs(name="console", container_port=CONSOLE_PORT),
        ],
        env=[
            workload.secret_env("MINIO_ROOT_USER", secret.metadata.name, "root-user"),
            workload.secret_env("MINIO_ROOT_PASSWORD", secret.metadata.name, "root-password"),
            k8s.core.v1.EnvVarArgs(name="MINIO_REGION", value=REGION),
            # The root filesystem is read-only; MinIO keeps its certs directory under HOME.
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
        ],
        resources=workload.resources(args.size),
        security_context=workload.container_security(),
        readiness_probe=_health("/minio/health/ready", period=5, failures=3),
        liveness_probe=_health("/minio/health/live", period=10, failures=6),
        startup_probe=_health("/minio/health/live", period=5, failures=60),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )


class Minio(pulumi.ComponentResource):
    """MinIO with the platform's buckets; pipelines get their own key, limited to those buckets."""

    endpoint: pulumi.Output[str]
    region: str
    buckets: dict[str, str]
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]

    def __init__(self, name: str, args: MinioArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:kubernetes:Minio", name, None, opts)
        if args.versioning and args.size.replicas < 4:
            raise ValueError("MinIO versions buckets only with 4 or more replicas (an erasure set)")
        root_password = workload.password(f"{name}-root-password", self, args.protect)
        pipelines_secret = workload.password(f"{name}-pipelines-secret-key", self, args.protect, length=40)
        secret = workload.credentials_secret(
            self,
            f"{name}-credentials",
            SECRET_NAME,
            args,
            APP,
            {
                "root-user": ROOT_USER,
                "root-password": root_password,
                "pipelines-access-key": PIPELINES_ACCESS_KEY,
                "pipelines-secret-key": pipelines_secret,
            },
        )
        container = server_container(args, secret)
        account = workload.service_account(self, name, APP, args.namespace, args.labels)
        service, statefulset = workload.stateful_workload(
            self,
            name,
            APP,
            args,
            container=container,
            ports=[
                k8s.core.v1.ServicePortArgs(name="api", port=API_PORT, target_port="api"),
                k8s.core.v1.ServicePortArgs(name="console", port=CONSOLE_PORT, target_port="console"),
            ],
            security=workload.pod_security(UID, GID),
            service_account=account.metadata.name,
            volumes=[workload.scratch_volume("tmp")],
        )
        workload.setup_job(
            self,
            name,
            APP,
            args,
            image=args.client_image,
            scripts={
                "setup.sh": setup_script(args.buckets + args.private_buckets, args.versioning, args.expirations),
                "pipelines-policy.json": pipelines_policy(args.buckets),
                **{lifecycle_file(bucket): json.dumps(lifecycle(rules), indent=2) for bucket, rules in args.expirations.items() if rules},
            },
            command=["/bin/sh", "/setup/setup.sh"],
            env=[
                k8s.core.v1.EnvVarArgs(name="MINIO_SERVICE_HOST", value=service.metadata.name),
                k8s.core.v1.EnvVarArgs(name="MC_CONFIG_DIR", value="/tmp/.mc"),
                workload.secret_env("MINIO_ROOT_USER", secret.metadata.name, "root-user"),
                workload.secret_env("MINIO_ROOT_PASSWORD", secret.metadata.name, "root-password"),
                workload.secret_env("PIPELINES_ACCESS_KEY", secret.metadata.name, "pipelines-access-key"),
                workload.secret_env("PIPELINES_SECRET_KEY", secret.metadata.name, "pipelines-secret-key"),
            ],
            security=workload.pod_security(UID, GID),
            service_account=account.metadata.name,
            depends_on=[statefulset],
        )
        self.endpoint = pulumi.Output.concat("http://", workload.service_dns(APP, args.namespace), f":{API_PORT}")
        # The backup's login, for the platform's own jobs in this namespace: Secret name and keys. With
        # MinIO it is the admin's (SeaweedFS scopes a key of its own to the backups' bucket).
        self.backup_secret_name = secret.metadata.name
        self.backup_keys = ("root-user", "root-password")
        self.region = REGION
        self.buckets = {b: b for b in args.buckets}
        self.access_key_id = pulumi.Output.secret(PIPELINES_ACCESS_KEY)
        self.secret_access_key = pipelines_secret
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "region": self.region,
                "buckets": list(args.buckets),
                "accessKeyId": self.access_key_id,
                "secretAccessKey": self.secret_access_key,
                "backupSecretName": self.backup_secret_name,
            }
        )


def _health(path: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="api"),
        period_seconds=period,
        timeout_seconds=5,
        failure_threshold=failures,
    )
