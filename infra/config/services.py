"""services: the data services and applications, their sizes per environment, and their checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from pydantic import Field


from .choices import Backend, Environment, ObjectStoreServer, ServiceMode
from .errors import Problems
from .ingress import IngressConfig, check_ingress
from .events import Events, EventsConfig
from . import events as events_section
from .notebooks import Notebooks, NotebooksConfig
from . import notebooks as notebooks_section
from .images import DEFAULT_IMAGES, HA_OBJECT_STORE_REPLICAS, IMAGE_DAGS, IMAGE_FEATURE_REPO, MINIO_IMAGE, PLATFORM_IMAGE
from .size import ResourcesConfig, Size, sized
from .types import Cron, DnsLabel, GitUrl, InputModel, PinnedImage, Quantity

DATA_SERVICES = ("postgres", "redis", "objectStore")
APP_SERVICES = ("mlflow", "feast", "airflow", "evidently")
AIRFLOW_COMPONENTS = ("apiServer", "scheduler", "dagProcessor", "triggerer", "worker")

# Which services each backend can run as a managed cloud service (docs/architecture.md, "The platform").
MANAGED_SERVICES: dict[Backend, frozenset[str]] = {
    Backend.ENSEMBLE: frozenset(),
    Backend.AWS: frozenset({"postgres", "redis", "objectStore", "mlflow", "airflow"}),
    Backend.AZURE: frozenset({"postgres", "redis", "objectStore", "mlflow"}),
}
# On a cloud, the data services default to the managed offering; the applications stay in the cluster.
MANAGED_BY_DEFAULT = frozenset(DATA_SERVICES)

# Local fits a laptop, staging is small, production is sized for real load (docs/environments.md).
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
# Airflow API server worker processes per pod.
DEFAULT_AIRFLOW_API_WORKERS = {Environment.LOCAL: 1, Environment.STAGING: 2, Environment.PRODUCTION: 2}
# Task pods Airflow runs at once (core.parallelism).
DEFAULT_AIRFLOW_PARALLELISM = {Environment.LOCAL: 4, Environment.STAGING: 16, Environment.PRODUCTION: 64}


class DataServiceConfig(InputModel):
    """PostgreSQL, Redis or the object store: managed by the cloud, or a StatefulSet in the cluster."""

    mode: Optional[ServiceMode] = Field(None, description="in-cluster or managed; the default follows the backend")
    image: PinnedImage = Field(None, description="Container image, pinned by tag or digest (in-cluster mode)")
    replicas: Optional[int] = Field(None, ge=1, description="Pods in the StatefulSet (in-cluster mode)")
    resources: Optional[ResourcesConfig] = None
    storage: Optional[Quantity] = Field(None, description="Volume size per pod, e.g. 20Gi")
    storage_class: Optional[str] = Field(None, description="StorageClass of the volumes; cluster default if unset")


class BackupConfig(InputModel):
    """Scheduled `pg_dump` of every consumer database to the object store (in-cluster PostgreSQL)."""

    enabled: bool = Field(True, description="Run the backup CronJob")
    schedule: Cron = Field("30 2 * * *", description="Cron schedule of the backup (UTC)")
    retention_days: int = Field(7, ge=1, le=3650, description="Days a backup is kept before the job deletes it")


class PostgresConfig(DataServiceConfig):
    backup: BackupConfig = BackupConfig()


class ObjectStoreConfig(DataServiceConfig):
    server: ObjectStoreServer = Field(ObjectStoreServer.SEAWEEDFS, description="S3 server in the cluster: seaweedfs, or minio (archived upstream)")
    client_image: PinnedImage = Field(None, description="MinIO client image that creates buckets and users (server minio)")


class AppServiceConfig(InputModel):
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
    WAREHOUSE = "warehouse"  # the stack's warehouse (mlops:warehouse)


class GitSource(InputModel):
    """A directory of a git repository, checked out by git-sync. Without `git`, the path is in the image."""

    git: Optional[GitUrl] = Field(None, description="Repository URL; unset: use the path inside the image")
    ref: str = Field("main", description="Branch, tag or commit to check out")
    path: Optional[str] = Field(None, description="Directory inside the checkout (relative), or inside the image (absolute)")
    credentials_secret: Optional[DnsLabel] = Field(
        None, description="Secret with GITSYNC_USERNAME/GITSYNC_PASSWORD for a private repository"
    )


class FeastConfig(AppServiceConfig):
    offline_store: Optional[OfflineStore] = Field(
        None, description="file (Parquet on the lake), postgres (tables in the feast database) or warehouse (mlops:warehouse); "
                          "default warehouse when one is enabled, else file")
    materialize_schedule: Cron = Field("0 * * * *", description="Cron schedule of feast materialize-incremental")
    repository: GitSource = Field(GitSource(), description="The feature repository that `feast apply` registers")


class MonitoringConfig(InputModel):
    """The scheduled Evidently job: a drift report per variant of every capturing endpoint, and of
    `current`, each against `reference`, saved to the workspace; drift asks for retraining."""

    enabled: bool = True
    schedule: Cron = Field("0 6 * * *", description="Cron schedule of the monitoring job")
    threshold: float = Field(
        0.5, gt=0, le=1, description="Share of drifted columns, above 0 and up to 1, at which a variant's drift emits "
        "the Airflow asset event <endpoint>_drift (retraining)",
    )
    window_hours: int = Field(24, ge=1, le=720, description="Hours of captured requests each variant's report covers")
    project: str = Field("mlops", min_length=1, description="Evidently project the snapshots go to")
    reference: str = Field(
        "example/churn/reference.parquet", min_length=1,
        description="Parquet key in the lake bucket: the data the served model was trained on (with its predictions in a column 'prediction', if any)",
    )
    current: str = Field(
        "example/churn/current.parquet", description="Parquet key in the lake bucket: a dataset to check as well; empty: none"
    )


class EvidentlyConfig(AppServiceConfig):
    monitoring: MonitoringConfig = MonitoringConfig()


class AirflowConfig(InputModel):
    """Airflow 3 in the cluster (KubernetesExecutor), or managed (MWAA, AWS only)."""

    mode: Optional[ServiceMode] = Field(None, description="in-cluster or managed; the default is in-cluster")
    image: PinnedImage = Field(None, description="Image of every Airflow component and task pod; default the platform image")
    dags: GitSource = Field(GitSource(), description="Where the DAGs come from: a git repository (git-sync) or the image")
    parallelism: Optional[int] = Field(None, ge=1, le=1024, description="Task pods at once; default 4/16/64 by environment")
    ingress: IngressConfig = IngressConfig()


class ServicesConfig(InputModel):
    postgres: PostgresConfig = PostgresConfig()
    redis: DataServiceConfig = DataServiceConfig()
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    mlflow: MlflowConfig = MlflowConfig()
    feast: FeastConfig = FeastConfig()
    airflow: AirflowConfig = AirflowConfig()
    evidently: EvidentlyConfig = EvidentlyConfig()
    notebooks: NotebooksConfig = NotebooksConfig()
    events: EventsConfig = EventsConfig()


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
    api_workers: int


@dataclass(frozen=True)
class Services:
    postgres: DataService
    redis: DataService
    object_store: DataService
    mlflow: Mlflow
    feast: Feast
    evidently: Evidently
    airflow: Airflow
    notebooks: Notebooks
    events: Events

    @property
    def jobs_image(self) -> str:
        """The platform's own jobs (bucket setup, backup, the post-deploy check) and model servers of the
        platform image take the image of an application that runs in the cluster: a mirror set for one
        of them is used, whichever is managed."""
        in_cluster = (a.image for a in (self.mlflow, self.feast, self.evidently, self.airflow) if a.mode is ServiceMode.IN_CLUSTER)
        return next(in_cluster, PLATFORM_IMAGE)


def _mode_of(service: str, given: Optional[ServiceMode], backend: Backend, problems: Problems) -> ServiceMode:
    managed_ok = MANAGED_SERVICES[backend]
    if given is None:
        default_managed = service in MANAGED_BY_DEFAULT and service in managed_ok
        return ServiceMode.MANAGED if default_managed else ServiceMode.IN_CLUSTER
    if given is ServiceMode.MANAGED and service not in managed_ok:
        problems.not_allowed(f"services.{service}.mode", given.value, f"in-cluster with backend {backend.value!r}")
    return given


def _data_service(service: str, given: DataServiceConfig, server: ObjectStoreServer, environment: Environment,
                  backend: Backend, problems: Problems) -> DataService:
    size = sized(DEFAULT_SIZES[environment][service], given.replicas, given.resources, given.storage)
    if service in ("postgres", "redis") and size.replicas != 1:
        problems.not_allowed(f"services.{service}.replicas", size.replicas,
                             "1 in-cluster (a single instance; for high availability use mode: managed on aws or azure)")
    image = given.image or DEFAULT_IMAGES[service]
    if service == "objectStore":
        if not given.replicas and size.replicas > 1:
            size = dataclasses.replace(size, replicas=HA_OBJECT_STORE_REPLICAS[server])
        if server is ObjectStoreServer.MINIO:
            image = given.image or MINIO_IMAGE
            if size.replicas in (2, 3):
                problems.not_allowed("services.objectStore.replicas", size.replicas, "1, or 4 and more (a MinIO erasure set)")
        elif size.replicas == 2:
            problems.not_allowed("services.objectStore.replicas", size.replicas,
                                 "1, or 3 and more (SeaweedFS's masters elect a leader by majority)")
    return DataService(_mode_of(service, given.mode, backend, problems), image, size, given.storage_class)


def _source(key: str, given: GitSource, image_path: str, problems: Problems) -> GitSource:
    if given.git is None:
        path = given.path or image_path
        if not path.startswith("/"):
            problems.not_allowed(f"{key}.path", path, "an absolute path inside the image when git is unset")
    else:
        path = given.path or "."
        if path.startswith("/") or ".." in path.split("/"):
            problems.not_allowed(f"{key}.path", path, "a path relative to the repository root, without '..', when git is set")
    return given.model_copy(update={"path": path})


def resolve(raw: ServicesConfig, environment: Environment, backend: Backend, problems: Problems) -> Services:
    def size_of(key: str, replicas: Optional[int], requested: Optional[ResourcesConfig]) -> Size:
        return sized(DEFAULT_SIZES[environment][key], replicas, requested)

    def mode_of(service: str, given: Optional[ServiceMode]) -> ServiceMode:
        return _mode_of(service, given, backend, problems)

    server = raw.object_store.server
    data = {service: _data_service(service, given, server, environment, backend, problems)
            for service, given in (("postgres", raw.postgres), ("redis", raw.redis), ("objectStore", raw.object_store))}
    if (raw.evidently.replicas or 1) != 1:
        problems.not_allowed("services.evidently.replicas", raw.evidently.replicas,
                             "1 (the UI is the one writer of its workspace; writers go through its API)")
    return Services(
        postgres=data["postgres"], redis=data["redis"], object_store=data["objectStore"],
        mlflow=Mlflow(
            mode=mode_of("mlflow", raw.mlflow.mode),
            image=raw.mlflow.image or DEFAULT_IMAGES["mlflow"],
            size=size_of("mlflow", raw.mlflow.replicas, raw.mlflow.resources),
            workers=raw.mlflow.workers or DEFAULT_MLFLOW_WORKERS[environment],
            ingress=check_ingress("services.mlflow.ingress", raw.mlflow.ingress, problems),
        ),
        feast=Feast(
            mode=mode_of("feast", raw.feast.mode),
            image=raw.feast.image or DEFAULT_IMAGES["feast"],
            size=size_of("feast", raw.feast.replicas, raw.feast.resources),
            offline_store=raw.feast.offline_store or OfflineStore.FILE,  # stack.resolve: warehouse when one is enabled
            materialize_schedule=raw.feast.materialize_schedule,
            repository=_source("services.feast.repository", raw.feast.repository, IMAGE_FEATURE_REPO, problems),
        ),
        evidently=Evidently(
            mode=mode_of("evidently", raw.evidently.mode),
            image=raw.evidently.image or DEFAULT_IMAGES["evidently"],
            size=size_of("evidently", raw.evidently.replicas, raw.evidently.resources),
            monitoring=raw.evidently.monitoring,
        ),
        airflow=Airflow(
            mode=mode_of("airflow", raw.airflow.mode),
            image=raw.airflow.image or DEFAULT_IMAGES["airflow"],
            sizes={c: size_of(f"airflow{c[0].upper()}{c[1:]}", None, None) for c in AIRFLOW_COMPONENTS},
            dags=_source("services.airflow.dags", raw.airflow.dags, IMAGE_DAGS, problems),
            parallelism=raw.airflow.parallelism or DEFAULT_AIRFLOW_PARALLELISM[environment],
            ingress=check_ingress("services.airflow.ingress", raw.airflow.ingress, problems),
            api_workers=DEFAULT_AIRFLOW_API_WORKERS[environment],
        ),
        notebooks=_notebooks(raw, environment, backend, problems),
        events=events_section.resolve(raw.events, backend, problems),
    )


def _notebooks(raw: ServicesConfig, environment: Environment, backend: Backend, problems: Problems) -> Notebooks:
    notebooks = notebooks_section.resolve(raw.notebooks, environment, backend, problems)
    if notebooks.managed and backend is not Backend.ENSEMBLE and (raw.mlflow.mode or ServiceMode.IN_CLUSTER) is ServiceMode.IN_CLUSTER:
        problems.not_allowed("services.notebooks.mode", "managed", "in-cluster while MLflow runs in the cluster (a workbench "
                             "outside the cluster reaches a managed tracking server only: set services.mlflow.mode: managed)")
    return notebooks
