"""The cluster half of a cloud backend (EKS, AKS): the namespaces, the setup Job that creates the
consumers' databases on the managed PostgreSQL, the NetworkPolicies, and the applications, pointed at
the managed data services. The cloud half (stacks/aws.py, stacks/azure.py) says where they are."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Optional, Protocol, Sequence

import pulumi

from components.kubernetes.database_setup import DatabaseSetup, DatabaseSetupArgs
from infra.config import StackConfig
from infra.contract import (
    Cache, Database, DatabaseLogin, KubernetesTarget, LakeEvents, ObjectStore, PlatformEndpoints, ServiceUrls, ServingEndpointInfo,
    WarehouseEndpoint,
)
from stacks import applications
from stacks import warehouse
from stacks.cluster import base as cluster_base
from stacks.cluster import network_policies

# Managed PostgreSQL on every cloud requires TLS; the server certificates chain to public CAs.
SSLMODE = "require"


class ManagedPostgres(Protocol):
    """What RDS and Flexible Server both give: where the server is, its admin, the consumers' logins."""

    host: pulumi.Output[str]
    port: int
    admin_user: str
    admin_password: pulumi.Output[str]
    logins: dict[str, DatabaseLogin]


@dataclass(frozen=True)
class ManagedCluster:
    kubeconfig: pulumi.Input[str]  # of the new (or looked-up) cluster; a stack's cluster.kubeconfig wins
    nodes: Sequence[pulumi.Resource]  # what pods need to be scheduled
    postgres: ManagedPostgres
    cache: Cache
    object_store: ObjectStore
    # Service account annotations that give each application (and pipeline pods) its cloud identity.
    identities: Mapping[str, Mapping[str, pulumi.Input[str]]]
    pipeline_identity: Mapping[str, pulumi.Input[str]]
    managed: ServiceUrls  # the services that run managed (SageMaker, MWAA, Azure ML)
    events: LakeEvents  # the lake's event queue (SQS, Service Bus) or the Redis channel
    serving: Mapping[str, ServingEndpointInfo] = field(default_factory=dict)  # managed model endpoints
    # What must be up before the platform is usable, besides the cluster's workloads (managed endpoints).
    managed_components: Sequence[pulumi.Resource] = ()
    # A warehouse of the cloud's own (Athena); None: none, or a database of the PostgreSQL above.
    warehouse: Optional[WarehouseEndpoint] = None


def build(cfg: StackConfig, cluster: ManagedCluster) -> PlatformEndpoints:
    target = cluster_base(cfg, cluster.kubeconfig)
    kubernetes, namespaces, on_cluster = target.provider, target.namespaces, target.opts
    postgres = cluster.postgres
    database_setup = DatabaseSetup(
        "postgres",
        DatabaseSetupArgs(
            namespace=namespaces.platform, image=cfg.postgres.image, host=postgres.host, port=postgres.port, sslmode=SSLMODE,
            admin_user=postgres.admin_user, admin_password=postgres.admin_password, logins=postgres.logins,
            labels=cfg.labels, protect=cfg.protect, depends_on=cluster.nodes,
            warehouse_readers=warehouse.platform_database_readers(cfg),
        ),
        opts=on_cluster,
    )
    database = Database(host=postgres.host, port=postgres.port, sslmode=SSLMODE, logins=postgres.logins)
    endpoints = PlatformEndpoints(
        environment=cfg.environment.value,
        kubernetes=KubernetesTarget(
            provider=kubernetes, platform_namespace=namespaces.platform, pipelines_namespace=namespaces.pipelines,
            pipeline_identity=dict(cluster.pipeline_identity),
        ),
        object_store=cluster.object_store,
        database=database,
        cache=cluster.cache,
        events=cluster.events,
        warehouse=cluster.warehouse or warehouse.platform_database_warehouse(cfg, database, database_setup.reader_logins),
    )
    network_policies(cfg, target, applications.admissions(cfg))
    endpoints = applications.build(
        cfg, endpoints,
        data_services={"postgres": database_setup},
        identities=cluster.identities,
        nodes=tuple(cluster.nodes),
        managed=cluster.managed,
    )
    return dataclasses.replace(
        endpoints, serving={**endpoints.serving, **cluster.serving}, ready=(*endpoints.ready, *cluster.managed_components),
    )
