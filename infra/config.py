"""StackConfig: the one place where the stack's `mlops:*` configuration is read and validated.

Every other module receives a validated, fully defaulted `StackConfig`; none reads Pulumi config.
"""

from __future__ import annotations

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
PLATFORM_IMAGE_VERSION = "1.0.0"
PLATFORM_IMAGE = f"{PLATFORM_IMAGE_REPOSITORY}:{PLATFORM_IMAGE_VERSION}"

DEFAULT_IMAGES = {
    "postgres": "postgres:17.6-bookworm",
    "redis": "redis:7.4.6-alpine",
    "objectStore": "minio/minio:RELEASE.2025-09-07T16-13-09Z",
    "objectStoreClient": "minio/mc:RELEASE.2025-08-13T08-35-41Z",
    "mlflow": PLATFORM_IMAGE,
    "feast": PLATFORM_IMAGE,
    "evidently": PLATFORM_IMAGE,
    "airflow": PLATFORM_IMAGE,
    "gitSync": "registry.k8s.io/git-sync/git-sync:v4.4.2",
}

ENVIRONMENT_LABEL = "mlops-stack/environment"

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
        # Four MinIO servers form one erasure set: the object store survives the loss of a node.
        "objectStore": Size(4, "1", "4Gi", "4", "8Gi", "250Gi"),
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

_EPHEMERAL_STACK = re.compile(r"^(?P<env>staging)-pr-(?P<pr>\d+)$")
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
    client_image: PinnedImage = Field(None, description="MinIO client image that creates buckets and users")



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
    object_store_client_image: str
    postgres_backup: BackupConfig
    mlflow: Mlflow
    feast: Feast
    evidently: Evidently
    airflow: Airflow
    git_sync_image: str

    def mode(self, service: str) -> ServiceMode:
        return getattr(self, _SNAKE.get(service, service)).mode

    @property
    def pr_number(self) -> Optional[int]:
        match = _EPHEMERAL_STACK.match(self.stack)
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
    match = _EPHEMERAL_STACK.match(stack)
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

    ephemeral = raw.ephemeral if raw.ephemeral is not None else bool(_EPHEMERAL_STACK.match(stack))
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
    elif cluster.create is False and not (cluster.name or cluster.kubeconfig):
        problems.append(
            f"{NAMESPACE}:cluster: create is false but no existing cluster is given; "
            "allowed: set cluster.name (or cluster.kubeconfig), or create: true"
        )

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
        default = DEFAULT_SIZES[environment][service]
        requested = given.resources or ResourcesConfig()
        size = Size(
            replicas=given.replicas or default.replicas,
            cpu=requested.cpu or default.cpu,
            memory=requested.memory or default.memory,
            cpu_limit=requested.cpu_limit or default.cpu_limit,
            memory_limit=requested.memory_limit or default.memory_limit,
            storage=given.storage or default.storage,
        )
        if service in ("postgres", "redis") and size.replicas != 1:
            problem(
                f"services.{service}.replicas",
                size.replicas,
                "1 in-cluster (a single instance; for high availability use mode: managed on aws or azure)",
            )
        if service == "objectStore" and size.replicas in (2, 3):
            problem("services.objectStore.replicas", size.replicas, "1, or 4 and more (a MinIO erasure set)")
        return DataService(mode_of(service, given.mode), given.image or DEFAULT_IMAGES[service], size, given.storage_class)

    services = raw.services
    postgres = data_service("postgres", services.postgres)
    redis = data_service("redis", services.redis)
    object_store = data_service("objectStore", services.object_store)

    def size_of(key: str, replicas: Optional[int], requested: Optional[ResourcesConfig]) -> Size:
        default = DEFAULT_SIZES[environment][key]
        requested = requested or ResourcesConfig()
        return Size(
            replicas=replicas or default.replicas,
            cpu=requested.cpu or default.cpu,
            memory=requested.memory or default.memory,
            cpu_limit=requested.cpu_limit or default.cpu_limit,
            memory_limit=requested.memory_limit or default.memory_limit,
        )

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
        labels={**raw.labels, ENVIRONMENT_LABEL: environment.value},
        postgres=postgres,
        redis=redis,
        object_store=object_store,
        object_store_client_image=services.object_store.client_image or DEFAULT_IMAGES["objectStoreClient"],
        postgres_backup=services.postgres.backup,
        mlflow=mlflow,
        feast=feast,
        evidently=evidently,
        airflow=airflow,
        git_sync_image=raw.git_sync_image or DEFAULT_IMAGES["gitSync"],
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

