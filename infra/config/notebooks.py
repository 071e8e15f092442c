"""notebooks: the data scientists' workbench (JupyterHub in the cluster, or SageMaker Studio / Azure ML
compute instances), its defaults per environment, and its checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from pydantic import Field

from infra.contract import Size

from .choices import Backend, Environment, ServiceMode, by_environment
from .errors import Problems
from .images import NOTEBOOK_IMAGE
from .ingress import IngressConfig, check_ingress
from .size import ResourcesConfig, sized
from .types import DnsLabel, InputModel, Pattern, PinnedImage, Quantity

# A JupyterHub user name that is also a valid SageMaker user profile and Azure ML compute instance part.
USER_NAME = Pattern(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$", "a user name: 2 to 20 lowercase letters, digits and '-', starting with a letter")
UserName = USER_NAME.type
EXTENDED_RESOURCE = Pattern(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "an extended resource name, e.g. nvidia.com/gpu")
ExtendedResource = EXTENDED_RESOURCE.type

DEFAULT_ENABLED = {Environment.LOCAL: True, Environment.STAGING: True, Environment.PRODUCTION: False}
DEFAULT_STORAGE = {Environment.LOCAL: "5Gi", Environment.STAGING: "20Gi", Environment.PRODUCTION: "50Gi"}
DEFAULT_CULL_MINUTES = {Environment.LOCAL: 60, Environment.STAGING: 120, Environment.PRODUCTION: 120}
# The hub is one process with its state in PostgreSQL; the proxy holds the routes the hub gives it.
HUB_SIZES = {
    Environment.LOCAL: Size(1, "100m", "256Mi", "1", "1Gi"),
    Environment.STAGING: Size(1, "250m", "512Mi", "1", "1Gi"),
    Environment.PRODUCTION: Size(1, "500m", "1Gi", "2", "2Gi"),
}
PROXY_SIZES = {
    Environment.LOCAL: Size(1, "50m", "64Mi", "500m", "256Mi"),
    Environment.STAGING: Size(1, "100m", "128Mi", "1", "512Mi"),
    Environment.PRODUCTION: Size(1, "200m", "256Mi", "1", "512Mi"),
}
# The managed workbench's instance per user, when services.notebooks.managedInstanceType is unset.
DEFAULT_WORKBENCH_INSTANCE = {Backend.AWS: "ml.t3.medium", Backend.AZURE: "Standard_DS3_v2"}


class NotebookAuth(str, Enum):
    # JupyterHub's own: one password for the users, one for the admins, both generated into a Secret.
    # Single sign-on comes here as a further choice.
    SHARED_PASSWORD = "shared-password"


class NotebookProfileConfig(InputModel):
    """A server size a user picks when starting a server."""

    name: DnsLabel = Field(description="Short name shown in the spawn form, e.g. small")
    description: str = Field("", description="What the profile is for")
    cpu: Quantity = Field(description="CPU request, e.g. 1")
    memory: Quantity = Field(description="Memory request, e.g. 4Gi")
    cpu_limit: Optional[Quantity] = Field(None, description="CPU limit; default twice the request")
    memory_limit: Optional[Quantity] = Field(None, description="Memory limit; default the request")


class TolerationConfig(InputModel):
    key: str = Field(min_length=1, description="Taint key, e.g. nvidia.com/gpu")
    operator: str = Field("Exists", pattern=r"^(Exists|Equal)$", description="Exists or Equal")
    value: Optional[str] = Field(None, description="Taint value (operator Equal)")
    effect: Optional[str] = Field(None, pattern=r"^(NoSchedule|PreferNoSchedule|NoExecute)$",
                                  description="NoSchedule, PreferNoSchedule or NoExecute; unset: any")


class GpuProfileConfig(InputModel):
    """An extra profile with GPUs, on the nodes that have them."""

    enabled: bool = Field(False, description="Offer the GPU profile")
    count: int = Field(1, ge=1, le=16, description="GPUs per server")
    resource: ExtendedResource = Field("nvidia.com/gpu", description="The extended resource of the GPU device plugin")
    cpu: Quantity = Field("4", description="CPU request")
    memory: Quantity = Field("16Gi", description="Memory request (and limit)")
    node_selector: dict[str, str] = Field(default_factory=dict, description="Labels of the GPU nodes")
    tolerations: list[TolerationConfig] = Field(default_factory=list, description="Taints of the GPU nodes to tolerate")


class NotebooksConfig(InputModel):
    """JupyterHub with the pipeline config injected (in-cluster), or the cloud's own workbench (managed)."""

    enabled: Optional[bool] = Field(None, description=f"Give data scientists notebooks; default {by_environment(DEFAULT_ENABLED)}")
    mode: Optional[ServiceMode] = Field(None, description="in-cluster (JupyterHub) or managed (SageMaker Studio on aws, "
                                                          "Azure ML compute instances on azure); default in-cluster")
    image: PinnedImage = Field(None, description="Image of the hub and of every user server; default the notebook image")
    auth: NotebookAuth = Field(NotebookAuth.SHARED_PASSWORD, description="How users sign in: shared-password (generated, in a Secret)")
    admins: list[UserName] = Field(["admin"], description="Users with the admin password, who manage the hub")
    users: list[UserName] = Field(default_factory=list, description="Who may sign in (in-cluster: empty lets anyone "
                                                                     "with the user password in); managed: one workbench each")
    storage: Optional[Quantity] = Field(None, description=f"Home volume per user; default {by_environment(DEFAULT_STORAGE)}")
    storage_class: Optional[str] = Field(None, description="StorageClass of the home volumes; cluster default if unset")
    cull_idle_minutes: Optional[int] = Field(None, ge=10, le=10080, description="Stop a server idle this long; "
                                             f"default {by_environment(DEFAULT_CULL_MINUTES)}")
    profiles: Optional[list[NotebookProfileConfig]] = Field(None, description="Server sizes to choose from; the first is the default")
    gpu: GpuProfileConfig = GpuProfileConfig()
    hub: Optional[ResourcesConfig] = Field(None, description="Resources of the hub")
    ingress: IngressConfig = IngressConfig()
    managed_instance_type: Optional[str] = Field(None, min_length=1, description="Managed: the instance per user; "
                                                 f"default {DEFAULT_WORKBENCH_INSTANCE[Backend.AWS]} on aws, "
                                                 f"{DEFAULT_WORKBENCH_INSTANCE[Backend.AZURE]} on azure")


