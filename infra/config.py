"""StackConfig: the one place where the stack's `mlops:*` configuration is read and validated.

Every other module receives a validated, fully defaulted `StackConfig`; none reads Pulumi config.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

try:  # pulumi is a runtime dependency; RunError makes the CLI print the message without a traceback.
    from pulumi import RunError as _BaseError
except ImportError:  # pragma: no cover
    _BaseError = Exception

NAMESPACE = "mlops"


class ConfigError(_BaseError):
    """Invalid stack configuration. The message names each key, the value given and what is allowed."""


class Environment(str, Enum):
    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"


class Backend(str, Enum):
    ENSEMBLE = "ensemble"
    AWS = "aws"
    AZURE = "azure"


class ObjectStoreServer(str, Enum):
    """The S3 server of the ensemble. MinIO's upstream is archived (April 2026): pick it only for a
    maintained MinIO build of your own."""

    SEAWEEDFS = "seaweedfs"
    MINIO = "minio"


class ServiceMode(str, Enum):
    IN_CLUSTER = "in-cluster"
    MANAGED = "managed"


DATA_SERVICES = ("postgres", "redis", "objectStore")
APP_SERVICES = ("mlflow", "feast", "airflow", "evidently")

# Which services each backend can run as a managed cloud service (ARCHITECTURE.md, "The platform").
MANAGED_SERVICES: dict[Backend, frozenset[str]] = {
    Backend.ENSEMBLE: frozenset(),
    Backend.AWS: frozenset({"postgres", "redis", "objectStore", "mlflow", "airflow"}),
    Backend.AZURE: frozenset({"postgres", "redis", "objectStore", "mlflow"}),
}
# On a cloud, the data services default to the managed offering; the applications stay in the cluster.
MANAGED_BY_DEFAULT = frozenset(DATA_SERVICES)

# The platform image (images/platform) carries MLflow, Feast, Evidently and Airflow at one set of
# versions, so every client in a pipeline matches its server. Its tag is images/platform/VERSION.
PLATFORM_IMAGE_REPOSITORY = "ghcr.io/mlops-stack/platform"
PLATFORM_IMAGE_VERSION = "1.2.0"
PLATFORM_IMAGE = f"{PLATFORM_IMAGE_REPOSITORY}:{PLATFORM_IMAGE_VERSION}"

# MinIO's last community release: selected with services.objectStore.server: minio.
MINIO_IMAGE = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
# Production's object store survives the loss of a node: SeaweedFS's raft quorum, MinIO's erasure set.
HA_OBJECT_STORE_REPLICAS = {ObjectStoreServer.SEAWEEDFS: 3, ObjectStoreServer.MINIO: 4}

DEFAULT_IMAGES = {
    "postgres": "postgres:17.6-bookworm",
    "redis": "redis:7.4.6-alpine",
    "objectStore": "chrislusf/seaweedfs:4.44",
    "objectStoreClient": "minio/mc:RELEASE.2025-08-13T08-35-41Z",
    "mlflow": PLATFORM_IMAGE,
    "feast": PLATFORM_IMAGE,
    "evidently": PLATFORM_IMAGE,
    "airflow": PLATFORM_IMAGE,
    "gitSync": "registry.k8s.io/git-sync/git-sync:v4.4.2",
}

ENVIRONMENT_LABEL = "mlops-stack/environment"
# Set by `mlops-stack env up` on an ephemeral stack (infra/lifecycle.py).
OWNER_LABEL = "mlops-stack/owner"
EXPIRES_LABEL = "mlops-stack/expires"
DEFAULT_TTL_HOURS = 72
# On AKS every pod opts in to workload identity (the webhook ignores pods without this label); a pod
# whose service account names no identity gets none.
BACKEND_LABELS = {Backend.AZURE: {"azure.workload.identity/use": "true"}}

DEFAULT_NAMESPACES = {"platform": "mlops", "pipelines": "mlops-pipelines"}


@dataclass(frozen=True)
class Size:
    replicas: int
    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str
    storage: str = ""  # per pod; only the data services keep a volume


# Local fits a laptop, staging is small, production is sized for real load (ARCHITECTURE.md, "Environments").
DEFAULT_SIZES: dict[Environment, dict[str, Size]] = {
    Environment.LOCAL: {
        "postgres": Size(1, "100m", "256Mi", "1", "1Gi", "2Gi"),
        "redis": Size(1, "50m", "64Mi", "500m", "256Mi", "1Gi"),
        "objectStore": Size(1, "100m", "256Mi", "1", "1Gi", "5Gi"),
        "mlflow": Size(1, "100m", "512Mi", "1", "1Gi"),
        "feast": Size(1, "100m", "512Mi", "1", "1Gi"),
        "evidently": Size(1, "100m", "512Mi", "1", "1Gi"),
        "airflowApiServer": Size(1, "100m", "768Mi", "1", "1536Mi"),
        "airflowScheduler": Size(1, "100m", "512Mi", "1", "1Gi"),
        "airflowDagProcessor": Size(1, "100m", "512Mi", "1", "1Gi"),
        "airflowTriggerer": Size(1, "50m", "256Mi", "500m", "768Mi"),
        "airflowWorker": Size(1, "250m", "1Gi", "2", "2Gi"),
    },
    Environment.STAGING: {
        "postgres": Size(1, "250m", "1Gi", "2", "2Gi", "20Gi"),
        "redis": Size(1, "100m", "256Mi", "1", "1Gi", "2Gi"),
        "objectStore": Size(1, "250m", "1Gi", "2", "2Gi", "50Gi"),
        "mlflow": Size(1, "250m", "1Gi", "2", "2Gi"),
        "feast": Size(1, "250m", "1Gi", "2", "2Gi"),
        "evidently": Size(1, "100m", "512Mi", "1", "1Gi"),
        "airflowApiServer": Size(1, "250m", "1Gi", "2", "2Gi"),
        "airflowScheduler": Size(1, "250m", "1Gi", "2", "2Gi"),
        "airflowDagProcessor": Size(1, "250m", "1Gi", "2", "2Gi"),
        "airflowTriggerer": Size(1, "100m", "512Mi", "1", "1Gi"),
        "airflowWorker": Size(1, "500m", "2Gi", "2", "4Gi"),
    },
    Environment.PRODUCTION: {
        "postgres": Size(1, "1", "4Gi", "4", "8Gi", "100Gi"),
        "redis": Size(1, "500m", "2Gi", "2", "4Gi", "8Gi"),
        # Replicas: HA_OBJECT_STORE_REPLICAS of the chosen server.
        "objectStore": Size(3, "1", "4Gi", "4", "8Gi", "250Gi"),
        # Two replicas of every stateless server: a rolling update or a lost node keeps it up.
        "mlflow": Size(2, "500m", "2Gi", "2", "4Gi"),
        "feast": Size(2, "500m", "1Gi", "2", "2Gi"),
        "evidently": Size(1, "250m", "1Gi", "1", "2Gi"),
        "airflowApiServer": Size(2, "500m", "2Gi", "2", "4Gi"),
        "airflowScheduler": Size(2, "500m", "2Gi", "2", "4Gi"),
        "airflowDagProcessor": Size(1, "500m", "2Gi", "2", "4Gi"),
        "airflowTriggerer": Size(2, "250m", "1Gi", "1", "2Gi"),
        "airflowWorker": Size(1, "1", "4Gi", "4", "8Gi"),
    },
}

# MLflow server worker processes (gunicorn/uvicorn) per pod.
DEFAULT_MLFLOW_WORKERS = {Environment.LOCAL: 1, Environment.STAGING: 2, Environment.PRODUCTION: 4}
# Task pods Airflow runs at once (core.parallelism).
DEFAULT_AIRFLOW_PARALLELISM = {Environment.LOCAL: 4, Environment.STAGING: 16, Environment.PRODUCTION: 64}

# Each consumer gets its own database and login on the metadata database.
DATABASE_CONSUMERS = ("mlflow", "airflow", "feast")
BUCKET_ROLES = ("lake", "artifacts", "featureStore", "monitoring")

# The one rule for an ephemeral stack's name: staging-pr-<N>, N a pull request number (no 0, no
# leading zero). infra/lifecycle.py takes it from here; the policy pack, which runs without this
# package, has the same pattern (tests/unit/test_ephemeral_rule.py checks that they agree).
EPHEMERAL_STACK = re.compile(r"^(?P<env>staging)-pr-(?P<pr>[1-9]\d*)$")
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_HOSTNAME = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_PATTERN_NAMES = {
    _HOSTNAME: "a DNS host name, e.g. mlflow.example.com",
    _QUANTITY: "a Kubernetes quantity, e.g. 500m, 512Mi, 20Gi",
    _DNS_LABEL: "a DNS label: lowercase letters, digits and '-', at most 63 characters",
}
_CRON = r"^(@(hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$"
_GIT_URL = r"^(https://|ssh://|git@|file://)\S+$"
_PATTERN_NAMES[_CRON] = "a cron schedule of five fields, e.g. '0 * * * *', or @hourly/@daily/@weekly/@monthly/@yearly"
_PATTERN_NAMES[_GIT_URL] = "a git URL: https://…, ssh://…, git@host:path or file://…"
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, use_enum_values=False
    )


class ResourcesConfig(_Model):
    """Kubernetes requests and limits for a service's main container."""

    cpu: Optional[str] = Field(None, pattern=_QUANTITY, description="CPU request, e.g. 250m")
    memory: Optional[str] = Field(None, pattern=_QUANTITY, description="Memory request, e.g. 512Mi")
    cpu_limit: Optional[str] = Field(None, pattern=_QUANTITY, description="CPU limit, e.g. 2")
    memory_limit: Optional[str] = Field(None, pattern=_QUANTITY, description="Memory limit, e.g. 2Gi")


