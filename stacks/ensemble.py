"""The open-source ensemble: every service in the Kubernetes cluster of your kubeconfig."""

from __future__ import annotations

from typing import Optional

import pulumi

from components.kubernetes.minio import Minio, MinioArgs
from components.kubernetes.seaweedfs import Seaweedfs, SeaweedfsArgs
from components.kubernetes.network_policies import Admission
from components.kubernetes.postgres import BackupTarget, Postgres, PostgresArgs
from components.kubernetes.redis import Redis
from components.kubernetes.workload import StatefulServiceArgs
from infra.config import DataService, Environment, EventQueue, ObjectStoreServer, StackConfig
from mlops_jobs.pipeline_names import BUCKET_ROLES, CAPTURE_PREFIX, bucket_name
from stacks import applications
from stacks import cluster, specs, warehouse
from infra.contract import Buckets, Cache, Database, KubernetesTarget, ObjectStore, PlatformEndpoints

# Who reaches the data services: the applications that use them, their own setup Jobs (and the object
# store's peers), and the pipelines namespace, whose pods read the pipeline config.
def data_admissions(cfg: StackConfig) -> tuple[Admission, ...]:
    # Airflow's triggerer subscribes to the lake's events where Redis carries them.
    redis_clients = ("redis", "feast", *(("airflow",) if cfg.events.queue is EventQueue.REDIS else ()))
    return (
        Admission("postgres", (5432,), from_apps=("postgres", "mlflow", "feast", "airflow"), from_pipelines=True),
        Admission("redis", (6379,), from_apps=redis_clients, from_pipelines=True),
    )
# "postgres": the backup CronJob uploads its dumps.
OBJECT_STORE_CLIENTS = ("postgres", "mlflow", "feast", "evidently", "airflow")


def object_store_admissions(cfg: StackConfig) -> tuple[Admission, ...]:
    # In-cluster model servers' capture sidecars write to the lake.
    clients = (*OBJECT_STORE_CLIENTS, *cfg.serving.capturing_in_cluster)
    if cfg.object_store_server is ObjectStoreServer.MINIO:
        return (Admission("minio", (9000,), from_apps=("minio", *clients), from_pipelines=True),)
    return (
        Admission("seaweedfs", (8333,), from_apps=("seaweedfs", *clients), from_pipelines=True),
        # Masters, volume servers and filers of every pod, over HTTP and gRPC.
        Admission("seaweedfs", (9333, 19333, 8080, 18080, 8888, 18888), from_apps=("seaweedfs",), role="peers"),
    )


# PostgreSQL backups: a bucket of its own, outside the pipelines' policy.
BACKUP_BUCKET = "backups"

# Bucket names per role: the role's own name (S3 allows no capitals or '_', hence feature-store).
BUCKETS = Buckets(**{role: bucket_name(role) for role in BUCKET_ROLES})


def build(cfg: StackConfig) -> PlatformEndpoints:
    target = cluster.base(cfg)
    namespaces = target.namespaces

    def service_args(service: DataService) -> dict:
        return dict(
            namespace=namespaces.platform, image=service.image, size=service.size, storage_class=service.storage_class,
            labels=cfg.labels, protect=cfg.protect, delete_volumes=cfg.ephemeral,
        )

    object_store = object_store_server(cfg, service_args(cfg.object_store), cfg.jobs_image, target.opts)
    postgres = Postgres(
        "postgres",
        PostgresArgs(**service_args(cfg.postgres), consumers=cfg.database_consumers, backup=backup_target(cfg, object_store),
                     warehouse_readers=warehouse.platform_database_readers(cfg)),
        # No wait for the object store: the backup CronJob first runs hours later, and the server does not need it.
        opts=target.opts,
    )
    redis = Redis("redis", StatefulServiceArgs(**service_args(cfg.redis)), opts=target.opts)
    database = Database(host=postgres.host, port=postgres.port, sslmode="disable", logins=postgres.logins)
    data_endpoints = PlatformEndpoints(
        environment=cfg.environment.value,
        kubernetes=KubernetesTarget(
            provider=target.provider, platform_namespace=namespaces.platform, pipelines_namespace=namespaces.pipelines
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
        database=database,
        cache=Cache(host=redis.host, port=redis.port, tls=False, password=redis.password),
        events=specs.lake_events(cfg.events),
        warehouse=warehouse.platform_database_warehouse(cfg, database, postgres.reader_logins),
    )
    cluster.network_policies(cfg, target, data_admissions(cfg) + object_store_admissions(cfg) + applications.admissions(cfg))
    # The applications wait for the data services' setup Jobs: databases, logins and buckets exist.
    return applications.build(cfg, data_endpoints, data_services={"postgres": postgres, "redis": redis, "objectStore": object_store})


def backup_target(cfg: StackConfig, object_store: Seaweedfs | Minio) -> Optional[BackupTarget]:
    """Where the nightly pg_dump goes: the backups bucket, with the object store's backup login."""
    if not cfg.postgres_backup.enabled:
        return None
    access_key_key, secret_key_key = object_store.backup_keys
    return BackupTarget(
        schedule=cfg.postgres_backup.schedule,
        retention_days=cfg.postgres_backup.retention_days,
        image=cfg.jobs_image,
        endpoint=object_store.endpoint,
        region=object_store.region,
        bucket=BACKUP_BUCKET,
        credentials_secret=object_store.backup_secret_name,
        access_key_key=access_key_key,
        secret_key_key=secret_key_key,
    )


def object_store_server(cfg: StackConfig, service_args: dict, jobs_image: str, opts: pulumi.ResourceOptions) -> Seaweedfs | Minio:
    """The stack's S3 server, with the platform's buckets and the backups' bucket."""
    buckets = tuple(getattr(BUCKETS, role) for role in BUCKET_ROLES)
    # Captured requests can hold personal data: kept for the configured days only.
    expirations = {BUCKETS.lake: {CAPTURE_PREFIX: cfg.serving.capture_retention_days}}
    if cfg.object_store_server is ObjectStoreServer.MINIO:
        return Minio("minio", MinioArgs(
            **service_args, client_image=cfg.object_store_client_image, buckets=buckets, private_buckets=(BACKUP_BUCKET,),
            expirations=expirations,
            # Versioning needs an erasure set; production's default of four replicas has one.
            versioning=cfg.object_store.size.replicas >= 4,
        ), opts=opts)
    return Seaweedfs("seaweedfs", SeaweedfsArgs(
        **service_args, setup_image=jobs_image, buckets=buckets, private_buckets=(BACKUP_BUCKET,),
        versioning=cfg.environment is Environment.PRODUCTION, expirations=expirations,
    ), opts=opts)
