"""The open-source ensemble: every service in the Kubernetes cluster of your kubeconfig."""

from __future__ import annotations

import os

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.minio import Minio, MinioArgs
from components.kubernetes.seaweedfs import Seaweedfs, SeaweedfsArgs
from components.kubernetes.namespaces import Namespaces, NamespacesArgs
from components.kubernetes.network_policies import Admission, NetworkPolicies, NetworkPoliciesArgs
from components.kubernetes.postgres import BackupTarget, Postgres, PostgresArgs
from components.kubernetes.redis import Redis
from components.kubernetes.workload import StatefulServiceArgs
from infra.config import DATABASE_CONSUMERS, DataService, Environment, ObjectStoreServer, StackConfig
from stacks import applications
from infra.contract import Buckets, Cache, Database, KubernetesTarget, ObjectStore, PlatformEndpoints

# Who reaches the data services: the applications that use them, their own setup Jobs (and the object
# store's peers), and the pipelines namespace, whose pods read the pipeline config.
DATA_ADMISSIONS = (
    Admission("postgres", (5432,), from_apps=("postgres", "mlflow", "feast", "airflow"), from_pipelines=True),
    Admission("redis", (6379,), from_apps=("redis", "feast"), from_pipelines=True),
)
# "postgres": the backup CronJob uploads its dumps.
OBJECT_STORE_CLIENTS = ("postgres", "mlflow", "feast", "evidently", "airflow")
OBJECT_STORE_ADMISSIONS = {
    ObjectStoreServer.SEAWEEDFS: (
        Admission("seaweedfs", (8333,), from_apps=("seaweedfs", *OBJECT_STORE_CLIENTS), from_pipelines=True),
        # Masters, volume servers and filers of every pod, over HTTP and gRPC.
        Admission("seaweedfs", (9333, 19333, 8080, 18080, 8888, 18888), from_apps=("seaweedfs",), role="peers"),
    ),
    ObjectStoreServer.MINIO: (
        Admission("minio", (9000,), from_apps=("minio", *OBJECT_STORE_CLIENTS), from_pipelines=True),
    ),
}

# PostgreSQL backups: a bucket of its own, outside the pipelines' policy.
BACKUP_BUCKET = "backups"

# Bucket names per role; S3 bucket names allow no capitals, hence feature-store.
BUCKETS = Buckets(lake="lake", artifacts="artifacts", feature_store="feature-store", monitoring="monitoring")


def build(cfg: StackConfig) -> PlatformEndpoints:
    provider = k8s.Provider(
        "kubernetes",
        kubeconfig=os.path.expanduser(cfg.cluster.kubeconfig) if cfg.cluster.kubeconfig else None,
        context=cfg.cluster.context,
    )
    on_cluster = pulumi.ResourceOptions(providers=[provider])
    namespaces = Namespaces(
        "namespaces",
        NamespacesArgs(
            platform=cfg.namespaces.platform,
            pipelines=cfg.namespaces.pipelines,
            labels=cfg.labels,
            create=cfg.namespaces.create,
            protect=cfg.protect,
        ),
        opts=on_cluster,
    )

    def service_args(service: DataService) -> dict:
        return dict(
            namespace=namespaces.platform,
            image=service.image,
            size=service.size,
            storage_class=service.storage_class,
            labels=cfg.labels,
            protect=cfg.protect,
            delete_volumes=cfg.ephemeral,
        )

    jobs_image = cfg.jobs_image
    object_store = object_store_server(cfg, service_args(cfg.object_store), jobs_image, on_cluster)
    backup = None
    if cfg.postgres_backup.enabled:
        access_key_key, secret_key_key = object_store.backup_keys
        backup = BackupTarget(
            schedule=cfg.postgres_backup.schedule,
            retention_days=cfg.postgres_backup.retention_days,
            image=jobs_image,
            endpoint=object_store.endpoint,
            region=object_store.region,
            bucket=BACKUP_BUCKET,
            credentials_secret=object_store.backup_secret_name,
            access_key_key=access_key_key,
            secret_key_key=secret_key_key,
        )
    postgres = Postgres(
        "postgres",
        PostgresArgs(**service_args(cfg.postgres), consumers=DATABASE_CONSUMERS, backup=backup),
        # No wait for the object store: the backup CronJob first runs hours later, and the server does not need it.
        opts=on_cluster,
    )
    redis = Redis("redis", StatefulServiceArgs(**service_args(cfg.redis)), opts=on_cluster)
    data_endpoints = PlatformEndpoints(
        environment=cfg.environment.value,
        kubernetes=KubernetesTarget(
            provider=provider, platform_namespace=namespaces.platform, pipelines_namespace=namespaces.pipelines
        ),
        object_store=ObjectStore(
            kind="s3",
            endpoint=object_store.endpoint,
            region=object_store.region,
            buckets=BUCKETS,
            auth="access-key",
            access_key_id=object_store.access_key_id,
            secret_access_key=object_store.secret_access_key,
        ),
        database=Database(host=postgres.host, port=postgres.port, sslmode="disable", logins=postgres.logins),
        cache=Cache(host=redis.host, port=redis.port, tls=False, password=redis.password),
    )
    NetworkPolicies(
        "network-policies",
        NetworkPoliciesArgs(
            platform_namespace=namespaces.platform,
            pipelines_namespace=namespaces.pipelines,
            admissions=DATA_ADMISSIONS + OBJECT_STORE_ADMISSIONS[cfg.object_store_server] + applications.admissions(cfg),
            labels=cfg.labels,
        ),
        opts=on_cluster,
    )
    # The applications wait for the data services' setup Jobs: databases, logins and buckets exist.
    return applications.build(cfg, data_endpoints, data_services={"postgres": postgres, "redis": redis, "objectStore": object_store})


def object_store_server(cfg: StackConfig, service_args: dict, jobs_image: str, opts: pulumi.ResourceOptions) -> Seaweedfs | Minio:
    """The stack's S3 server, with the platform's buckets and the backups' bucket."""
    buckets = (BUCKETS.lake, BUCKETS.artifacts, BUCKETS.feature_store, BUCKETS.monitoring)
    if cfg.object_store_server is ObjectStoreServer.MINIO:
        return Minio("minio", MinioArgs(
            **service_args, client_image=cfg.object_store_client_image, buckets=buckets, private_buckets=(BACKUP_BUCKET,),
            # Versioning needs an erasure set; production's default of four replicas has one.
            versioning=cfg.object_store.size.replicas >= 4,
        ), opts=opts)
    return Seaweedfs("seaweedfs", SeaweedfsArgs(
        **service_args, setup_image=jobs_image, buckets=buckets, private_buckets=(BACKUP_BUCKET,),
        versioning=cfg.environment is Environment.PRODUCTION,
    ), opts=opts)
