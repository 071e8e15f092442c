"""Building blocks shared by the Kubernetes components: labels, hardened security contexts, sizes.

Every pod here passes the `restricted` Pod Security Standard: non-root, no privilege escalation,
all capabilities dropped, the runtime's default seccomp profile.
"""

from __future__ import annotations

import hashlib
import json

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config import Size

PART_OF = "mlops-stack"


@dataclass(frozen=True)
class StatefulServiceArgs:
    """What every in-cluster data service (PostgreSQL, Redis, MinIO) takes."""

    namespace: pulumi.Input[str]
    image: str
    size: Size
    storage_class: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)
    # Production: `protect` the StatefulSet and its credentials, and keep volumes when it is deleted.
    protect: bool = False
    # Ephemeral stacks delete their volumes with the StatefulSet; everyone else keeps them.
    delete_volumes: bool = False


def labels(app: str, extra: dict[str, str], component: str = "server") -> dict[str, str]:
    return {
        **extra,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(app: str, component: str = "server") -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/component": component}


def pod_security(uid: int, gid: int) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=gid,
        fs_group=gid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


def resources(size: Size) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": size.cpu, "memory": size.memory},
        limits={"cpu": size.cpu_limit, "memory": size.memory_limit},
    )


def job_resources() -> k8s.core.v1.ResourceRequirementsArgs:
    """Setup jobs run a client for seconds."""
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}
    )


def secret_env(name: str, secret_name: pulumi.Input[str], key: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
        ),
    )


def scratch_volume(name: str) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"))


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


def service_dns(name: str, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat(name, ".", namespace, ".svc.cluster.local")


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


def stateful_workload(
    parent: pulumi.Resource,
    name: str,
    app: str,
    args: StatefulServiceArgs,
    *,
    container: k8s.core.v1.ContainerArgs,
    ports: list[k8s.core.v1.ServicePortArgs],
    security: k8s.core.v1.PodSecurityContextArgs,
    volumes: Optional[list[k8s.core.v1.VolumeArgs]] = None,
    depends_on: Optional[list[pulumi.Resource]] = None,
) -> tuple[k8s.core.v1.Service, k8s.apps.v1.StatefulSet]:
    """A StatefulSet with one data volume per pod, its headless Service and its client Service.

    Children are named `<name>-headless`, `<name>-service`, `<name>-statefulset`; the Kubernetes objects
    are named `<app>-headless` and `<app>` (the stable DNS name clients use).
    """
    meta_labels = labels(app, args.labels)
    match = selector(app)
    child = pulumi.ResourceOptions(parent=parent)
    headless = k8s.core.v1.Service(
        f"{name}-headless",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{app}-headless", namespace=args.namespace, labels=meta_labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            cluster_ip="None", selector=match, ports=ports, publish_not_ready_addresses=True
        ),
        opts=child,
    )
    service = k8s.core.v1.Service(
        f"{name}-service",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args.namespace, labels=meta_labels),
        spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=match, ports=ports),
        opts=child,
    )
    statefulset = k8s.apps.v1.StatefulSet(
        f"{name}-statefulset",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args.namespace, labels=meta_labels),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=headless.metadata.name,
            replicas=args.size.replicas,
            # Multi-node services (MinIO) must start all pods together to form a cluster.
            pod_management_policy="Parallel" if args.size.replicas > 1 else "OrderedReady",
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=match),
            persistent_volume_claim_retention_policy=volume_retention(args.delete_volumes),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=meta_labels),
                spec=k8s.core.v1.PodSpecArgs(
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
    return service, statefulset


def credentials_secret(
    parent: pulumi.Resource,
    resource_name: str,
    name: str,
    args: StatefulServiceArgs,
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


def setup_job(
    parent: pulumi.Resource,
    name: str,
    app: str,
    args: StatefulServiceArgs,
    *,
    image: str,
    scripts: dict[str, str],
    command: list[str],
    env: list[k8s.core.v1.EnvVarArgs],
    security: k8s.core.v1.PodSecurityContextArgs,
    depends_on: list[pulumi.Resource],
) -> k8s.batch.v1.Job:
    """A Job that configures a data service once it is ready (databases, users, buckets).

    `scripts` are mounted at /setup. They are idempotent; a changed script changes the pod template
    (through its checksum), so Pulumi replaces the Job and the new script runs.
    """
    job_labels = labels(app, args.labels, component="setup")
    config_map = k8s.core.v1.ConfigMap(
        f"{name}-setup-scripts",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{app}-setup", namespace=args.namespace, labels=job_labels),
        data=scripts,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    checksum = hashlib.sha256(json.dumps(scripts, sort_keys=True).encode()).hexdigest()
    return k8s.batch.v1.Job(
        f"{name}-setup",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{app}-setup", namespace=args.namespace, labels=job_labels),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=6,
            active_deadline_seconds=900,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=job_labels, annotations={"mlops-stack/scripts-sha256": checksum}
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    restart_policy="OnFailure",
                    automount_service_account_token=False,
                    enable_service_links=False,
                    security_context=security,
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="setup",
                            image=image,
                            command=command,
                            env=env,
                            resources=job_resources(),
                            security_context=container_security(),
                            volume_mounts=[
                                k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/setup", read_only=True),
                                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                            ],
                        )
                    ],
                    volumes=[
                        k8s.core.v1.VolumeArgs(
                            name="scripts",
                            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map.metadata.name),
                        ),
                        scratch_volume("tmp"),
                    ],
                ),
            ),
        ),
        # The Job has a fixed name, so a changed Job must be deleted before its replacement is created.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on, delete_before_replace=True),
    )
