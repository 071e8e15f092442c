"""The in-cluster data services' building blocks (PostgreSQL, Redis, the object store): a StatefulSet
with a data volume per pod, its headless and client Services and its disruption budget, the
generated passwords and the Secret that holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kubernetes.workload.meta import Placement, labels, selector
from components.kubernetes.workload.pods import disruption_budget
from infra.contract import Size
from infra.contract import Database


@dataclass(frozen=True)
class StatefulServiceArgs:
    """What every in-cluster data service (PostgreSQL, Redis, the object store) takes."""

    namespace: pulumi.Input[str]
    image: str
    size: Size
    storage_class: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)
    # Production: `protect` the StatefulSet and its credentials, and keep volumes when it is deleted.
    protect: bool = False
    # Ephemeral stacks delete their volumes with the StatefulSet; everyone else keeps them.
    delete_volumes: bool = False


def password(resource_name: str, parent: pulumi.Resource, protect: bool, length: int = 32) -> pulumi.Output[str]:
    """A generated password, as a secret Output.

    Letters and digits only, so it is safe in URLs, YAML and connection strings. Marked secret here
    explicitly rather than trusting the provider's schema, so it stays secret in every derived value.
    """
    generated = random.RandomPassword(
        resource_name,
        length=length,
        special=False,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    return pulumi.Output.secret(generated.result)


def credentials_secret(
    parent: pulumi.Resource,
    resource_name: str,
    name: str,
    args: Placement,
    app: str,
    string_data: dict[str, pulumi.Input[str]],
) -> k8s.core.v1.Secret:
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.namespace, labels=labels(app, args.labels)),
        type="Opaque",
        string_data={key: pulumi.Output.secret(value) for key, value in string_data.items()},
        opts=pulumi.ResourceOptions(parent=parent, protect=args.protect),
    )


def database_url(database: Database, consumer: str) -> pulumi.Output[str]:
    """SQLAlchemy URL of a consumer's own database (psycopg2), as a secret: it holds the password."""
    login = database.logins[consumer]
    return pulumi.Output.secret(
        pulumi.Output.format(
            "postgresql+psycopg2://{0}:{1}@{2}:{3}/{4}?sslmode={5}",
            login.user, login.password, database.host, database.port, login.database, database.sslmode,
        )
    )


def data_volume_claim(size: Size, storage_class: Optional[str]) -> k8s.core.v1.PersistentVolumeClaimArgs:
    return k8s.core.v1.PersistentVolumeClaimArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size.storage}),
        ),
    )


def volume_retention(delete_volumes: bool) -> k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs:
    when_deleted = "Delete" if delete_volumes else "Retain"
    return k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(when_deleted=when_deleted, when_scaled="Retain")


def stateful_workload(
    parent: pulumi.Resource,
    name: str,
    app: str,
    args: StatefulServiceArgs,
    *,
    container: k8s.core.v1.ContainerArgs,
    ports: list[k8s.core.v1.ServicePortArgs],
    security: k8s.core.v1.PodSecurityContextArgs,
    service_account: pulumi.Input[str],
    volumes: Optional[list[k8s.core.v1.VolumeArgs]] = None,
    depends_on: Optional[list[pulumi.Resource]] = None,
    peer_ports: Optional[list[k8s.core.v1.ServicePortArgs]] = None,
    pod_annotations: Optional[dict[str, pulumi.Input[str]]] = None,
    session_affinity: Optional[str] = None,
) -> tuple[k8s.core.v1.Service, k8s.apps.v1.StatefulSet]:
    """A StatefulSet with one data volume per pod, its headless Service and its client Service.

    Children are named `<name>-headless`, `<name>-service`, `<name>-statefulset`; the Kubernetes objects
    are named `<app>-headless` and `<app>` (the stable DNS name clients use). `peer_ports` are the
    ports the pods use between themselves, on the headless Service only.
    """
    meta_labels = labels(app, args.labels)
    match = selector(app)
    child = pulumi.ResourceOptions(parent=parent)
    headless = k8s.core.v1.Service(
        f"{name}-headless",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{app}-headless", namespace=args.namespace, labels=meta_labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            cluster_ip="None", selector=match, ports=ports + (peer_ports or []), publish_not_ready_addresses=True
        ),
        opts=child,
    )
    service = k8s.core.v1.Service(
        f"{name}-service",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args.namespace, labels=meta_labels),
        spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=match, ports=ports, session_affinity=session_affinity),
        opts=child,
    )
    statefulset = k8s.apps.v1.StatefulSet(
        f"{name}-statefulset",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args.namespace, labels=meta_labels),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=headless.metadata.name,
            replicas=args.size.replicas,
            # Multi-node services (MinIO, SeaweedFS) must start all pods together to form a cluster.
            pod_management_policy="Parallel" if args.size.replicas > 1 else "OrderedReady",
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=match),
            persistent_volume_claim_retention_policy=volume_retention(args.delete_volumes),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=meta_labels, annotations=pod_annotations),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=service_account,
                    automount_service_account_token=False,
                    enable_service_links=False,
                    security_context=security,
                    termination_grace_period_seconds=60,
                    containers=[container],
                    volumes=volumes or None,
                ),
            ),
            volume_claim_templates=[data_volume_claim(args.size, args.storage_class)],
        ),
        opts=pulumi.ResourceOptions(parent=parent, protect=args.protect, depends_on=depends_on),
    )
    disruption_budget(parent, name, app, args.namespace, match, meta_labels, args.size.replicas)
    return service, statefulset