def _check_image(value: Optional[str]) -> Optional[str]:
    if value is None:
        return value
    if "@sha256:" in value:
        return value
    last = value.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ValueError("an image must be pinned by tag or digest, e.g. postgres:17.6")
    if last.rsplit(":", 1)[1] == "latest":
        raise ValueError("an image must be pinned; ':latest' is not allowed")
    return value


PinnedImage = Annotated[Optional[str], AfterValidator(_check_image)]


class DataServiceConfig(_Model):
    """PostgreSQL, Redis or the object store: managed by the cloud, or a StatefulSet in the cluster."""

    mode: Optional[ServiceMode] = Field(None, description="in-cluster or managed; the default follows the backend")
    image: PinnedImage = Field(None, description="Container image, pinned by tag or digest (in-cluster mode)")
    replicas: Optional[int] = Field(None, ge=1, description="Pods in the StatefulSet (in-cluster mode)")
    resources: Optional[ResourcesConfig] = None
    storage: Optional[str] = Field(None, pattern=_QUANTITY, description="Volume size per pod, e.g. 20Gi")
    storage_class: Optional[str] = Field(None, description="StorageClass of the volumes; cluster default if unset")



class BackupConfig(_Model):
    """Scheduled `pg_dump` of every consumer database to the object store (in-cluster PostgreSQL)."""

    enabled: bool = Field(True, description="Run the backup CronJob")
    schedule: str = Field("30 2 * * *", pattern=_CRON, description="Cron schedule of the backup (UTC)")
    retention_days: int = Field(7, ge=1, le=3650, description="Days a backup is kept before the job deletes it")


class PostgresConfig(DataServiceConfig):
    backup: BackupConfig = BackupConfig()


class ObjectStoreConfig(DataServiceConfig):
    server: ObjectStoreServer = Field(ObjectStoreServer.SEAWEEDFS, description="S3 server in the cluster: seaweedfs, or minio (archived upstream)")
    client_image: PinnedImage = Field(None, description="MinIO client image that creates buckets and users (server minio)")



class IngressConfig(_Model):
    """An Ingress in front of a UI; off by default (reach it with `kubectl port-forward`)."""

    enabled: bool = Field(False, description="Create an Ingress")
    host: Optional[str] = Field(None, pattern=_HOSTNAME, description="Host name the Ingress serves, e.g. mlflow.example.com")
    class_name: Optional[str] = Field(None, description="IngressClass; the cluster default if unset")
    tls_secret: Optional[str] = Field(None, pattern=_DNS_LABEL, description="Secret with the TLS certificate for host")


class AppServiceConfig(_Model):
    """An application in the cluster (MLflow, Feast, Evidently), or its managed equivalent."""

    mode: Optional[ServiceMode] = Field(None, description="in-cluster or managed; the default is in-cluster")
    image: PinnedImage = Field(None, description="Container image, pinned by tag or digest; default the platform image")
    replicas: Optional[int] = Field(None, ge=1, description="Pods of the server")
    resources: Optional[ResourcesConfig] = None


class MlflowConfig(AppServiceConfig):
    workers: Optional[int] = Field(None, ge=1, le=64, description="Server worker processes per pod; default 1/2/4 by environment")
    ingress: IngressConfig = IngressConfig()


class OfflineStore(str, Enum):
    # Parquet files on the lake bucket, read with pyarrow and s3fs. (Feast's duckdb store is left out:
    # DuckDB downloads its httpfs extension at run time, which locked-down clusters refuse.)
    FILE = "file"
    POSTGRES = "postgres"  # tables in the feast database


class GitSource(_Model):
    """A directory of a git repository, checked out by git-sync. Without `git`, the path is in the image."""

    git: Optional[str] = Field(None, pattern=_GIT_URL, description="Repository URL; unset: use the path inside the image")
    ref: str = Field("main", description="Branch, tag or commit to check out")
    path: Optional[str] = Field(None, description="Directory inside the checkout (relative), or inside the image (absolute)")
    credentials_secret: Optional[str] = Field(
        None, pattern=_DNS_LABEL, description="Secret with GITSYNC_USERNAME/GITSYNC_PASSWORD for a private repository"
    )


class FeastConfig(AppServiceConfig):
    offline_store: OfflineStore = Field(OfflineStore.FILE, description="file (Parquet on the lake) or postgres (tables in the feast database)")
    materialize_schedule: str = Field("0 * * * *", pattern=_CRON, description="Cron schedule of feast materialize-incremental")
    repository: GitSource = Field(GitSource(), description="The feature repository that `feast apply` registers")


class MonitoringConfig(_Model):
    """The scheduled Evidently job: a drift report of `current` against `reference`, saved to the workspace."""

    enabled: bool = True
    schedule: str = Field("0 6 * * *", pattern=_CRON, description="Cron schedule of the monitoring job")
    project: str = Field("mlops", min_length=1, description="Evidently project the snapshots go to")
    reference: str = Field(
        "example/churn/reference.parquet", min_length=1, description="Parquet key in the lake bucket: the reference data"
    )
    current: str = Field(
        "example/churn/current.parquet", min_length=1, description="Parquet key in the lake bucket: the data to check"
    )


class EvidentlyConfig(AppServiceConfig):
    monitoring: MonitoringConfig = MonitoringConfig()


class AirflowConfig(_Model):
    """Airflow 3 in the cluster (KubernetesExecutor), or managed (MWAA, AWS only)."""

    mode: Optional[ServiceMode] = Field(None, description="in-cluster or managed; the default is in-cluster")
    image: PinnedImage = Field(None, description="Image of every Airflow component and task pod; default the platform image")
    dags: GitSource = Field(GitSource(), description="Where the DAGs come from: a git repository (git-sync) or the image")
    parallelism: Optional[int] = Field(None, ge=1, le=1024, description="Task pods at once; default 4/16/64 by environment")
    ingress: IngressConfig = IngressConfig()


class ServicesConfig(_Model):
    postgres: PostgresConfig = PostgresConfig()
    redis: DataServiceConfig = DataServiceConfig()
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    mlflow: MlflowConfig = MlflowConfig()
    feast: FeastConfig = FeastConfig()
    airflow: AirflowConfig = AirflowConfig()
    evidently: EvidentlyConfig = EvidentlyConfig()


class ClusterConfig(_Model):
    """Where the workloads run. Ensemble: an existing cluster. Clouds: a new cluster, or an existing one."""

    kubeconfig: Optional[str] = Field(None, description="Path to a kubeconfig file; default $KUBECONFIG or ~/.kube/config")
    context: Optional[str] = Field(None, description="kubeconfig context; default the current context")
    create: Optional[bool] = Field(None, description="Clouds only: create the cluster (default) or use an existing one")
    name: Optional[str] = Field(None, description="Clouds only: the name of the existing cluster when create is false")


class NamespacesConfig(_Model):
    platform: str = Field(DEFAULT_NAMESPACES["platform"], pattern=_DNS_LABEL, description="Namespace of the services")
    pipelines: str = Field(
        DEFAULT_NAMESPACES["pipelines"], pattern=_DNS_LABEL, description="Namespace where pipelines run and read their config"
    )
    create: bool = Field(True, description="Create the namespaces (false: they exist already)")


_AWS_REGION = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$"
_PATTERN_NAMES[_AWS_REGION] = "an AWS region, e.g. eu-west-1"
_VPC_ID = r"^vpc-[0-9a-f]{8,17}$"
_PATTERN_NAMES[_VPC_ID] = "a VPC ID, e.g. vpc-0a1b2c3d4e5f60718"
_SUBNET_ID = r"^subnet-[0-9a-f]{8,17}$"
_PATTERN_NAMES[_SUBNET_ID] = "a subnet ID, e.g. subnet-0a1b2c3d4e5f60718"
_CIDR = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$"
_PATTERN_NAMES[_CIDR] = "an IPv4 CIDR block, e.g. 10.40.0.0/16"
_INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
_PATTERN_NAMES[_INSTANCE_TYPE] = "an instance type, e.g. m7i.large"
_DB_CLASS = r"^db\.[a-z0-9]+\.[a-z0-9]+$"
_PATTERN_NAMES[_DB_CLASS] = "an RDS instance class, e.g. db.m7g.large"
_CACHE_NODE = r"^cache\.[a-z0-9]+\.[a-z0-9]+$"
_PATTERN_NAMES[_CACHE_NODE] = "an ElastiCache node type, e.g. cache.m7g.large"
_OWNER = r"^[A-Za-z0-9]([-A-Za-z0-9_.@]{0,61}[A-Za-z0-9])?$"
_PATTERN_NAMES[_OWNER] = "a team or person: letters, digits, '-', '_', '.', '@', at most 63 characters"


class AwsNetworkConfig(_Model):
    """A new VPC (default), or an existing one given by its IDs."""

    vpc_id: Optional[str] = Field(None, pattern=_VPC_ID, description="An existing VPC; unset: create one")
    private_subnet_ids: list[Annotated[str, Field(pattern=_SUBNET_ID)]] = Field(
        default_factory=list, description="Private subnets of the existing VPC (at least 2 AZs), with a route to a NAT"
    )
    cidr: str = Field("10.40.0.0/16", pattern=_CIDR, description="CIDR of a new VPC; split into public and private subnets")
    availability_zones: Optional[int] = Field(None, ge=2, le=6, description="AZs of a new VPC; default 2, 3 in production")