@dataclass(frozen=True)
class NotebookProfile:
    name: str
    description: str
    size: Size
    gpus: int = 0
    gpu_resource: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Notebooks:
    """The workbench with every default resolved."""

    enabled: bool
    mode: ServiceMode
    image: str
    auth: NotebookAuth
    admins: tuple[str, ...]
    users: tuple[str, ...]
    storage: str
    storage_class: Optional[str]
    cull_idle_seconds: int
    profiles: tuple[NotebookProfile, ...]
    hub_size: Size
    proxy_size: Size
    ingress: IngressConfig
    managed_instance_type: str

    @property
    def in_cluster(self) -> bool:
        return self.enabled and self.mode is ServiceMode.IN_CLUSTER

    @property
    def managed(self) -> bool:
        return self.enabled and self.mode is ServiceMode.MANAGED


def default_profiles(environment: Environment) -> tuple[NotebookProfile, ...]:
    if environment is Environment.LOCAL:
        return (NotebookProfile("standard", "1 CPU, 2 GiB: fits a laptop", Size(1, "250m", "1Gi", "1", "2Gi")),)
    return (
        NotebookProfile("standard", "1 CPU, 4 GiB", Size(1, "1", "4Gi", "2", "4Gi")),
        NotebookProfile("large", "4 CPUs, 16 GiB", Size(1, "4", "16Gi", "8", "16Gi")),
    )


def _profiles(raw: NotebooksConfig, environment: Environment, problems: Problems) -> tuple[NotebookProfile, ...]:
    profiles = default_profiles(environment) if raw.profiles is None else tuple(
        NotebookProfile(p.name, p.description or p.name, Size(1, p.cpu, p.memory, p.cpu_limit or _twice(p.cpu), p.memory_limit or p.memory))
        for p in raw.profiles
    )
    if raw.profiles is not None and not raw.profiles:
        problems.not_allowed("services.notebooks.profiles", [], "at least one profile, or unset for the defaults")
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        problems.not_allowed("services.notebooks.profiles", names, "profiles with distinct names")
    gpu = raw.gpu
    if gpu.enabled:
        if "gpu" in names:
            problems.not_allowed("services.notebooks.profiles", "gpu", "names other than gpu (the GPU profile's name) with gpu.enabled")
        profiles += (NotebookProfile(
            "gpu", f"{gpu.count} GPU(s), {gpu.cpu} CPU, {gpu.memory}", Size(1, gpu.cpu, gpu.memory, gpu.cpu, gpu.memory),
            gpus=gpu.count, gpu_resource=gpu.resource, node_selector=dict(gpu.node_selector),
            tolerations=tuple(t.model_dump(exclude_none=True) for t in gpu.tolerations),
        ),)
    return profiles


def _twice(cpu: str) -> str:
    if cpu.endswith("m"):
        return f"{int(float(cpu[:-1]) * 2)}m"
    return f"{float(cpu) * 2:g}"


def resolve(raw: NotebooksConfig, environment: Environment, backend: Backend, problems: Problems) -> Notebooks:
    key = "services.notebooks"
    enabled = DEFAULT_ENABLED[environment] if raw.enabled is None else raw.enabled
    mode = raw.mode or ServiceMode.IN_CLUSTER
    if mode is ServiceMode.MANAGED and backend is Backend.ENSEMBLE:
        problems.not_allowed(f"{key}.mode", mode.value, "in-cluster with backend 'ensemble' (managed: SageMaker Studio on aws, Azure ML on azure)")
    elif enabled and mode is ServiceMode.MANAGED and not raw.users:
        problems.missing(f"{key}.users", "the users who each get a managed workbench, when mode is managed")
    overlap = sorted(set(raw.admins) & set(raw.users))
    if overlap:
        problems.not_allowed(f"{key}.users", overlap, "names not in admins (an admin signs in with the admin password)")
    if not raw.admins:
        problems.not_allowed(f"{key}.admins", [], "at least one admin, who can stop servers and manage users")
    if len(set(raw.users)) != len(raw.users):
        problems.not_allowed(f"{key}.users", raw.users, "distinct names")
    return Notebooks(
        enabled=enabled, mode=mode, image=raw.image or NOTEBOOK_IMAGE, auth=raw.auth,
        admins=tuple(raw.admins), users=tuple(raw.users),
        storage=raw.storage or DEFAULT_STORAGE[environment], storage_class=raw.storage_class,
        cull_idle_seconds=60 * (raw.cull_idle_minutes or DEFAULT_CULL_MINUTES[environment]),
        profiles=_profiles(raw, environment, problems),
        hub_size=sized(HUB_SIZES[environment], None, raw.hub), proxy_size=PROXY_SIZES[environment],
        ingress=check_ingress(f"{key}.ingress", raw.ingress, problems),
        managed_instance_type=raw.managed_instance_type or DEFAULT_WORKBENCH_INSTANCE.get(backend, ""),
    )
