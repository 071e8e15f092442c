"""Redis in the cluster: the Feast online store and cache, with a password and append-only persistence."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import StatefulServiceArgs

APP = "redis"
PORT = 6379
UID = 999  # the redis user of the official image
GID = 1000
SECRET_NAME = "redis-credentials"
AUTH_CONF = "/etc/redis/auth.conf"


def server_args() -> list[str]:
    """redis-server's arguments: the password comes from a config file in the Secret, never argv."""
    return [AUTH_CONF, "--port", str(PORT), "--dir", "/data", "--appendonly", "yes", "--maxmemory-policy", "noeviction"]


class Redis(pulumi.ComponentResource):
    """A single Redis server with a data volume; clients authenticate with a generated password."""

    host: pulumi.Output[str]
    port: int
    password: pulumi.Output[str]

    def __init__(self, name: str, args: StatefulServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:kubernetes:Redis", name, None, opts)
        password = workload.password(f"{name}-password", self, args.protect)
        secret = workload.credentials_secret(
            self,
            f"{name}-credentials",
            SECRET_NAME,
            args,
            APP,
            {"password": password, "auth.conf": pulumi.Output.concat("requirepass ", password, "\n")},
        )
        container = k8s.core.v1.ContainerArgs(
            name=APP,
            image=args.image,
            command=["redis-server"],
            args=server_args(),
            ports=[k8s.core.v1.ContainerPortArgs(name="redis", container_port=PORT)],
            # redis-cli reads the password from REDISCLI_AUTH, so probes keep it off the command line too.
            env=[workload.secret_env("REDISCLI_AUTH", secret.metadata.name, "password")],
            resources=workload.resources(args.size),
            security_context=workload.container_security(),
            readiness_probe=_ping(period=5, failures=3),
            liveness_probe=_ping(period=10, failures=6),
            startup_probe=_ping(period=5, failures=60),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
                k8s.core.v1.VolumeMountArgs(name="auth", mount_path="/etc/redis", read_only=True),
            ],
        )
        account = workload.service_account(self, name, APP, args.namespace, args.labels)
        workload.stateful_workload(
            self,
            name,
            APP,
            args,
            container=container,
            ports=[k8s.core.v1.ServicePortArgs(name="redis", port=PORT, target_port="redis")],
            security=workload.pod_security(UID, GID),
            service_account=account.metadata.name,
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="auth",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=secret.metadata.name,
                        items=[k8s.core.v1.KeyToPathArgs(key="auth.conf", path="auth.conf")],
                        default_mode=0o440,
                    ),
                )
            ],
        )
        self.host = workload.service_dns(APP, args.namespace)
        self.port = PORT
        self.password = password
        self.register_outputs({"host": self.host, "port": self.port, "password": self.password})


def _ping(period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=["sh", "-c", "redis-cli -p 6379 ping | grep -q PONG"]),
        period_seconds=period,
        timeout_seconds=5,
        failure_threshold=failures,
    )