class AwsEksConfig(_Model):
    version: str = Field("1.33", pattern=r"^1\.[0-9]{2}$", description="Kubernetes version of a new EKS cluster")
    instance_types: Optional[list[Annotated[str, Field(pattern=_INSTANCE_TYPE)]]] = Field(
        None, min_length=1, description="Node instance types; default by environment"
    )
    min_nodes: Optional[int] = Field(None, ge=1, le=450, description="Smallest node count; default by environment")
    desired_nodes: Optional[int] = Field(None, ge=1, le=450, description="Node count at creation; default by environment")
    max_nodes: Optional[int] = Field(None, ge=1, le=450, description="Largest node count; default by environment")
    public_endpoint: Optional[bool] = Field(
        None, description="Kubernetes API reachable from the internet; default true, false in production"
    )
    public_access_cidrs: list[Annotated[str, Field(pattern=_CIDR)]] = Field(
        default_factory=list, description="Who may reach a public API endpoint; default everywhere (0.0.0.0/0)"
    )


class AwsRdsConfig(_Model):
    instance_class: Optional[str] = Field(None, pattern=_DB_CLASS, description="Default db.t4g.medium, db.m7g.large in production")
    allocated_storage: Optional[int] = Field(None, ge=20, le=65536, description="GiB at creation; default 20, 100 in production")
    max_allocated_storage: Optional[int] = Field(None, ge=20, le=65536, description="Storage autoscaling limit in GiB")
    engine_version: str = Field("17", pattern=r"^[0-9]{2}(\.[0-9]+)?$", description="PostgreSQL major (or major.minor) version")
    backup_retention_days: Optional[int] = Field(None, ge=0, le=35, description="Automated backups kept; default 1, 14 in production")


class CacheEngine(str, Enum):
    VALKEY = "valkey"
    REDIS = "redis"


class AwsElastiCacheConfig(_Model):
    node_type: Optional[str] = Field(None, pattern=_CACHE_NODE, description="Default cache.t4g.small, cache.m7g.large in production")
    engine: CacheEngine = Field(CacheEngine.VALKEY, description="valkey or redis (Redis OSS); both speak the Redis protocol")
    engine_version: Optional[str] = Field(None, pattern=r"^[0-9]+\.[0-9]+$", description="Default 8.0 for valkey, 7.1 for redis")


