"""ElastiCache (Valkey or Redis OSS): TLS in transit, an auth token, encryption at rest, private subnets.

With two or more nodes (production), a replica in another AZ takes over automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.network import admitting_only

PORT = 6379


@dataclass(frozen=True)
class ElastiCacheArgs:
    replication_group_id: str
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    # The only security groups whose members may connect, by who they are: the cluster's (and MWAA's).
    clients: dict[str, pulumi.Input[str]]
    engine: str  # valkey or redis
    engine_version: str
    node_type: str
    nodes: int  # the primary plus its replicas
    snapshot_days: int
    protect: bool


class ElastiCache(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: int
    password: pulumi.Output[str]

    def __init__(self, name: str, args: ElastiCacheArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:ElastiCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.elasticache.SubnetGroup(f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child)
        firewall = admitting_only(self, name, args.vpc_id, f"Cache {args.replication_group_id}", PORT, args.clients)
        token = random.RandomPassword(f"{name}-auth-token", length=48, special=False, opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        replicated = args.nodes >= 2
        group = aws.elasticache.ReplicationGroup(
            f"{name}-replication-group",
            replication_group_id=args.replication_group_id,
            description=f"Online store and cache of {args.replication_group_id}",
            engine=args.engine,
            engine_version=args.engine_version,
            node_type=args.node_type,
            num_cache_clusters=args.nodes,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[firewall.id],
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            auth_token=pulumi.Output.secret(token.result),
            snapshot_retention_limit=args.snapshot_days,
            final_snapshot_identifier=f"{args.replication_group_id}-final" if args.protect else None,
            apply_immediately=not args.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.host = group.primary_endpoint_address
        self.port = PORT
        self.password = pulumi.Output.secret(token.result)
        self.register_outputs({"host": self.host, "port": self.port})
