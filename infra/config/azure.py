"""azure: the Azure section (location, network, AKS, PostgreSQL, Redis, storage, Key Vault), sizes per environment, checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from pydantic import Field

from .choices import Environment, by_environment
from .errors import Problems
from .types import Cidr, InputModel, Pattern

_ARM = "/subscriptions/<id>/resourceGroups/<rg>/providers"
AZURE_LOCATION = Pattern(r"^[a-z]+[a-z0-9]*$", "an Azure region name, e.g. westeurope")
UUID = Pattern(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", "a subscription ID (a GUID)")
RESOURCE_GROUP = Pattern(r"^[-\w._()]{0,89}[-\w_()]$", "a resource group name: letters, digits, '-', '_', '.', '(', ')', at most 90, not ending in '.'")
AZURE_SUBNET_ID = Pattern(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$",
    f"a subnet resource ID: {_ARM}/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
)
AZURE_VNET_ID = Pattern(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+$",
    f"a virtual network resource ID: {_ARM}/Microsoft.Network/virtualNetworks/<vnet>",
)
VM_SIZE = Pattern(r"^Standard_[A-Za-z0-9_]+$", "an Azure VM size, e.g. Standard_D4s_v5")
ACR_ID = Pattern(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[A-Za-z0-9]{5,50}$",
    f"a container registry resource ID: {_ARM}/Microsoft.ContainerRegistry/registries/<name>",
)
PG_SKU = Pattern(
    r"^Standard_[BDE][A-Za-z0-9_]+$",
    "a Flexible Server compute size: Standard_B* (Burstable), Standard_D* (General Purpose) or Standard_E* (Memory Optimized)",
)
MANAGED_REDIS_SKU = Pattern(r"^(Balanced_B|MemoryOptimized_M|ComputeOptimized_X)[0-9]+$", "an Azure Managed Redis SKU, e.g. Balanced_B1")
AzureLocation, Uuid, ResourceGroup = AZURE_LOCATION.type, UUID.type, RESOURCE_GROUP.type
AzureSubnetId, AzureVnetId, VmSize, AcrId = AZURE_SUBNET_ID.type, AZURE_VNET_ID.type, VM_SIZE.type, ACR_ID.type
PgSku, ManagedRedisSku = PG_SKU.type, MANAGED_REDIS_SKU.type


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


def _by_environment(pick) -> str:
    return by_environment(AZURE_SIZES, pick)


PG_TIERS = {"B": "Burstable", "D": "GeneralPurpose", "E": "MemoryOptimized"}


class AzureNetworkConfig(InputModel):
    """A new virtual network (default), or subnets of an existing one given by their resource IDs."""

    cidr: Cidr = Field("10.50.0.0/16", description="Address space of a new VNet; split into the cluster, PostgreSQL and private endpoint subnets")
    vnet_id: Optional[AzureVnetId] = Field(None, description="An existing VNet (the private DNS zones are linked to it); unset: create one")
    cluster_subnet_id: Optional[AzureSubnetId] = Field(None, description="Existing VNet: the subnet of the AKS nodes")
    postgres_subnet_id: Optional[AzureSubnetId] = Field(
        None, description="Existing VNet: an empty subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers"
    )
    endpoints_subnet_id: Optional[AzureSubnetId] = Field(None, description="Existing VNet: the subnet of the private endpoints")


class AzureAksConfig(InputModel):
    version: str = Field("1.33", pattern=r"^1\.[0-9]{2}$", description="Kubernetes version of a new AKS cluster")
    resource_group: Optional[ResourceGroup] = Field(
        None, description="Resource group of an existing cluster (cluster.create: false); default azure.resourceGroup"
    )
    system_vm_size: Optional[VmSize] = Field(None, description=f"VM size of the system node pool; default {_by_environment(lambda s: s.system_vm_size)}")
    system_nodes: Optional[int] = Field(None, ge=1, le=100, description=f"Nodes of the system pool; default {_by_environment(lambda s: s.system_nodes)}")
    vm_size: Optional[VmSize] = Field(None, description=f"VM size of the user node pool (the workloads); default {_by_environment(lambda s: s.vm_size)}")
    min_nodes: Optional[int] = Field(None, ge=1, le=1000, description=f"Fewest nodes of the user pool; default {_by_environment(lambda s: s.min_nodes)}")
    max_nodes: Optional[int] = Field(None, ge=1, le=1000, description=f"Most nodes of the user pool; default {_by_environment(lambda s: s.max_nodes)}")
    public_endpoint: Optional[bool] = Field(None, description="Kubernetes API reachable from the internet; default true, false (a private cluster) in production")
    authorized_ip_ranges: list[Cidr] = Field(
        default_factory=list, description="Who may reach a public API endpoint; default everywhere"
    )


class AzurePostgresConfig(InputModel):
    sku: Optional[PgSku] = Field(None, description=f"Compute size; default {_by_environment(lambda s: s.postgres_sku)}")
    storage_gb: Optional[int] = Field(None, ge=32, le=32768, description=f"Storage in GiB; default {_by_environment(lambda s: s.postgres_storage_gb)} (grows automatically)")
    version: str = Field("17", pattern=r"^[0-9]{2}$", description="PostgreSQL major version")
    backup_retention_days: Optional[int] = Field(None, ge=7, le=35, description=f"Days of backups; default {_by_environment(lambda s: s.postgres_backup_days)}")


class RedisSku(str, Enum):
    BASIC = "Basic"
    STANDARD = "Standard"
    PREMIUM = "Premium"


class RedisService(str, Enum):
    CACHE = "cache"  # Azure Cache for Redis
    MANAGED_REDIS = "managed-redis"  # Azure Managed Redis, its successor




class AzureRedisConfig(InputModel):
    service: RedisService = Field(
        RedisService.CACHE,
        description="cache (Azure Cache for Redis, retiring on 2028-09-30) or managed-redis (Azure Managed Redis, its successor)",
    )
    sku: Optional[RedisSku] = Field(None, description=f"cache: Basic, Standard (a replica) or Premium (replica, zones); default {_by_environment(lambda s: s.redis_sku)}")
    capacity: Optional[int] = Field(None, ge=0, le=6, description=f"cache: size within the SKU family (C0-C6, P1-P5); default {_by_environment(lambda s: s.redis_capacity)}")
    managed_sku: Optional[ManagedRedisSku] = Field(
        None, description="managed-redis: the SKU; default Balanced_B0, Balanced_B1 (highly available) in production"
    )


class AzureStorageConfig(InputModel):
    hierarchical_namespace: bool = Field(
        True, description="ADLS Gen2 (default). Azure does not version blobs in such accounts; set false for a flat account whose blobs are versioned in production"
    )
    public_network_access: Optional[bool] = Field(
        None, description="Reachable outside the VNet (with Entra ID rights only; shared keys stay off); default true, false in production"
    )


class AzureKeyVaultConfig(InputModel):
    public_network_access: Optional[bool] = Field(
        None, description="Reachable outside the VNet (with Entra ID rights only); default true, false in production. "
                          "pulumi up writes secrets through Azure Resource Manager either way"
    )


class AzureConfig(InputModel):
    """Where and how big the Azure resources are (backend azure)."""

    location: AzureLocation = Field("westeurope", description="Azure region of every resource")
    subscription_id: Optional[Uuid] = Field(None, description="Subscription; default the one of your Azure login")
    resource_group: Optional[ResourceGroup] = Field(None, description="An existing resource group; unset: create mlops-<stack>")
    network: AzureNetworkConfig = AzureNetworkConfig()
    aks: AzureAksConfig = AzureAksConfig()
    postgres: AzurePostgresConfig = AzurePostgresConfig()
    redis: AzureRedisConfig = AzureRedisConfig()
    storage: AzureStorageConfig = AzureStorageConfig()
    key_vault: AzureKeyVaultConfig = AzureKeyVaultConfig()
    container_registry_id: Optional[AcrId] = Field(
        None, description="The Azure Container Registry that managed model endpoints pull <name>.azurecr.io images from (they get AcrPull on it)"
    )



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




def resolve(raw: AzureConfig, environment: Environment, problems: Problems) -> Azure:
    production = environment is Environment.PRODUCTION
    network, aks, redis = raw.network, raw.aks, raw.redis
    existing = _existing_network(network, problems)
    prefix = int(network.cidr.split("/")[1])
    if not 16 <= prefix <= 22:
        problems.not_allowed("azure.network.cidr", network.cidr,
                             "a block from /16 to /22 (it is split into the cluster, PostgreSQL and endpoint subnets)")
    sizes = _sizes(raw, environment, problems)
    tier = PG_TIERS[sizes.postgres_sku.split("_")[1][0]]
    if production and tier == "Burstable":
        problems.not_allowed("azure.postgres.sku", sizes.postgres_sku, "a Standard_D* or Standard_E* size in production "
                             "(zone-redundant HA needs General Purpose or Memory Optimized)")
    _check_redis(redis, sizes, production, problems)
    public_endpoint = aks.public_endpoint if aks.public_endpoint is not None else not production
    if aks.authorized_ip_ranges and not public_endpoint:
        problems.not_allowed("azure.aks.authorizedIpRanges", aks.authorized_ip_ranges,
                             "empty while the cluster is private (set azure.aks.publicEndpoint: true)")
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
        postgres_version=raw.postgres.version,
        postgres_tier=tier,
        postgres_high_availability=production,
        redis_family="P" if sizes.redis_sku == "Premium" else "C",
        redis_service=redis.service.value,
        managed_redis_sku=redis.managed_sku or ("Balanced_B1" if production else "Balanced_B0"),
        hierarchical_namespace=raw.storage.hierarchical_namespace,
        storage_public_access=raw.storage.public_network_access if raw.storage.public_network_access is not None else not production,
        key_vault_public_access=raw.key_vault.public_network_access if raw.key_vault.public_network_access is not None else not production,
        container_registry_id=raw.container_registry_id,
    )


def _existing_network(network: AzureNetworkConfig, problems: Problems) -> Optional[AzureExistingNetwork]:
    subnets = {"clusterSubnetId": network.cluster_subnet_id, "postgresSubnetId": network.postgres_subnet_id,
               "endpointsSubnetId": network.endpoints_subnet_id}
    if not (network.vnet_id or any(subnets.values())):
        return None
    missing = [key for key, value in {"vnetId": network.vnet_id, **subnets}.items() if not value]
    if missing:
        problems.missing(f"azure.network.{missing[0]}",
                         "with an existing VNet, all of vnetId, clusterSubnetId, postgresSubnetId and endpointsSubnetId")
        return None
    for key, value in subnets.items():
        if not value.startswith(network.vnet_id + "/subnets/"):
            problems.not_allowed(f"azure.network.{key}", value, "a subnet of azure.network.vnetId")
    return AzureExistingNetwork(network.vnet_id, network.cluster_subnet_id, network.postgres_subnet_id, network.endpoints_subnet_id)


def _sizes(raw: AzureConfig, environment: Environment, problems: Problems) -> AzureSizes:
    aks, postgres, redis = raw.aks, raw.postgres, raw.redis
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
        problems.not_allowed("azure.aks", {"minNodes": sizes.min_nodes, "maxNodes": sizes.max_nodes}, "minNodes <= maxNodes")
    return sizes


def _check_redis(redis: AzureRedisConfig, sizes: AzureSizes, production: bool, problems: Problems) -> None:
    service = redis.service
    if service is RedisService.CACHE and redis.managed_sku:
        problems.not_allowed("azure.redis.managedSku", redis.managed_sku, "unset with service cache (set azure.redis.service: managed-redis)")
    if service is RedisService.MANAGED_REDIS and (redis.sku or redis.capacity is not None):
        key = "sku" if redis.sku else "capacity"
        problems.not_allowed(f"azure.redis.{key}", redis.sku.value if redis.sku else redis.capacity,
                             "unset with service managed-redis (use azure.redis.managedSku)")
    if production and service is RedisService.CACHE and sizes.redis_sku == "Basic":
        problems.not_allowed("azure.redis.sku", "Basic", "Standard or Premium in production (Basic has no replica)")
    if sizes.redis_sku == "Premium" and not 1 <= sizes.redis_capacity <= 5:
        problems.not_allowed("azure.redis.capacity", sizes.redis_capacity, "1 to 5 with sku Premium (P1-P5)")