class AwsMwaaConfig(_Model):
    """Amazon MWAA, used when services.airflow.mode is managed."""

    airflow_version: str = Field("3.0.6", pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", description="An Airflow version MWAA offers")
    environment_class: Optional[str] = Field(None, pattern=r"^mw1\.(micro|small|medium|large|xlarge|2xlarge)$", description="Default mw1.small, mw1.medium in production")
    max_workers: Optional[int] = Field(None, ge=1, le=25, description="Default 2, 10 in production")


class AwsSageMakerMlflowConfig(_Model):
    """A SageMaker managed MLflow tracking server, used when services.mlflow.mode is managed."""

    tracking_server_size: Optional[str] = Field(None, pattern=r"^(Small|Medium|Large)$", description="Small, Medium or Large; default Small, Medium in production")
    mlflow_version: str = Field("3.0", pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$", description="An MLflow version SageMaker offers")


class AwsConfig(_Model):
    """Where and how big the AWS resources are (backend aws, or any service managed on AWS)."""

    region: str = Field("us-east-1", pattern=_AWS_REGION, description="AWS region of every resource")
    network: AwsNetworkConfig = AwsNetworkConfig()
    eks: AwsEksConfig = AwsEksConfig()
    rds: AwsRdsConfig = AwsRdsConfig()
    elasticache: AwsElastiCacheConfig = AwsElastiCacheConfig()
    mwaa: AwsMwaaConfig = AwsMwaaConfig()
    sagemaker_mlflow: AwsSageMakerMlflowConfig = AwsSageMakerMlflowConfig()


_AZURE_LOCATION = r"^[a-z]+[a-z0-9]*$"
_PATTERN_NAMES[_AZURE_LOCATION] = "an Azure region name, e.g. westeurope"
_UUID = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
_PATTERN_NAMES[_UUID] = "a subscription ID (a GUID)"
_RESOURCE_GROUP = r"^[-\w._()]{0,89}[-\w_()]$"
_PATTERN_NAMES[_RESOURCE_GROUP] = "a resource group name: letters, digits, '-', '_', '.', '(', ')', at most 90, not ending in '.'"
_AZURE_SUBNET_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$"
_PATTERN_NAMES[_AZURE_SUBNET_ID] = "a subnet resource ID: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>"
_AZURE_VNET_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+$"
_PATTERN_NAMES[_AZURE_VNET_ID] = "a virtual network resource ID: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>"
_VM_SIZE = r"^Standard_[A-Za-z0-9_]+$"
_PATTERN_NAMES[_VM_SIZE] = "an Azure VM size, e.g. Standard_D4s_v5"
_ACR_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[A-Za-z0-9]{5,50}$"
_PATTERN_NAMES[_ACR_ID] = "a container registry resource ID: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>"
_PG_SKU = r"^Standard_[BDE][A-Za-z0-9_]+$"
_PATTERN_NAMES[_PG_SKU] = "a Flexible Server compute size: Standard_B* (Burstable), Standard_D* (General Purpose) or Standard_E* (Memory Optimized)"


class AzureNetworkConfig(_Model):
    """A new virtual network (default), or subnets of an existing one given by their resource IDs."""

    cidr: str = Field("10.50.0.0/16", pattern=_CIDR, description="Address space of a new VNet; split into the cluster, PostgreSQL and private endpoint subnets")
    vnet_id: Optional[str] = Field(None, pattern=_AZURE_VNET_ID, description="An existing VNet (the private DNS zones are linked to it); unset: create one")
    cluster_subnet_id: Optional[str] = Field(None, pattern=_AZURE_SUBNET_ID, description="Existing VNet: the subnet of the AKS nodes")
    postgres_subnet_id: Optional[str] = Field(
        None, pattern=_AZURE_SUBNET_ID, description="Existing VNet: an empty subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers"
    )
    endpoints_subnet_id: Optional[str] = Field(None, pattern=_AZURE_SUBNET_ID, description="Existing VNet: the subnet of the private endpoints")


class AzureAksConfig(_Model):
    version: str = Field("1.33", pattern=r"^1\.[0-9]{2}$", description="Kubernetes version of a new AKS cluster")
    resource_group: Optional[str] = Field(
        None, pattern=_RESOURCE_GROUP, description="Resource group of an existing cluster (cluster.create: false); default azure.resourceGroup"
    )
    system_vm_size: Optional[str] = Field(None, pattern=_VM_SIZE, description="VM size of the system node pool; default Standard_D2s_v5, Standard_D4s_v5 in production")
    system_nodes: Optional[int] = Field(None, ge=1, le=100, description="Nodes of the system pool; default 1, 3 in production")
    vm_size: Optional[str] = Field(None, pattern=_VM_SIZE, description="VM size of the user node pool (the workloads); default Standard_D4s_v5, Standard_D8s_v5 in production")
    min_nodes: Optional[int] = Field(None, ge=1, le=1000, description="Fewest nodes of the user pool; default 1, 2 in staging, 3 in production")
    max_nodes: Optional[int] = Field(None, ge=1, le=1000, description="Most nodes of the user pool; default 3, 4 in staging, 9 in production")
    public_endpoint: Optional[bool] = Field(None, description="Kubernetes API reachable from the internet; default true, false (a private cluster) in production")
    authorized_ip_ranges: list[Annotated[str, Field(pattern=_CIDR)]] = Field(
        default_factory=list, description="Who may reach a public API endpoint; default everywhere"
    )


class AzurePostgresConfig(_Model):
    sku: Optional[str] = Field(None, pattern=_PG_SKU, description="Compute size; default Standard_B1ms, Standard_B2s in staging, Standard_D4ds_v5 in production")
    storage_gb: Optional[int] = Field(None, ge=32, le=32768, description="Storage in GiB; default 32, 128 in production (grows automatically)")
    version: str = Field("17", pattern=r"^[0-9]{2}$", description="PostgreSQL major version")
    backup_retention_days: Optional[int] = Field(None, ge=7, le=35, description="Backups kept; default 7, 14 in production")


class RedisSku(str, Enum):
    BASIC = "Basic"
    STANDARD = "Standard"
    PREMIUM = "Premium"


class RedisService(str, Enum):
    CACHE = "cache"  # Azure Cache for Redis
    MANAGED_REDIS = "managed-redis"  # Azure Managed Redis, its successor


_MANAGED_REDIS_SKU = r"^(Balanced_B|MemoryOptimized_M|ComputeOptimized_X)[0-9]+$"
_PATTERN_NAMES[_MANAGED_REDIS_SKU] = "an Azure Managed Redis SKU, e.g. Balanced_B1"


class AzureRedisConfig(_Model):
    service: RedisService = Field(
        RedisService.CACHE,
        description="cache (Azure Cache for Redis, retiring on 2028-09-30) or managed-redis (Azure Managed Redis, its successor)",
    )
    sku: Optional[RedisSku] = Field(None, description="cache: Basic, Standard (a replica) or Premium (replica, zones); default Basic, Premium in production")
    capacity: Optional[int] = Field(None, ge=0, le=6, description="cache: size within the SKU family (C0-C6, P1-P5); default 0, 1 in production")
    managed_sku: Optional[str] = Field(
        None, pattern=_MANAGED_REDIS_SKU, description="managed-redis: the SKU; default Balanced_B0, Balanced_B1 (highly available) in production"
    )


class AzureStorageConfig(_Model):
    hierarchical_namespace: bool = Field(
        True, description="ADLS Gen2 (default). Azure does not version blobs in such accounts; set false for a flat account whose blobs are versioned in production"
    )
    public_network_access: Optional[bool] = Field(
        None, description="Reachable outside the VNet (with Entra ID rights only; shared keys stay off); default true, false in production"
    )


class AzureKeyVaultConfig(_Model):
    public_network_access: Optional[bool] = Field(
        None, description="Reachable outside the VNet (with Entra ID rights only); default true, false in production. "
                          "pulumi up writes secrets through Azure Resource Manager either way"
    )


class AzureConfig(_Model):
    """Where and how big the Azure resources are (backend azure)."""

    location: str = Field("westeurope", pattern=_AZURE_LOCATION, description="Azure region of every resource")
    subscription_id: Optional[str] = Field(None, pattern=_UUID, description="Subscription; default the one of your Azure login")
    resource_group: Optional[str] = Field(None, pattern=_RESOURCE_GROUP, description="An existing resource group; unset: create mlops-<stack>")
    network: AzureNetworkConfig = AzureNetworkConfig()
    aks: AzureAksConfig = AzureAksConfig()
    postgres: AzurePostgresConfig = AzurePostgresConfig()
    redis: AzureRedisConfig = AzureRedisConfig()
    storage: AzureStorageConfig = AzureStorageConfig()
    key_vault: AzureKeyVaultConfig = AzureKeyVaultConfig()
    container_registry_id: Optional[str] = Field(
        None, pattern=_ACR_ID, description="The Azure Container Registry that managed model endpoints pull <name>.azurecr.io images from (they get AcrPull on it)"
    )


_ENDPOINT_NAME = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
_PATTERN_NAMES[_ENDPOINT_NAME] = "3 to 32 lowercase letters, digits and '-', starting with a letter (valid on Kubernetes, SageMaker and Azure ML)"
_VARIANT_NAME = r"^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$"
_PATTERN_NAMES[_VARIANT_NAME] = "1 to 30 lowercase letters, digits and '-', e.g. a, b, model-2 (valid on Kubernetes, SageMaker and Azure ML)"
_MODEL_URI = r"^models:/[A-Za-z0-9_.-]+(/[0-9]+|@[A-Za-z0-9_-]+)$"
_SAGEMAKER_INSTANCE = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
_AZURE_ML_INSTANCE = r"^Standard_[A-Za-z0-9_]+$"
_MANAGED_INSTANCE = f"({_SAGEMAKER_INSTANCE})|({_AZURE_ML_INSTANCE})"
_PATTERN_NAMES[_MANAGED_INSTANCE] = "a SageMaker instance type (ml.m5.large) on aws, an Azure ML VM size (Standard_DS3_v2) on azure"
# SageMaker pulls a model's image from ECR only (in the endpoint's account and region, or granted to it).
_ECR_IMAGE = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
_PATTERN_NAMES[_MODEL_URI] = "an MLflow model URI: models:/<name>/<version> or models:/<name>@<alias>"


class ServingVariantConfig(_Model):
    """One release of a model: an image cut from a git tag, or an MLflow model version."""

    name: str = Field(..., pattern=_VARIANT_NAME, description="The variant's name, e.g. a; its objects are named <endpoint>-<name>")
    image: PinnedImage = Field(None, description="A model server image (port 8080, GET /ping, POST /invocations), pinned")
    model: Optional[str] = Field(None, pattern=_MODEL_URI, description="Or an MLflow model, served by `mlflow models serve`")
    weight: int = Field(..., ge=0, le=100, description="Percent of the endpoint's requests; 0 keeps it running without traffic")
    replicas: Optional[int] = Field(None, ge=1, le=100, description="Fewest pods (instances when managed); default 1, 2 in production")
    max_replicas: Optional[int] = Field(None, ge=1, le=100, description="Most pods (instances) the autoscaler may run; default 3, 10 in production")
    resources: Optional[ResourcesConfig] = None
    instance_type: Optional[str] = Field(
        None, pattern=_MANAGED_INSTANCE,
        description="mode managed: the SageMaker instance type (default ml.m5.large, ml.m5.xlarge in production) "
                    "or the Azure ML VM size (default Standard_DS3_v2, Standard_DS4_v2 in production)",
    )


class ServingEndpointConfig(_Model):
    mode: Optional[ServiceMode] = Field(
        None, description="in-cluster (Deployments behind a Gateway API route), or managed: a SageMaker endpoint on aws, an Azure ML online endpoint on azure"
    )
    variants: list[ServingVariantConfig] = Field(..., min_length=1, description="The releases behind the endpoint and their traffic weights")
    await_ready: bool = Field(
        True, description="pulumi up waits until every variant serves; false for models the pipelines have yet to train"
    )
    smoke_request: Optional[dict[str, Any]] = Field(
        None, description="A request body the post-deploy check POSTs to /invocations of every variant with traffic; unset: GET /ping only"
    )


class GatewayConfig(_Model):
    """The Gateway API gateway that splits each endpoint's traffic between its variants."""

    install: Optional[bool] = Field(
        None, description="Install Envoy Gateway (with the Gateway API CRDs); default true on local, false elsewhere"
    )
    class_name: Optional[str] = Field(
        None, pattern=_DNS_LABEL, description="GatewayClass of the gateway; default envoy when installed, else required"
    )
    name: str = Field("mlops-serving", pattern=_DNS_LABEL, description="Name of the Gateway in the platform namespace")
    url: Optional[str] = Field(
        None, pattern=r"^https?://[^/\s]+$", description="Base URL at which clients reach the gateway; default the installed gateway's in-cluster Service"
    )


class ServingConfig(_Model):
    endpoints: dict[str, ServingEndpointConfig] = Field(default_factory=dict, description="Model endpoints by name")
    gateway: GatewayConfig = GatewayConfig()


class SmokeConfig(_Model):
    """The check that ends every `pulumi up`: a Job that uses every service as a pipeline would."""

    enabled: bool = Field(True, description="Run the check; `pulumi up` fails when it fails")
    timeout_seconds: int = Field(600, ge=60, le=7200, description="How long the check may take before it counts as failed")


class StackConfigInput(_Model):
    """The `mlops:*` keys of a stack file, as written by the user (before defaults are resolved)."""

    environment: Optional[Environment] = Field(None, description="Default: from the stack name (staging-pr-N is staging)")
    backend: Backend = Field(Backend.ENSEMBLE, description="Where services run unless a service overrides its mode")
    ephemeral: Optional[bool] = Field(None, description="Freely destroyable stack; default true for staging-pr-N")
    protect: Optional[bool] = Field(None, description="Protect stateful resources; default true in production")
    cluster: ClusterConfig = ClusterConfig()
    namespaces: NamespacesConfig = NamespacesConfig()
    labels: dict[str, str] = Field(default_factory=dict, description="Labels on every Kubernetes object (tags on the clouds)")
    services: ServicesConfig = ServicesConfig()
    git_sync_image: PinnedImage = Field(None, description="git-sync image that checks out DAGs and feature repositories")
    owner: Optional[str] = Field(
        None, pattern=_OWNER, description="Team or person in the owner tag of every cloud resource; required on aws and azure"
    )
    aws: AwsConfig = AwsConfig()
    azure: AzureConfig = AzureConfig()
    serving: ServingConfig = ServingConfig()
    smoke: SmokeConfig = SmokeConfig()


@dataclass(frozen=True)
class DataService:
    """A data service with every default resolved."""

    mode: ServiceMode
    image: str
    size: Size
    storage_class: Optional[str]


@dataclass(frozen=True)
class AppService:
    """An application server with every default resolved."""

    mode: ServiceMode
    image: str
    size: Size


@dataclass(frozen=True)
class Mlflow(AppService):
    workers: int
    ingress: IngressConfig


@dataclass(frozen=True)
class Feast(AppService):
    offline_store: OfflineStore
    materialize_schedule: str
    repository: GitSource  # path resolved


@dataclass(frozen=True)
class Evidently(AppService):
    monitoring: MonitoringConfig


@dataclass(frozen=True)
class Airflow:
    mode: ServiceMode
    image: str
    # api-server, scheduler, dag-processor, triggerer, and each task pod (worker)
    sizes: dict[str, Size]
    dags: GitSource  # path resolved
    parallelism: int
    ingress: IngressConfig


@dataclass(frozen=True)
class AwsSizes:
    """What the AWS resources of one environment are, before per-stack overrides."""

    node_instance_types: tuple[str, ...]
    min_nodes: int
    desired_nodes: int
    max_nodes: int
    db_instance_class: str
    db_storage: int  # GiB
    db_max_storage: int  # GiB, storage autoscaling limit
    db_backup_days: int
    cache_node_type: str
    cache_nodes: int  # the primary, plus replicas
    mwaa_class: str
    mwaa_max_workers: int
    sagemaker_size: str


# Staging is small; production is highly available: three AZs, Multi-AZ RDS, a Redis replica.
# Nodes fit the applications' requests (DEFAULT_SIZES) plus Airflow's task pods.
AWS_SIZES: dict[Environment, AwsSizes] = {
    Environment.LOCAL: AwsSizes(("t3.large",), 1, 2, 3, "db.t4g.micro", 20, 50, 1, "cache.t4g.micro", 1, "mw1.micro", 1, "Small"),
    Environment.STAGING: AwsSizes(("m7i.large",), 2, 2, 4, "db.t4g.medium", 20, 100, 7, "cache.t4g.small", 1, "mw1.small", 2, "Small"),
    Environment.PRODUCTION: AwsSizes(
        ("m7i.xlarge",), 3, 3, 9, "db.m7g.large", 100, 1000, 14, "cache.m7g.large", 2, "mw1.medium", 10, "Medium"
    ),
}
CACHE_ENGINE_VERSIONS = {"valkey": "8.0", "redis": "7.1"}


@dataclass(frozen=True)
class Aws:
    """The AWS settings of a stack with every default resolved."""

    region: str
    vpc_id: Optional[str]  # None: create a VPC
    private_subnet_ids: tuple[str, ...]
    cidr: str
    availability_zones: int
    eks_version: str
    public_endpoint: bool
    public_access_cidrs: tuple[str, ...]
    sizes: AwsSizes
    db_engine_version: str
    db_multi_az: bool
    cache_engine: str
    cache_engine_version: str
    mwaa_airflow_version: str
    sagemaker_mlflow_version: str


@dataclass(frozen=True)
class AzureSizes:
    """What the Azure resources of one environment are, before per-stack overrides."""

    system_vm_size: str
    system_nodes: int
    vm_size: str
    min_nodes: int
    max_nodes: int
    postgres_sku: str
    postgres_storage_gb: int
    postgres_backup_days: int
    redis_sku: str
    redis_capacity: int


# Production: three zones, zone-redundant PostgreSQL HA, Premium Redis with a replica in another zone.
AZURE_SIZES: dict[Environment, AzureSizes] = {
    Environment.LOCAL: AzureSizes("Standard_D2s_v5", 1, "Standard_D4s_v5", 1, 3, "Standard_B1ms", 32, 7, "Basic", 0),
    Environment.STAGING: AzureSizes("Standard_D2s_v5", 1, "Standard_D4s_v5", 2, 4, "Standard_B2s", 32, 7, "Basic", 1),
    Environment.PRODUCTION: AzureSizes("Standard_D4s_v5", 3, "Standard_D8s_v5", 3, 9, "Standard_D4ds_v5", 128, 14, "Premium", 1),
}
PG_TIERS = {"B": "Burstable", "D": "GeneralPurpose", "E": "MemoryOptimized"}


@dataclass(frozen=True)
class AzureExistingNetwork:
    vnet_id: str
    cluster_subnet_id: str
    postgres_subnet_id: str
    endpoints_subnet_id: str


@dataclass(frozen=True)
class Azure:
    """The Azure settings of a stack with every default resolved."""

    location: str
    subscription_id: Optional[str]  # None: the login's
    resource_group: Optional[str]  # None: create mlops-<stack>
    cidr: str
    existing_network: Optional[AzureExistingNetwork]
    aks_version: str
    aks_resource_group: Optional[str]
    public_endpoint: bool
    authorized_ip_ranges: tuple[str, ...]
    zones: tuple[str, ...]  # availability zones of nodes and data services; none outside production
    sizes: AzureSizes
    postgres_version: str
    postgres_tier: str
    postgres_high_availability: bool
    redis_family: str
    redis_service: str  # cache or managed-redis
    managed_redis_sku: str
    hierarchical_namespace: bool
    storage_public_access: bool
    key_vault_public_access: bool
    container_registry_id: Optional[str]  # the ACR that managed model endpoints pull from


# Model servers per variant: the fewest pods (Size.replicas), and the most the autoscaler may run.
DEFAULT_SERVING_SIZES = {
    Environment.LOCAL: Size(1, "100m", "512Mi", "1", "1Gi"),
    Environment.STAGING: Size(1, "250m", "1Gi", "2", "2Gi"),
    Environment.PRODUCTION: Size(2, "500m", "1Gi", "2", "2Gi"),
}
DEFAULT_SERVING_MAX_REPLICAS = {Environment.LOCAL: 2, Environment.STAGING: 3, Environment.PRODUCTION: 10}
INSTALLED_GATEWAY_CLASS = "envoy"
# An endpoint's pods are labelled with its name: it must not pass for one of the platform's servers.
RESERVED_ENDPOINT_NAMES = frozenset({"postgres", "redis", "minio", "seaweedfs", "mlflow", "feast", "evidently", "airflow"})
# Azure ML limits an online deployment's name to 32 characters; the others allow more.
MAX_VARIANT_OBJECT_NAME = 32


# Where `mode: managed` puts a model endpoint, by backend, and the instance sizes there.
MANAGED_SERVING = {Backend.AWS: "SageMaker", Backend.AZURE: "Azure ML"}
DEFAULT_MANAGED_INSTANCE = {
    Backend.AWS: {Environment.LOCAL: "ml.m5.large", Environment.STAGING: "ml.m5.large", Environment.PRODUCTION: "ml.m5.xlarge"},
    # Azure ML's own minimum for managed online deployments is Standard_DS2_v2; DS3 leaves room for a real model.
    Backend.AZURE: {Environment.LOCAL: "Standard_DS3_v2", Environment.STAGING: "Standard_DS3_v2", Environment.PRODUCTION: "Standard_DS4_v2"},
}
_INSTANCE_PATTERNS = {Backend.AWS: _SAGEMAKER_INSTANCE, Backend.AZURE: _AZURE_ML_INSTANCE}
_INSTANCE_EXAMPLES = {Backend.AWS: "a SageMaker instance type, e.g. ml.m5.large", Backend.AZURE: "an Azure ML VM size, e.g. Standard_DS3_v2"}
_ACR_IMAGE = re.compile(r"^(?P<registry>[a-z0-9]+)\.azurecr\.io/")


@dataclass(frozen=True)
class ServingVariant:
    name: str
    image: str  # for an MLflow model: the platform image, whose MLflow matches the tracking server's
    model: Optional[str]  # models:/<name>/<version>, or None for an image of its own
    weight: int
    size: Size  # replicas: the fewest pods (instances when managed)
    max_replicas: int
    instance_type: Optional[str] = None  # managed: the SageMaker instance type or Azure ML VM size


@dataclass(frozen=True)
class ServingEndpoint:
    name: str
    mode: ServiceMode
    variants: tuple[ServingVariant, ...]
    await_ready: bool
    smoke_request: Optional[dict[str, Any]]


@dataclass(frozen=True)
class Serving:
    endpoints: tuple[ServingEndpoint, ...]
    install_gateway: bool
    gateway_class: str
    gateway_name: str
    gateway_url: Optional[str]  # None: the installed gateway's in-cluster Service


# Where the platform image keeps the example feature repository and DAGs (images/platform/Dockerfile).
IMAGE_FEATURE_REPO = "/opt/mlops/examples/feature_repo"
IMAGE_DAGS = "/opt/mlops/examples/dags"
AIRFLOW_COMPONENTS = ("apiServer", "scheduler", "dagProcessor", "triggerer", "worker")


@dataclass(frozen=True)
class StackConfig:
    """The validated configuration of one stack, with environment defaults applied."""

    stack: str
    environment: Environment
    backend: Backend
    ephemeral: bool
    protect: bool
    cluster: ClusterConfig
    namespaces: NamespacesConfig
    labels: dict[str, str]
    postgres: DataService
    redis: DataService
    object_store: DataService
    object_store_server: ObjectStoreServer
    object_store_client_image: str
    postgres_backup: BackupConfig
    mlflow: Mlflow
    feast: Feast
    evidently: Evidently
    airflow: Airflow
    git_sync_image: str
    jobs_image: str  # the platform image of the platform's own jobs: an in-cluster application's
    owner: str  # "" on the ensemble when not set
    aws: Optional[Aws]  # set when any resource is on AWS
    azure: Optional[Azure]  # set with backend azure
    serving: Serving
    smoke: SmokeConfig

    def mode(self, service: str) -> ServiceMode:
        return getattr(self, _SNAKE.get(service, service)).mode

    @property
    def cloud_tags(self) -> dict[str, str]:
        """Tags on every cloud resource: who and what it belongs to, and when an ephemeral stack may go."""
        tags = {"project": "mlops-stack", "stack": self.stack, "environment": self.environment.value, "owner": self.owner}
        if self.ephemeral:
            # `mlops-stack env up` labels the expiry time; a stack made ephemeral by hand gets the default TTL.
            tags["ttl"] = self.labels.get(EXPIRES_LABEL) or f"{DEFAULT_TTL_HOURS}h"
        return tags

    @property
    def pr_number(self) -> Optional[int]:
        match = EPHEMERAL_STACK.match(self.stack)
        return int(match["pr"]) if match else None


_SNAKE = {"postgres": "postgres", "redis": "redis", "objectStore": "object_store"}


def load(stack: str, values: dict[str, Any]) -> StackConfig:
    """Validate the `mlops:*` values of `stack` (keys without the `mlops:` prefix). Raises ConfigError."""
    try:
        raw = StackConfigInput.model_validate(values)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
    return _resolve(stack, raw)


def from_pulumi() -> StackConfig:
    """Read every `mlops:*` key of the running stack. Unknown keys are errors, not ignored."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{NAMESPACE}:"
    values = {k[len(prefix) :]: _parse(runtime_config.get_config(k)) for k in keys if k.startswith(prefix)}
    return load(pulumi.get_stack(), values)


def _parse(value: Any) -> Any:
    """Pulumi hands structured config values to the program as JSON strings."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


def environment_from_stack(stack: str) -> Optional[Environment]:
    match = EPHEMERAL_STACK.match(stack)
    name = match["env"] if match else stack
    try:
        return Environment(name)
    except ValueError:
        return None


def _resolve(stack: str, raw: StackConfigInput) -> StackConfig:
    problems: list[str] = []

    def problem(key: str, given: Any, allowed: str) -> None:
        problems.append(f"{NAMESPACE}:{key}: {_show(given)} is not allowed; allowed: {allowed}")

    environment = raw.environment or environment_from_stack(stack)
    if environment is None:
        problems.append(
            f"{NAMESPACE}:environment: not set, and the stack name {stack!r} does not imply one; "
            "allowed: local, staging, production (or name the stack local, staging, staging-pr-<N>, production)"
        )
        environment = Environment.LOCAL
    production = environment is Environment.PRODUCTION

    ephemeral = raw.ephemeral if raw.ephemeral is not None else bool(EPHEMERAL_STACK.match(stack))
    if ephemeral and production:
        problem("ephemeral", True, "false in production (production data is never freely destroyable)")
    protect = raw.protect if raw.protect is not None else (production and not ephemeral)
    if production and raw.protect is False:
        problem("protect", False, "true in production (unprotect resources one by one with `pulumi state unprotect`)")
    if ephemeral and raw.protect:
        problem("protect", True, "false on an ephemeral stack (it must be destroyable)")

    backend = raw.backend
    managed_ok = MANAGED_SERVICES[backend]
    cluster = raw.cluster
    if backend is Backend.ENSEMBLE:
        if cluster.create:
            problem("cluster.create", True, "false or unset with backend ensemble (it uses the cluster of your kubeconfig)")
        if cluster.name is not None:
            problem("cluster.name", cluster.name, "unset with backend ensemble (use cluster.context)")

    for key, value in raw.labels.items():
        if not _LABEL_KEY.match(key):
            problem(f"labels.{key}", key, "a Kubernetes label key: [prefix/]name, alphanumerics, '-', '_', '.'")
        if not _LABEL_VALUE.match(value):
            problem(f"labels.{key}", value, "a Kubernetes label value: at most 63 alphanumerics, '-', '_', '.'")

    if raw.namespaces.platform == raw.namespaces.pipelines:
        problem("namespaces.pipelines", raw.namespaces.pipelines, "a namespace other than namespaces.platform")

    def mode_of(service: str, given: Optional[ServiceMode]) -> ServiceMode:
        if given is None:
            default_managed = service in MANAGED_BY_DEFAULT and service in managed_ok
            return ServiceMode.MANAGED if default_managed else ServiceMode.IN_CLUSTER
        if given is ServiceMode.MANAGED and service not in managed_ok:
            problem(f"services.{service}.mode", given.value, f"in-cluster with backend {backend.value!r}")
        return given

    def data_service(service: str, given: DataServiceConfig) -> DataService:
        size = _sized(DEFAULT_SIZES[environment][service], given.replicas, given.resources, given.storage)
        if service in ("postgres", "redis") and size.replicas != 1:
            problem(
                f"services.{service}.replicas",
                size.replicas,
                "1 in-cluster (a single instance; for high availability use mode: managed on aws or azure)",
            )
        image = given.image or DEFAULT_IMAGES[service]
        if service == "objectStore":
            server = services.object_store.server
            if not given.replicas and size.replicas > 1:
                size = dataclasses.replace(size, replicas=HA_OBJECT_STORE_REPLICAS[server])
            if server is ObjectStoreServer.MINIO:
                image = given.image or MINIO_IMAGE
                if size.replicas in (2, 3):
                    problem("services.objectStore.replicas", size.replicas, "1, or 4 and more (a MinIO erasure set)")
            elif size.replicas == 2:
                problem("services.objectStore.replicas", size.replicas, "1, or 3 and more (SeaweedFS's masters elect a leader by majority)")
        return DataService(mode_of(service, given.mode), image, size, given.storage_class)

    services = raw.services
    postgres = data_service("postgres", services.postgres)
    redis = data_service("redis", services.redis)
    object_store = data_service("objectStore", services.object_store)

    def size_of(key: str, replicas: Optional[int], requested: Optional[ResourcesConfig]) -> Size:
        return _sized(DEFAULT_SIZES[environment][key], replicas, requested)

    def source(key: str, given: GitSource, image_path: str) -> GitSource:
        if given.git is None:
            path = given.path or image_path
            if not path.startswith("/"):
                problem(f"{key}.path", path, "an absolute path inside the image when git is unset")
        else:
            path = given.path or "."
            if path.startswith("/") or ".." in path.split("/"):
                problem(f"{key}.path", path, "a path relative to the repository root, without '..', when git is set")
        return given.model_copy(update={"path": path})

    def ingress(key: str, given: IngressConfig) -> IngressConfig:
        if given.enabled and not given.host:
            problems.append(f"{NAMESPACE}:{key}.host: not set; allowed: the host name the Ingress serves, when enabled is true")
        return given

    mlflow = Mlflow(
        mode=mode_of("mlflow", services.mlflow.mode),
        image=services.mlflow.image or DEFAULT_IMAGES["mlflow"],
        size=size_of("mlflow", services.mlflow.replicas, services.mlflow.resources),
        workers=services.mlflow.workers or DEFAULT_MLFLOW_WORKERS[environment],
        ingress=ingress("services.mlflow.ingress", services.mlflow.ingress),
    )
    feast = Feast(
        mode=mode_of("feast", services.feast.mode),
        image=services.feast.image or DEFAULT_IMAGES["feast"],
        size=size_of("feast", services.feast.replicas, services.feast.resources),
        offline_store=services.feast.offline_store,
        materialize_schedule=services.feast.materialize_schedule,
        repository=source("services.feast.repository", services.feast.repository, IMAGE_FEATURE_REPO),
    )
    if (services.evidently.replicas or 1) != 1:
        problem(
            "services.evidently.replicas", services.evidently.replicas,
            "1 (the UI is the one writer of its workspace; writers go through its API)",
        )
    evidently = Evidently(
        mode=mode_of("evidently", services.evidently.mode),
        image=services.evidently.image or DEFAULT_IMAGES["evidently"],
        size=size_of("evidently", services.evidently.replicas, services.evidently.resources),
        monitoring=services.evidently.monitoring,
    )
    airflow = Airflow(
        mode=mode_of("airflow", services.airflow.mode),
        image=services.airflow.image or DEFAULT_IMAGES["airflow"],
        sizes={c: size_of(f"airflow{c[0].upper()}{c[1:]}", None, None) for c in AIRFLOW_COMPONENTS},
        dags=source("services.airflow.dags", services.airflow.dags, IMAGE_DAGS),
        parallelism=services.airflow.parallelism or DEFAULT_AIRFLOW_PARALLELISM[environment],
        ingress=ingress("services.airflow.ingress", services.airflow.ingress),
    )

    # `mlops-stack env up` labels who opened the stack: on a PR stack, they own it, not the team.
    owner = raw.labels.get(OWNER_LABEL) or raw.owner or ""
    if backend is not Backend.ENSEMBLE and not owner:
        problems.append(f"{NAMESPACE}:owner: not set; allowed: the team or person who owns this stack's cloud resources (tagged on each)")
    if backend is Backend.AWS and cluster.create is not False and cluster.name is not None:
        problem("cluster.name", cluster.name, "unset when the cluster is created (set cluster.create: false to use an existing one)")
    if backend is Backend.AWS and cluster.create is False and not cluster.name:
        problems.append(
            f"{NAMESPACE}:cluster.name: not set; allowed: the name of the existing EKS cluster "
            "(its OIDC issuer is needed for IAM roles for service accounts)"
        )
    if backend is Backend.AWS and cluster.create is False and not raw.aws.network.vpc_id:
        problems.append(
            f"{NAMESPACE}:aws.network.vpcId: not set; allowed: the VPC of the existing cluster "
            "(with aws.network.privateSubnetIds), so the databases are reachable from it"
        )
    if backend is Backend.AZURE and cluster.create is not False and cluster.name is not None:
        problem("cluster.name", cluster.name, "unset when the cluster is created (set cluster.create: false to use an existing one)")
    if backend is Backend.AZURE and cluster.create is False and not cluster.name:
        problems.append(
            f"{NAMESPACE}:cluster.name: not set; allowed: the name of the existing AKS cluster "
            "(its OIDC issuer is needed for workload identity)"
        )
    if backend is Backend.AZURE and cluster.create is False and not raw.azure.network.vnet_id:
        problems.append(
            f"{NAMESPACE}:azure.network.vnetId: not set; allowed: the VNet of the existing cluster "
            "(with azure.network clusterSubnetId, postgresSubnetId and endpointsSubnetId), so the databases are reachable from it"
        )
    if backend is Backend.AZURE:
        for service, resolved_service in (("postgres", postgres), ("redis", redis), ("objectStore", object_store)):
            if resolved_service.mode is ServiceMode.IN_CLUSTER:
                problem(f"services.{service}.mode", "in-cluster", "managed with backend 'azure' (in-cluster data services run on backend ensemble)")
    if backend is Backend.AWS:
        prefix = int(raw.aws.network.cidr.split("/")[1])
        if not 16 <= prefix <= 24:
            problem("aws.network.cidr", raw.aws.network.cidr, "a block from /16 to /24 (it is split into 16 subnets)")
        for service, resolved_service in (("postgres", postgres), ("redis", redis), ("objectStore", object_store)):
            if resolved_service.mode is ServiceMode.IN_CLUSTER:
                problem(f"services.{service}.mode", "in-cluster", "managed with backend 'aws' (in-cluster data services run on backend ensemble)")
    # The platform's own jobs (bucket setup, backup, the post-deploy check) and model servers of the
    # platform image take the image of an application that runs in the cluster: a mirror set for
    # one of them is used, whichever is managed.
    jobs_image = next((a.image for a in (mlflow, feast, evidently, airflow) if a.mode is ServiceMode.IN_CLUSTER), PLATFORM_IMAGE)
    serving = _resolve_serving(
        raw.serving, environment, backend, jobs_image,
        raw.azure.container_registry_id, problem, problems, mlflow_managed=mlflow.mode is ServiceMode.MANAGED,
    )
    uses_aws = backend is Backend.AWS
    aws = _resolve_aws(raw.aws, environment, ephemeral, problem, problems) if uses_aws else None
    azure = _resolve_azure(raw.azure, environment, problem, problems) if backend is Backend.AZURE else None

    if problems:
        raise ConfigError("invalid stack configuration:\n  " + "\n  ".join(problems) if len(problems) > 1 else problems[0])

    return StackConfig(
        stack=stack,
        environment=environment,
        backend=backend,
        ephemeral=ephemeral,
        protect=protect,
        cluster=cluster,
        namespaces=raw.namespaces,
        # Every object says which environment it belongs to; the policy pack reads it.
        labels={**raw.labels, ENVIRONMENT_LABEL: environment.value, **BACKEND_LABELS.get(backend, {})},
        postgres=postgres,
        redis=redis,
        object_store=object_store,
        object_store_server=services.object_store.server,
        object_store_client_image=services.object_store.client_image or DEFAULT_IMAGES["objectStoreClient"],
        postgres_backup=services.postgres.backup,
        mlflow=mlflow,
        feast=feast,
        evidently=evidently,
        airflow=airflow,
        git_sync_image=raw.git_sync_image or DEFAULT_IMAGES["gitSync"],
        jobs_image=jobs_image,
        owner=owner,
        aws=aws,
        azure=azure,
        serving=serving,
        smoke=raw.smoke,
    )


def _sized(default: Size, replicas: Optional[int], requested: Optional[ResourcesConfig], storage: Optional[str] = None) -> Size:
    """A size with what the stack asks for over the environment's default."""
    requested = requested or ResourcesConfig()
    return Size(
        replicas=replicas or default.replicas,
        cpu=requested.cpu or default.cpu,
        memory=requested.memory or default.memory,
        cpu_limit=requested.cpu_limit or default.cpu_limit,
        memory_limit=requested.memory_limit or default.memory_limit,
        storage=storage or default.storage,
    )


def _resolve_serving(
    raw: ServingConfig, environment: Environment, backend: Backend, mlflow_image: str, registry_id: Optional[str], problem, problems: list[str],
    mlflow_managed: bool = False,
) -> Serving:
    endpoints = []
    for endpoint_name, endpoint in raw.endpoints.items():
        key = f"serving.endpoints.{endpoint_name}"
        valid_name = bool(re.match(_ENDPOINT_NAME, endpoint_name))
        if not valid_name:
            problem(key, endpoint_name, _PATTERN_NAMES[_ENDPOINT_NAME])
        elif endpoint_name in RESERVED_ENDPOINT_NAMES:
            problem(key, endpoint_name, f"a name other than the platform's services ({', '.join(sorted(RESERVED_ENDPOINT_NAMES))})")
        mode = endpoint.mode or ServiceMode.IN_CLUSTER
        managed = mode is ServiceMode.MANAGED
        if managed and backend not in MANAGED_SERVING:
            problem(f"{key}.mode", "managed", f"in-cluster with backend {backend.value!r} "
                                              "(managed endpoints: SageMaker on backend aws, Azure ML on backend azure)")
            managed = False  # one error for the endpoint, not one per variant
        if managed and not endpoint.await_ready:
            problem(f"{key}.awaitReady", False,
                    f"true with mode managed (a {MANAGED_SERVING[backend]} endpoint is created serving, or not at all)")
        names = [v.name for v in endpoint.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problem(f"{key}.variants", duplicates, "variant names that differ within the endpoint")
        total = sum(v.weight for v in endpoint.variants)
        if total != 100:
            problems.append(
                f"{NAMESPACE}:{key}.variants: weights add up to {total}; allowed: weights that add up to 100 "
                "(a variant with weight 0 keeps running without traffic)"
            )
        default = DEFAULT_SERVING_SIZES[environment]
        variants = []
        for index, variant in enumerate(endpoint.variants):
            variant_key = f"{key}.variants[{index}]"
            if (variant.image is None) == (variant.model is None):
                problems.append(f"{NAMESPACE}:{variant_key}: set image or model; allowed: exactly one of them")
            elif managed and variant.model is not None:
                problem(f"{variant_key}.model", variant.model,
                        "an image on a managed endpoint (it cannot reach the in-cluster tracking server: bake the model into the image)")
            elif mlflow_managed and variant.model is not None:
                problem(f"{variant_key}.model", variant.model,
                        "an image while services.mlflow.mode is managed (the platform image loads models:/ from the "
                        "in-cluster tracking server only: bake the model into the image)")
            elif managed and backend is Backend.AWS and not _ECR_IMAGE.match(variant.image or ""):
                problem(f"{variant_key}.image", variant.image,
                        "an Amazon ECR image (<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:...): SageMaker pulls from ECR only")
            elif managed and backend is Backend.AZURE:
                acr = _ACR_IMAGE.match(variant.image or "")
                if acr and not (registry_id or "").lower().endswith(f"/registries/{acr['registry']}"):
                    allowed = (f"the resource ID of the registry {acr['registry']}.azurecr.io, which {variant_key}.image is pulled from "
                               "(the endpoint gets AcrPull on it)")
                    if registry_id:
                        problem("azure.containerRegistryId", registry_id, allowed)
                    else:
                        problems.append(f"{NAMESPACE}:azure.containerRegistryId: not set; allowed: {allowed}")
            if variant.instance_type and not managed:
                problem(f"{variant_key}.instanceType", variant.instance_type, "unset with mode in-cluster (size pods with resources)")
            elif variant.instance_type and not re.match(_INSTANCE_PATTERNS[backend], variant.instance_type):
                problem(f"{variant_key}.instanceType", variant.instance_type, _INSTANCE_EXAMPLES[backend])
            if variant.resources and managed:
                problem(f"{variant_key}.resources", variant.resources.model_dump(by_alias=True, exclude_none=True),
                        "unset with mode managed (choose instanceType)")
            object_name = f"{endpoint_name}-{variant.name}"
            if valid_name and len(object_name) > MAX_VARIANT_OBJECT_NAME:
                problem(f"{variant_key}.name", variant.name,
                        f"a name that keeps {endpoint_name}-<name> within {MAX_VARIANT_OBJECT_NAME} characters (Azure ML's limit)")
            size = _sized(default, variant.replicas, variant.resources)
            max_replicas = variant.max_replicas or max(DEFAULT_SERVING_MAX_REPLICAS[environment], size.replicas)
            if max_replicas < size.replicas:
                problem(f"{variant_key}.maxReplicas", max_replicas, f"at least replicas ({size.replicas})")
            variants.append(ServingVariant(
                name=variant.name, image=variant.image or mlflow_image, model=variant.model, weight=variant.weight,
                size=size, max_replicas=max_replicas,
                instance_type=(variant.instance_type or DEFAULT_MANAGED_INSTANCE[backend][environment]) if managed else None,
            ))
        endpoints.append(ServingEndpoint(name=endpoint_name, mode=mode, variants=tuple(variants), await_ready=endpoint.await_ready,
                                         smoke_request=endpoint.smoke_request))
    install = raw.gateway.install if raw.gateway.install is not None else environment is Environment.LOCAL
    gateway_class = raw.gateway.class_name or (INSTALLED_GATEWAY_CLASS if install else "")
    # Only endpoints in the cluster go through the gateway.
    routed = [e for e in endpoints if e.mode is ServiceMode.IN_CLUSTER]
    if routed and not install and not raw.gateway.url:
        problems.append(
            f"{NAMESPACE}:serving.gateway.url: not set; allowed: the base URL of your cluster's gateway (e.g. http://gateway.example.com), "
            "or serving.gateway.install: true"
        )
    if routed and not gateway_class:
        problems.append(
            f"{NAMESPACE}:serving.gateway.className: not set; allowed: the GatewayClass of your cluster's Gateway API "
            "implementation, or serving.gateway.install: true to install Envoy Gateway"
        )
    return Serving(
        endpoints=tuple(endpoints), install_gateway=install and bool(routed), gateway_class=gateway_class,
        gateway_name=raw.gateway.name, gateway_url=raw.gateway.url,
    )


def _resolve_aws(raw: AwsConfig, environment: Environment, ephemeral: bool, problem, problems: list[str]) -> Aws:
    production = environment is Environment.PRODUCTION
    network, eks, rds, cache = raw.network, raw.eks, raw.rds, raw.elasticache
    if network.vpc_id and len(network.private_subnet_ids) < 2:
        problems.append(
            f"{NAMESPACE}:aws.network.privateSubnetIds: {len(network.private_subnet_ids)} given; "
            "allowed: at least 2 private subnets in different AZs of aws.network.vpcId"
        )
    if network.private_subnet_ids and not network.vpc_id:
        problems.append(f"{NAMESPACE}:aws.network.vpcId: not set; allowed: the VPC of aws.network.privateSubnetIds")
    default = AWS_SIZES[environment]
    sizes = AwsSizes(
        node_instance_types=tuple(eks.instance_types or default.node_instance_types),
        min_nodes=eks.min_nodes or default.min_nodes,
        desired_nodes=eks.desired_nodes or max(default.desired_nodes, eks.min_nodes or 0),
        max_nodes=eks.max_nodes or max(default.max_nodes, eks.desired_nodes or 0, eks.min_nodes or 0),
        db_instance_class=rds.instance_class or default.db_instance_class,
        db_storage=rds.allocated_storage or default.db_storage,
        db_max_storage=rds.max_allocated_storage or max(default.db_max_storage, rds.allocated_storage or 0),
        # An ephemeral stack keeps no automated backups: it is created and destroyed in minutes.
        db_backup_days=rds.backup_retention_days if rds.backup_retention_days is not None else (0 if ephemeral else default.db_backup_days),
        cache_node_type=cache.node_type or default.cache_node_type,
        cache_nodes=default.cache_nodes,
        mwaa_class=raw.mwaa.environment_class or default.mwaa_class,
        mwaa_max_workers=raw.mwaa.max_workers or default.mwaa_max_workers,
        sagemaker_size=raw.sagemaker_mlflow.tracking_server_size or default.sagemaker_size,
    )
    if not sizes.min_nodes <= sizes.desired_nodes <= sizes.max_nodes:
        problem(
            "aws.eks", {"minNodes": sizes.min_nodes, "desiredNodes": sizes.desired_nodes, "maxNodes": sizes.max_nodes},
            "minNodes <= desiredNodes <= maxNodes",
        )
    if sizes.db_max_storage < sizes.db_storage:
        problem("aws.rds.maxAllocatedStorage", sizes.db_max_storage, f"at least aws.rds.allocatedStorage ({sizes.db_storage})")
    if production and sizes.db_backup_days < 7:
        problem("aws.rds.backupRetentionDays", sizes.db_backup_days, "7 to 35 in production")
    public_endpoint = eks.public_endpoint if eks.public_endpoint is not None else not production
    if eks.public_access_cidrs and not public_endpoint:
        problem("aws.eks.publicAccessCidrs", eks.public_access_cidrs, "empty while the API endpoint is private (set aws.eks.publicEndpoint: true)")
    return Aws(
        region=raw.region,
        vpc_id=network.vpc_id,
        private_subnet_ids=tuple(network.private_subnet_ids),
        cidr=network.cidr,
        availability_zones=network.availability_zones or (3 if production else 2),
        eks_version=eks.version,
        public_endpoint=public_endpoint,
        public_access_cidrs=tuple(eks.public_access_cidrs or (["0.0.0.0/0"] if public_endpoint else [])),
        sizes=sizes,
        db_engine_version=rds.engine_version,
        db_multi_az=production,
        cache_engine=cache.engine.value,
        cache_engine_version=cache.engine_version or CACHE_ENGINE_VERSIONS[cache.engine.value],
        mwaa_airflow_version=raw.mwaa.airflow_version,
        sagemaker_mlflow_version=raw.sagemaker_mlflow.mlflow_version,
    )


def _resolve_azure(raw: AzureConfig, environment: Environment, problem, problems: list[str]) -> Azure:
    production = environment is Environment.PRODUCTION
    network, aks, postgres, redis = raw.network, raw.aks, raw.postgres, raw.redis
    subnets = {"clusterSubnetId": network.cluster_subnet_id, "postgresSubnetId": network.postgres_subnet_id,
               "endpointsSubnetId": network.endpoints_subnet_id}
    existing = None
    if network.vnet_id or any(subnets.values()):
        missing = [key for key, value in {"vnetId": network.vnet_id, **subnets}.items() if not value]
        if missing:
            problems.append(
                f"{NAMESPACE}:azure.network.{missing[0]}: not set; allowed: with an existing VNet, all of "
                "vnetId, clusterSubnetId, postgresSubnetId and endpointsSubnetId"
            )
        else:
            outside = [key for key, value in subnets.items() if not value.startswith(network.vnet_id + "/subnets/")]
            for key in outside:
                problem(f"azure.network.{key}", subnets[key], "a subnet of azure.network.vnetId")
            existing = AzureExistingNetwork(network.vnet_id, network.cluster_subnet_id, network.postgres_subnet_id, network.endpoints_subnet_id)
    prefix = int(network.cidr.split("/")[1])
    if not 16 <= prefix <= 22:
        problem("azure.network.cidr", network.cidr, "a block from /16 to /22 (it is split into the cluster, PostgreSQL and endpoint subnets)")
    default = AZURE_SIZES[environment]
    sizes = AzureSizes(
        system_vm_size=aks.system_vm_size or default.system_vm_size,
        system_nodes=aks.system_nodes or default.system_nodes,
        vm_size=aks.vm_size or default.vm_size,
        min_nodes=aks.min_nodes or default.min_nodes,
        max_nodes=aks.max_nodes or max(default.max_nodes, aks.min_nodes or 0),
        postgres_sku=postgres.sku or default.postgres_sku,
        postgres_storage_gb=postgres.storage_gb or default.postgres_storage_gb,
        postgres_backup_days=postgres.backup_retention_days or default.postgres_backup_days,
        redis_sku=(redis.sku.value if redis.sku else default.redis_sku),
        redis_capacity=redis.capacity if redis.capacity is not None else default.redis_capacity,
    )
    if sizes.min_nodes > sizes.max_nodes:
        problem("azure.aks", {"minNodes": sizes.min_nodes, "maxNodes": sizes.max_nodes}, "minNodes <= maxNodes")
    tier = PG_TIERS[sizes.postgres_sku.split("_")[1][0]]
    if production and tier == "Burstable":
        problem("azure.postgres.sku", sizes.postgres_sku, "a Standard_D* or Standard_E* size in production (zone-redundant HA needs General Purpose or Memory Optimized)")
    service = redis.service
    if service is RedisService.CACHE and redis.managed_sku:
        problem("azure.redis.managedSku", redis.managed_sku, "unset with service cache (set azure.redis.service: managed-redis)")
    if service is RedisService.MANAGED_REDIS and (redis.sku or redis.capacity is not None):
        key = "sku" if redis.sku else "capacity"
        problem(f"azure.redis.{key}", getattr(redis, key).value if key == "sku" else redis.capacity,
                "unset with service managed-redis (use azure.redis.managedSku)")
    if production and service is RedisService.CACHE and sizes.redis_sku == "Basic":
        problem("azure.redis.sku", "Basic", "Standard or Premium in production (Basic has no replica)")
    family = "P" if sizes.redis_sku == "Premium" else "C"
    if family == "P" and not 1 <= sizes.redis_capacity <= 5:
        problem("azure.redis.capacity", sizes.redis_capacity, "1 to 5 with sku Premium (P1-P5)")
    public_endpoint = aks.public_endpoint if aks.public_endpoint is not None else not production
    if aks.authorized_ip_ranges and not public_endpoint:
        problem("azure.aks.authorizedIpRanges", aks.authorized_ip_ranges, "empty while the cluster is private (set azure.aks.publicEndpoint: true)")
    return Azure(
        location=raw.location,
        subscription_id=raw.subscription_id,
        resource_group=raw.resource_group,
        cidr=network.cidr,
        existing_network=existing,
        aks_version=aks.version,
        aks_resource_group=aks.resource_group,
        public_endpoint=public_endpoint,
        authorized_ip_ranges=tuple(aks.authorized_ip_ranges),
        zones=("1", "2", "3") if production else (),
        sizes=sizes,
        postgres_version=postgres.version,
        postgres_tier=tier,
        postgres_high_availability=production,
        redis_family=family,
        redis_service=service.value,
        managed_redis_sku=redis.managed_sku or ("Balanced_B1" if production else "Balanced_B0"),
        hierarchical_namespace=raw.storage.hierarchical_namespace,
        storage_public_access=raw.storage.public_network_access if raw.storage.public_network_access is not None else not production,
        key_vault_public_access=raw.key_vault.public_network_access if raw.key_vault.public_network_access is not None else not production,
        container_registry_id=raw.container_registry_id,
    )


def _show(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    return repr(value) if isinstance(value, str) else json.dumps(value)


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = f"{NAMESPACE}:" + ".".join(str(p) for p in e["loc"])
        given = e.get("input")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(e["loc"][:-1])
            lines.append(f"{key}: unknown key; allowed keys here: {', '.join(allowed)}")
        elif e["type"] == "enum":
            lines.append(f"{key}: {_show(given)} is not allowed; allowed: {e['ctx']['expected'].replace(chr(39), '')}")
        elif e["type"] == "string_pattern_mismatch":
            allowed = _PATTERN_NAMES.get(e["ctx"]["pattern"], f"a value matching {e['ctx']['pattern']}")
            lines.append(f"{key}: {_show(given)} is not allowed; allowed: {allowed}")
        else:
            message = e["msg"].removeprefix("Value error, ")
            lines.append(f"{key}: {_show(given)} is not allowed: {message}")
    return lines[0] if len(lines) == 1 else "invalid stack configuration:\n  " + "\n  ".join(lines)


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = StackConfigInput
    for part in loc:
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        annotation = getattr(field, "annotation", None)
        if annotation is None or not isinstance(annotation, type) or not issubclass(annotation, BaseModel):
            args = getattr(annotation, "__args__", ())
            annotation = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if annotation is None:
            return []
        model = annotation
    return [f.alias or n for n, f in model.model_fields.items()]


def json_schema() -> dict[str, Any]:
    """JSON schema of a `Pulumi.<stack>.yaml` file: the `mlops:*` keys typed, other namespaces free."""
    inner = StackConfigInput.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = inner.pop("$defs", {})
    properties = {f"{NAMESPACE}:{key}": value for key, value in inner["properties"].items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlops-stack Pulumi stack file",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "description": "Stack configuration; mlops:* keys are checked, other namespaces pass through",
                "properties": properties,
                "patternProperties": {f"^(?!{NAMESPACE}:)": {}},
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {},
        },
        "$defs": defs,
    }

