"""SeaweedFS in the cluster: the S3 object store, with the platform's buckets and scoped credentials.

Each pod runs `weed server`: a master, a volume server, a filer and the S3 gateway. One pod serves
from one volume. Three or more form a cluster: the masters elect a leader by raft, every object is
written to two volume servers (replication 001), and each filer keeps its own metadata store, which
SeaweedFS synchronises between filers; the S3 Service keeps a client on one pod (ClientIP affinity),
so a client reads what it has just written.

Credentials are SeaweedFS identities (the `-s3.config` file, in a Secret): an admin that creates the
buckets, the pipelines' key limited to the platform's buckets, and the backup's key limited to its
bucket. The buckets are created through the S3 API by a Job of the platform image (boto3).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import PLATFORM_GID, PLATFORM_UID, StatefulServiceArgs

APP = "seaweedfs"
S3_PORT = 8333
MASTER_PORT = 9333
VOLUME_PORT = 8080
FILER_PORT = 8888
METRICS_PORT = 9327
GRPC_OFFSET = 10000  # SeaweedFS's gRPC port of each server is its HTTP port plus this
UID = GID = 1000  # the image's `seaweed` user
SECRET_NAME = "seaweedfs-credentials"
CONFIG_KEY = "s3.json"
CONFIG_DIR = "/etc/seaweedfs-s3"  # beside the image's /etc/seaweedfs (its filer.toml), not over it
# Volume slots per server: enough for every bucket's first volumes (each collection grows several at
# once), with the volume size chosen so that the slots fill the disk.
VOLUME_SLOTS = 64
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "": 1}
REGION = "us-east-1"
ACCESS_KEYS = {"admin": "mlops-admin", "pipelines": "mlops-pipelines", "backup": "mlops-backup"}
# What a scoped key may do in its buckets: read, write and delete objects, and list them.
OBJECT_ACTIONS = ("Read", "Write", "List", "Tagging")
# Each server's HTTP ports; all but S3 also listen on gRPC (port + GRPC_OFFSET), between the pods.
SERVER_PORTS = (("s3", S3_PORT), ("master", MASTER_PORT), ("volume", VOLUME_PORT), ("filer", FILER_PORT))


@dataclass(frozen=True)
class SeaweedfsArgs(StatefulServiceArgs):
    setup_image: str = ""  # the platform image: its boto3 creates the buckets
    buckets: tuple[str, ...] = ()
    # Created like the others, each with a key of its own that reaches nothing else (the platform's backups).
    private_buckets: tuple[str, ...] = ()
    versioning: bool = False
    # bucket -> prefix -> days its objects are kept (lifecycle rules)
    expirations: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def peers(replicas: int, namespace: str) -> list[str]:
    """Every pod's master, by its stable DNS name."""
    return [f"{APP}-{i}.{APP}-headless.{namespace}.svc.cluster.local:{MASTER_PORT}" for i in range(replicas)]


def volume_size_limit_mb(storage: str) -> int:
    """Each volume's size, so that VOLUME_SLOTS of them fill a disk of `storage` (a Kubernetes quantity)."""
    number = storage.rstrip("KiMGTk")
    size = float(number) * UNITS[storage[len(number):]]
    return int(min(max(size / 2**20 / VOLUME_SLOTS, 64), 30000))


def server_args(replicas: int, namespace: str, storage: str) -> list[str]:
    args = [
        "server",
        "-dir=/data",
        f"-ip=$(POD_NAME).{APP}-headless.{namespace}.svc.cluster.local",
        "-ip.bind=0.0.0.0",
        f"-master.port={MASTER_PORT}",
        "-master.volumePreallocate=false",
        "-master.telemetry=false",
        f"-master.defaultReplication={'001' if replicas > 1 else '000'}",
        f"-master.volumeSizeLimitMB={volume_size_limit_mb(storage)}",
        f"-volume.port={VOLUME_PORT}",
        f"-volume.max={VOLUME_SLOTS}",
        "-filer",
        f"-filer.port={FILER_PORT}",
        "-s3",
        f"-s3.port={S3_PORT}",
        f"-s3.config={CONFIG_DIR}/{CONFIG_KEY}",
        # Not used by the platform: no listener that nothing reaches.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-metricsPort={METRICS_PORT}",
    ]
    if replicas > 1:
        args.append(f"-master.peers={','.join(peers(replicas, namespace))}")
    return args


def identities(keys: dict[str, str], buckets: tuple[str, ...], private_buckets: tuple[str, ...]) -> str:
    """The `-s3.config` file: `keys` maps admin, pipelines and backup to their secret keys."""
    def scoped(names: tuple[str, ...]) -> list[str]:
        return [f"{action}:{bucket}" for bucket in names for action in OBJECT_ACTIONS]

    entries = [("admin", ["Admin"]), ("pipelines", scoped(buckets)), ("backup", scoped(private_buckets))]
    return json.dumps({"identities": [
        {"name": name, "credentials": [{"accessKey": ACCESS_KEYS[name], "secretKey": keys[name]}], "actions": actions}
        for name, actions in entries
    ]}, indent=2)


def setup_config(buckets: tuple[str, ...], versioning: bool, expirations: Mapping[str, Mapping[str, int]]) -> str:
    """What the setup Job does (mlops_jobs/object_store_setup.py reads it)."""
    return json.dumps({"buckets": list(buckets), "versioning": versioning,
                       "expirations": {bucket: dict(rules) for bucket, rules in expirations.items()}}, indent=2)


