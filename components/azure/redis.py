"""Azure Cache for Redis: TLS only (the non-TLS port stays closed), reachable only through a private
endpoint in the VNet. Premium (production) adds a replica in another zone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.private_endpoint import private_endpoint

TLS_PORT = 6380


@dataclass(frozen=True)
class RedisCacheArgs:
    cache_name: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    subnet_id: pulumi.Input[str]  # of the private endpoint
    private_zone_id: pulumi.Input[str]
    sku: str  # Basic, Standard, Premium
    family: str  # C or P
    capacity: int
    zones: tuple[str, ...]
    protect: bool
    tags: Mapping[str, str]


class RedisCache(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: int
    password: pulumi.Output[str]

    def __init__(self, name: str, args: RedisCacheArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:RedisCache", name, None, opts)
        premium = args.sku == "Premium"
        cache = azure.redis.Redis(
            f"{name}-cache",
            name=args.cache_name,
            resource_group_name=args.resource_group,
            location=args.location,
            tags=dict(args.tags),
            sku=azure.redis.SkuArgs(name=args.sku, family=args.family, capacity=args.capacity),
            enable_non_ssl_port=False,
            minimum_tls_version="1.2",
            public_network_access="Disabled",
            redis_version="6",
            # Feast's Redis client signs in with a key: Entra ID tokens expire under its connections.
            disable_access_key_authentication=False,
            replicas_per_primary=1 if premium else None,
            zones=list(args.zones[:2]) if premium and args.zones else None,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        endpoint = private_endpoint(self, name, cache.id, "redisCache", args.resource_group, args.location, args.subnet_id, args.private_zone_id, args.tags)
        keys = azure.redis.list_redis_keys_output(name=cache.name, resource_group_name=args.resource_group, opts=pulumi.InvokeOptions(parent=self))
        self.password = pulumi.Output.secret(keys.primary_key)
        # The name resolves to the private endpoint's address once its DNS record exists.
        self.host = pulumi.Output.all(cache.host_name, endpoint.id).apply(lambda v: v[0])
        self.port = TLS_PORT
        self.register_outputs({"host": self.host, "port": self.port})


MANAGED_REDIS_PORT = 10000


@dataclass(frozen=True)
class ManagedRedisArgs:
    cluster_name: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    subnet_id: pulumi.Input[str]  # of the private endpoint
    private_zone_id: pulumi.Input[str]
    sku: str  # e.g. Balanced_B1
    high_availability: bool
    protect: bool
    tags: Mapping[str, str]


class ManagedRedis(pulumi.ComponentResource):
    """Azure Managed Redis, the successor of Azure Cache for Redis: one database, TLS only on port 10000,
    reachable only through a private endpoint. The Enterprise clustering policy gives one endpoint that
    plain Redis clients (Feast's) use unchanged."""

    host: pulumi.Output[str]
    port: int
    password: pulumi.Output[str]

    def __init__(self, name: str, args: ManagedRedisArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:ManagedRedis", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        cluster = azure.redisenterprise.RedisEnterprise(
            f"{name}-cluster",
            cluster_name=args.cluster_name,
            resource_group_name=args.resource_group,
            location=args.location,
            tags=dict(args.tags),
            sku=azure.redisenterprise.SkuArgs(name=args.sku),
            minimum_tls_version="1.2",
            public_network_access="Disabled",
            high_availability="Enabled" if args.high_availability else "Disabled",
            opts=stateful,
        )
        database = azure.redisenterprise.Database(
            f"{name}-database",
            database_name="default",
            cluster_name=cluster.name,
            resource_group_name=args.resource_group,
            client_protocol="Encrypted",
            port=MANAGED_REDIS_PORT,
            clustering_policy="EnterpriseCluster",
            # The online store must not lose features silently.
            eviction_policy="NoEviction",
            access_keys_authentication="Enabled",
            opts=stateful,
        )
        endpoint = private_endpoint(self, name, cluster.id, "redisEnterprise", args.resource_group, args.location, args.subnet_id,
                                    args.private_zone_id, args.tags)
        keys = azure.redisenterprise.list_database_keys_output(
            cluster_name=cluster.name, database_name=database.name, resource_group_name=args.resource_group,
            opts=pulumi.InvokeOptions(parent=self),
        )
        self.password = pulumi.Output.secret(keys.primary_key)
        self.host = pulumi.Output.all(cluster.host_name, endpoint.id).apply(lambda v: v[0])
        self.port = MANAGED_REDIS_PORT
        self.register_outputs({"host": self.host, "port": self.port})
