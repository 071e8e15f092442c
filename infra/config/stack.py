"""stack: the stack as a whole (environment, backend, protection, cluster, namespaces, labels, owner), and StackConfig."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Optional

from pydantic import Field

from . import aws as aws_section
from . import azure as azure_section
from . import serving as serving_section
from . import services as services_section
from . import warehouse as warehouse_section
from .aws import Aws, AwsConfig
from .azure import Azure, AzureConfig
from .choices import Backend, Environment, ObjectStoreServer, ServiceMode
from .errors import Problems
from .images import DEFAULT_IMAGES
from .serving import Serving, ServingConfig
from .events import Events
from .notebooks import Notebooks
from .services import Airflow, BackupConfig, DataService, Evidently, Feast, Mlflow, Services, ServicesConfig
from .warehouse import Warehouse, WarehouseConfig
from mlops_jobs.pipeline_names import DATABASE_CONSUMERS, HUB_DATABASE_CONSUMER, WAREHOUSE_CONSUMER

from .types import LABEL_KEY, LABEL_VALUE, DnsLabel, InputModel, Owner, PinnedImage

# The one rule for an ephemeral stack's name: staging-pr-<N>, N a pull request number (no 0, no
# leading zero). mlops_stack/lifecycle.py takes it from here; the policy pack, which runs without this
# package, has the same pattern (tests/unit/test_ephemeral_rule.py checks that they agree).
EPHEMERAL_STACK = re.compile(r"^(?P<env>staging)-pr-(?P<pr>[1-9]\d*)$")

ENVIRONMENT_LABEL = "mlops-stack/environment"
# Set by `mlops-stack env up` on an ephemeral stack (mlops_stack/lifecycle.py).
OWNER_LABEL = "mlops-stack/owner"
EXPIRES_LABEL = "mlops-stack/expires"
DEFAULT_TTL_HOURS = 72
# On AKS every pod opts in to workload identity (the webhook ignores pods without this label); a pod
# whose service account names no identity gets none.
BACKEND_LABELS = {Backend.AZURE: {"azure.workload.identity/use": "true"}}

DEFAULT_NAMESPACES = {"platform": "mlops", "pipelines": "mlops-pipelines"}


class ClusterConfig(InputModel):
    """Where the workloads run. Ensemble: an existing cluster. Clouds: a new cluster, or an existing one."""

    kubeconfig: Optional[str] = Field(None, description="Path to a kubeconfig file; default $KUBECONFIG or ~/.kube/config")
    context: Optional[str] = Field(None, description="kubeconfig context; default the current context")
    create: Optional[bool] = Field(None, description="Clouds only: create the cluster (default) or use an existing one")
    name: Optional[str] = Field(None, description="Clouds only: the name of the existing cluster when create is false")


class NamespacesConfig(InputModel):
    platform: DnsLabel = Field(DEFAULT_NAMESPACES["platform"], description="Namespace of the services")
    pipelines: DnsLabel = Field(DEFAULT_NAMESPACES["pipelines"], description="Namespace where pipelines run and read their config")
    create: bool = Field(True, description="Create the namespaces (false: they exist already)")


class SmokeConfig(InputModel):
    """The check that ends every `pulumi up`: a Job that uses every service as a pipeline would."""

    enabled: bool = Field(True, description="Run the check; `pulumi up` fails when it fails")
    timeout_seconds: int = Field(600, ge=60, le=7200, description="How long the check may take before it counts as failed")


class StackConfigInput(InputModel):
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
    owner: Optional[Owner] = Field(None, description="Team or person in the owner tag of every cloud resource; required on aws and azure")
    aws: AwsConfig = AwsConfig()
    azure: AzureConfig = AzureConfig()
    serving: ServingConfig = ServingConfig()
    smoke: SmokeConfig = SmokeConfig()
    warehouse: WarehouseConfig = WarehouseConfig()


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
    notebooks: Notebooks
    events: Events
    git_sync_image: str
    jobs_image: str  # the platform image of the platform's own jobs: an in-cluster application's
    owner: str  # "" on the ensemble when not set
    aws: Optional[Aws]  # set with backend aws
    azure: Optional[Azure]  # set with backend azure
    serving: Serving
    smoke: SmokeConfig
    warehouse: Optional[Warehouse] = None  # None: no warehouse

    @property
    def database_consumers(self) -> tuple[str, ...]:
        """Who gets a database and login of their own in the platform's PostgreSQL."""
        return (*DATABASE_CONSUMERS, *((HUB_DATABASE_CONSUMER,) if self.notebooks.in_cluster else ()),
                *((WAREHOUSE_CONSUMER,) if self.warehouse and self.warehouse.in_platform_database else ()))

    @property
    def cloud_tags(self) -> dict[str, str]:
        """Tags on every cloud resource: who and what it belongs to, and when an ephemeral stack may go."""
        tags = {"project": "mlops-stack", "stack": self.stack, "environment": self.environment.value, "owner": self.owner}
        if self.ephemeral:
            # `mlops-stack env up` labels the expiry time; a stack made ephemeral by hand gets the default TTL.
            tags["ttl"] = self.labels.get(EXPIRES_LABEL) or f"{DEFAULT_TTL_HOURS}h"
        return tags