def server_container(args: SeaweedfsArgs) -> k8s.core.v1.ContainerArgs:
    """`weed server`: master, volume server, filer and S3 gateway in one container."""
    filer_health = k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="filer"), period_seconds=5, timeout_seconds=5,
        failure_threshold=3)
    return k8s.core.v1.ContainerArgs(
        name=APP,
        image=args.image,
        # `weed` itself: the image's entrypoint would change owners and users as root first.
        command=["weed"],
        args=pulumi.Output.from_input(args.namespace).apply(lambda ns: server_args(args.size.replicas, ns, args.size.storage)),
        ports=[k8s.core.v1.ContainerPortArgs(name=n, container_port=p) for n, p in SERVER_PORTS]
        + [k8s.core.v1.ContainerPortArgs(name=f"{n}-grpc", container_port=p + GRPC_OFFSET) for n, p in SERVER_PORTS if n != "s3"]
        + [k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)],
        env=[k8s.core.v1.EnvVarArgs(name="POD_NAME", value_from=k8s.core.v1.EnvVarSourceArgs(
            field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")))],
        resources=workload.resources(args.size),
        security_context=workload.container_security(),
        # Ready when the filer finds its store, i.e. the master and a volume server are up.
        readiness_probe=filer_health,
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="s3"), period_seconds=10, timeout_seconds=5,
            failure_threshold=6),
        startup_probe=workload.startup_probe(filer_health, seconds=300),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # its Unix sockets
            k8s.core.v1.VolumeMountArgs(name="s3-config", mount_path=CONFIG_DIR, read_only=True),
        ],
    )


class Seaweedfs(pulumi.ComponentResource):
    """SeaweedFS with the platform's buckets; pipelines and the backup each get their own scoped key."""

    endpoint: pulumi.Output[str]
    region: str
    buckets: dict[str, str]
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]

    def __init__(self, name: str, args: SeaweedfsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:Seaweedfs", name, None, opts)
        replicas = args.size.replicas
        if replicas == 2:
            raise ValueError("SeaweedFS runs 1 server, or 3 and more (its masters elect a leader by majority)")
        keys = {role: workload.password(f"{name}-{role}-secret-key", self, args.protect, length=40) for role in ACCESS_KEYS}
        config = pulumi.Output.all(**keys).apply(lambda k: identities(k, args.buckets, args.private_buckets))
        secret = workload.credentials_secret(self, f"{name}-credentials", SECRET_NAME, args, APP, {
            CONFIG_KEY: config,
            **{f"{role}-access-key": key for role, key in ACCESS_KEYS.items()},
            **{f"{role}-secret-key": keys[role] for role in ACCESS_KEYS},
        })
        container = server_container(args)
        account = workload.service_account(self, name, APP, args.namespace, args.labels)
        service_ports = [k8s.core.v1.ServicePortArgs(name="s3", port=S3_PORT, target_port="s3")]
        peer_ports = [k8s.core.v1.ServicePortArgs(name=n, port=p, target_port=n) for n, p in SERVER_PORTS[1:]] + [
            k8s.core.v1.ServicePortArgs(name=f"{n}-grpc", port=p + GRPC_OFFSET, target_port=f"{n}-grpc") for n, p in SERVER_PORTS[1:]]
        service, statefulset = workload.stateful_workload(
            self, name, APP, args, container=container, ports=service_ports, peer_ports=peer_ports,
            security=workload.pod_security(UID, GID),
            service_account=account.metadata.name,
            volumes=[
                workload.scratch_volume("tmp"),
                k8s.core.v1.VolumeArgs(name="s3-config", secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=secret.metadata.name, items=[k8s.core.v1.KeyToPathArgs(key=CONFIG_KEY, path=CONFIG_KEY)],
                    default_mode=0o440)),
            ],
            # The server reads its identities when it starts: a changed key rolls the pods.
            # A digest reveals nothing of the keys, so it need not be kept secret.
            pod_annotations={"mlops-stack/s3-config-sha256": pulumi.Output.unsecret(
                config.apply(lambda text: hashlib.sha256(text.encode()).hexdigest()))},
            session_affinity="ClientIP" if replicas > 1 else None,
        )
        self.endpoint = pulumi.Output.concat("http://", workload.service_dns(APP, args.namespace), f":{S3_PORT}")
        workload.setup_job(
            self, name, APP, args,
            image=args.setup_image,
            scripts={"object-store.json": setup_config(args.buckets + args.private_buckets, args.versioning, args.expirations)},
            command=["python", "-m", "mlops_jobs.object_store_setup", "/setup/object-store.json"],
            env=[
                k8s.core.v1.EnvVarArgs(name="AWS_ENDPOINT_URL_S3", value=self.endpoint),
                k8s.core.v1.EnvVarArgs(name="AWS_DEFAULT_REGION", value=REGION),
                workload.secret_env("AWS_ACCESS_KEY_ID", secret.metadata.name, "admin-access-key"),
                workload.secret_env("AWS_SECRET_ACCESS_KEY", secret.metadata.name, "admin-secret-key"),
            ],
            security=workload.pod_security(PLATFORM_UID, PLATFORM_GID),
            service_account=account.metadata.name,
            depends_on=[statefulset],
        )
        # The backup's key, for the platform's own jobs in this namespace: the Secret's name and keys.
        self.backup_secret_name = secret.metadata.name
        self.backup_keys = ("backup-access-key", "backup-secret-key")
        self.region = REGION
        self.buckets = {b: b for b in args.buckets}
        self.access_key_id = pulumi.Output.secret(ACCESS_KEYS["pipelines"])
        self.secret_access_key = keys["pipelines"]
        self.register_outputs({
            "endpoint": self.endpoint,
            "region": self.region,
            "buckets": list(args.buckets),
            "accessKeyId": self.access_key_id,
            "secretAccessKey": self.secret_access_key,
            "backupSecretName": self.backup_secret_name,
        })