def environment_from_stack(stack: str) -> Optional[Environment]:
    match = EPHEMERAL_STACK.match(stack)
    name = match["env"] if match else stack
    try:
        return Environment(name)
    except ValueError:
        return None


def resolve(stack: str, raw: StackConfigInput) -> StackConfig:
    """Every default applied and every check run; one ConfigError lists all the problems."""
    problems = Problems()
    environment = raw.environment or environment_from_stack(stack)
    if environment is None:
        problems.add("environment", f"not set, and the stack name {stack!r} does not imply one; "
                     "allowed: local, staging, production (or name the stack local, staging, staging-pr-<N>, production)")
        environment = Environment.LOCAL
    ephemeral, protect = _protection(stack, raw, environment, problems)
    backend = raw.backend
    _check_stack_keys(raw, problems)
    services = services_section.resolve(raw.services, environment, backend, problems)
    # `mlops-stack env up` labels who opened the stack: on a PR stack, they own it, not the team.
    owner = raw.labels.get(OWNER_LABEL) or raw.owner or ""
    if backend is not Backend.ENSEMBLE and not owner:
        problems.missing("owner", "the team or person who owns this stack's cloud resources (tagged on each)")
    _check_cluster(raw, services, problems)
    serving = serving_section.resolve(raw.serving, environment, backend, services.jobs_image, raw.azure.container_registry_id,
                                      services.mlflow.mode is ServiceMode.MANAGED, problems)
    aws = aws_section.resolve(raw.aws, environment, ephemeral, problems) if backend is Backend.AWS else None
    azure = azure_section.resolve(raw.azure, environment, problems) if backend is Backend.AZURE else None
    warehouse = warehouse_section.resolve(raw.warehouse, backend, environment, problems)
    feast = dataclasses.replace(services.feast, offline_store=warehouse_section.feast_offline_store(
        raw.services.feast.offline_store, warehouse, problems))
    problems.raise_any()
    return StackConfig(
        stack=stack, environment=environment, backend=backend, ephemeral=ephemeral, protect=protect,
        cluster=raw.cluster, namespaces=raw.namespaces,
        # Every object says which environment it belongs to; the policy pack reads it.
        labels={**raw.labels, ENVIRONMENT_LABEL: environment.value, **BACKEND_LABELS.get(backend, {})},
        postgres=services.postgres, redis=services.redis, object_store=services.object_store,
        object_store_server=raw.services.object_store.server,
        object_store_client_image=raw.services.object_store.client_image or DEFAULT_IMAGES["objectStoreClient"],
        postgres_backup=raw.services.postgres.backup,
        mlflow=services.mlflow, feast=feast, evidently=services.evidently, airflow=services.airflow, notebooks=services.notebooks, events=services.events,
        git_sync_image=raw.git_sync_image or DEFAULT_IMAGES["gitSync"], jobs_image=services.jobs_image,
        owner=owner, aws=aws, azure=azure, serving=serving, smoke=raw.smoke, warehouse=warehouse,
    )


def _protection(stack: str, raw: StackConfigInput, environment: Environment, problems: Problems) -> tuple[bool, bool]:
    """Whether the stack is ephemeral and whether its stateful resources are protected: production is never freely destroyable."""
    production = environment is Environment.PRODUCTION
    ephemeral = raw.ephemeral if raw.ephemeral is not None else bool(EPHEMERAL_STACK.match(stack))
    if ephemeral and production:
        problems.not_allowed("ephemeral", True, "false in production (production data is never freely destroyable)")
    protect = raw.protect if raw.protect is not None else (production and not ephemeral)
    if production and raw.protect is False:
        problems.not_allowed("protect", False, "true in production (unprotect resources one by one with `pulumi state unprotect`)")
    if ephemeral and raw.protect:
        problems.not_allowed("protect", True, "false on an ephemeral stack (it must be destroyable)")
    return ephemeral, protect


def _check_stack_keys(raw: StackConfigInput, problems: Problems) -> None:
    if raw.backend is Backend.ENSEMBLE:
        if raw.cluster.create:
            problems.not_allowed("cluster.create", True, "false or unset with backend ensemble (it uses the cluster of your kubeconfig)")
        if raw.cluster.name is not None:
            problems.not_allowed("cluster.name", raw.cluster.name, "unset with backend ensemble (use cluster.context)")
    for key, value in raw.labels.items():
        if not LABEL_KEY.matches(key):
            problems.not_allowed(f"labels.{key}", key, LABEL_KEY.allowed)
        if not LABEL_VALUE.matches(value):
            problems.not_allowed(f"labels.{key}", value, LABEL_VALUE.allowed)
    if raw.namespaces.platform == raw.namespaces.pipelines:
        problems.not_allowed("namespaces.pipelines", raw.namespaces.pipelines, "a namespace other than namespaces.platform")


# What each cloud calls its cluster, and why an existing one must be named.
_CLUSTER_KIND = {Backend.AWS: ("EKS", "IAM roles for service accounts"), Backend.AZURE: ("AKS", "workload identity")}


def _check_cluster(raw: StackConfigInput, services: Services, problems: Problems) -> None:
    """On a cloud: a created cluster or a named existing one in a given network, and the data services managed."""
    backend, cluster = raw.backend, raw.cluster
    if backend is Backend.ENSEMBLE:
        return
    kind, needs = _CLUSTER_KIND[backend]
    if cluster.create is not False and cluster.name is not None:
        problems.not_allowed("cluster.name", cluster.name, "unset when the cluster is created (set cluster.create: false to use an existing one)")
    if cluster.create is False and not cluster.name:
        problems.missing("cluster.name", f"the name of the existing {kind} cluster (its OIDC issuer is needed for {needs})")
    if backend is Backend.AWS and cluster.create is False and not raw.aws.network.vpc_id:
        problems.missing("aws.network.vpcId", "the VPC of the existing cluster "
                         "(with aws.network.privateSubnetIds), so the databases are reachable from it")
    if backend is Backend.AZURE and cluster.create is False and not raw.azure.network.vnet_id:
        problems.missing("azure.network.vnetId", "the VNet of the existing cluster (with azure.network clusterSubnetId, "
                         "postgresSubnetId and endpointsSubnetId), so the databases are reachable from it")
    if backend is Backend.AWS:
        prefix = int(raw.aws.network.cidr.split("/")[1])
        if not 16 <= prefix <= 24:
            problems.not_allowed("aws.network.cidr", raw.aws.network.cidr, "a block from /16 to /24 (it is split into 16 subnets)")
    for service, resolved in (("postgres", services.postgres), ("redis", services.redis), ("objectStore", services.object_store)):
        if resolved.mode is ServiceMode.IN_CLUSTER:
            problems.not_allowed(f"services.{service}.mode", "in-cluster",
                                 f"managed with backend {backend.value!r} (in-cluster data services run on backend ensemble)")
