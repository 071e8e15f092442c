"""Building blocks shared by the Kubernetes components: labels, hardened security contexts, sizes.

Every pod here passes the `restricted` Pod Security Standard: non-root, no privilege escalation,
all capabilities dropped, the runtime's default seccomp profile.
"""

from __future__ import annotations

import hashlib
import json

from dataclasses import dataclass, field
from typing import Mapping, Optional, Protocol

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config import Size
from infra.contract import Database

PART_OF = "mlops-stack"


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


class Placement(Protocol):
    """Where a component's objects go, and how they are kept: what Secrets and setup Jobs need."""

    namespace: pulumi.Input[str]
    labels: dict[str, str]
    protect: bool


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


def database_url(database: Database, consumer: str) -> pulumi.Output[str]:
    """SQLAlchemy URL of a consumer's own database (psycopg2), as a secret: it holds the password."""
    login = database.logins[consumer]
    return pulumi.Output.secret(
        pulumi.Output.format(
            "postgresql+psycopg2://{0}:{1}@{2}:{3}/{4}?sslmode={5}",
            login.user, login.password, database.host, database.port, login.database, database.sslmode,
        )
    )


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


def service_account(
    parent: pulumi.Resource, name: str, app: str, namespace: pulumi.Input[str], extra_labels: dict[str, str],
    annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
) -> k8s.core.v1.ServiceAccount:
    """The service's own identity. No API token is mounted unless a pod asks for one (Airflow's executor).

    `annotations` bind it to a cloud identity (an IAM role on EKS, a managed identity on AKS)."""
    return k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=app, namespace=namespace, labels=labels(app, extra_labels), annotations=dict(annotations) if annotations else None
        ),
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def disruption_budget(
    parent: pulumi.Resource, name: str, object_name: str, namespace: pulumi.Input[str], match: dict[str, str],
    meta_labels: dict[str, str], replicas: int,
) -> Optional[k8s.policy.v1.PodDisruptionBudget]:
    """A replicated service loses at most one pod at a time to node drains and upgrades."""
    if replicas < 2:
        return None
    return k8s.policy.v1.PodDisruptionBudget(
        f"{name}-disruption-budget",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=meta_labels),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=match)
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


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


def setup_job(
    parent: pulumi.Resource,
    name: str,
    app: str,
    args: Placement,
    *,
    image: str,
    scripts: dict[str, str],
    command: list[str],
    env: list[k8s.core.v1.EnvVarArgs],
    security: k8s.core.v1.PodSecurityContextArgs,
    service_account: pulumi.Input[str],
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
                    service_account_name=service_account,
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


# Pulumi marks the object created without waiting for its pods to be ready.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}

# The platform image (images/platform) runs as this non-root user.
PLATFORM_UID = PLATFORM_GID = 10001


@dataclass(frozen=True)
class AppArgs:
    """What every application server (MLflow, Feast, Evidently, Airflow) takes."""

    namespace: pulumi.Input[str]
    image: str
    size: Size
    labels: dict[str, str] = field(default_factory=dict)
    # The pipeline config (ConfigMap and Secret of this name) in `namespace`.
    pipeline_config: str = "mlops-pipeline-config"
    # A hash of the pipeline config's content: a change rolls the pods so they read the new values.
    config_checksum: pulumi.Input[str] = ""
    # Resources the server needs before it starts (databases and buckets created by the setup Jobs).
    depends_on: tuple[pulumi.Resource, ...] = ()
    # On a cloud, the annotations that give the service account its cloud identity (IRSA, workload identity).
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def pipeline_env_from(name: str) -> list[k8s.core.v1.EnvFromSourceArgs]:
    """Every variable of the pipeline config, from its ConfigMap and its Secret."""
    return [
        k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=name)),
        k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=name)),
    ]


def pipeline_files_volume(name: str, volume: str = "pipeline-config") -> k8s.core.v1.VolumeArgs:
    """The pipeline config's files (feature_store.yaml, pipeline.yaml, dvc.config), mounted read-only."""
    return k8s.core.v1.VolumeArgs(
        name=volume,
        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
            name=name,
            items=[
                k8s.core.v1.KeyToPathArgs(key=key, path=key)
                for key in ("feature_store.yaml", "pipeline.yaml", "dvc.config")
            ],
        ),
    )


def http_probe(path: str, port: int, *, period: int = 10, failures: int = 3, delay: int = 0,
               host: Optional[str] = None) -> k8s.core.v1.ProbeArgs:
    headers = [k8s.core.v1.HTTPHeaderArgs(name="Host", value=host)] if host else None
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port, http_headers=headers),
        initial_delay_seconds=delay or None,
        period_seconds=period,
        timeout_seconds=5,
        failure_threshold=failures,
    )


def startup_probe(probe: k8s.core.v1.ProbeArgs, seconds: int = 300) -> k8s.core.v1.ProbeArgs:
    """The same check, allowed `seconds` to pass first (migrations and imports take a while)."""
    return k8s.core.v1.ProbeArgs(
        http_get=probe.http_get, exec_=probe.exec_, tcp_socket=probe.tcp_socket,
        period_seconds=5, timeout_seconds=5, failure_threshold=seconds // 5,
    )


def exec_probe(command: list[str], *, period: int = 30, timeout: int = 20, failures: int = 3) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=command),
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failures,
    )


def deployment(
    parent: pulumi.Resource,
    name: str,
    app: str,
    args: AppArgs,
    *,
    component: str = "server",
    containers: list[k8s.core.v1.ContainerArgs],
    init_containers: Optional[list[k8s.core.v1.ContainerArgs]] = None,
    volumes: Optional[list[k8s.core.v1.VolumeArgs]] = None,
    replicas: Optional[int] = None,
    service_account: pulumi.Input[str],
    api_access: bool = False,
    annotations: Optional[dict[str, pulumi.Input[str]]] = None,
    depends_on: Optional[list[pulumi.Resource]] = None,
    recreate: bool = False,
    autoscaled: bool = False,
    skip_await: bool = False,
) -> k8s.apps.v1.Deployment:
    """A stateless server: non-root, hardened, rolled when its config checksum changes.

    The child is `<name>-deployment`; the Kubernetes object is named `<app>` (`<app>-<component>` for
    the parts of a multi-part service such as Airflow).
    """
    object_name = app if component == "server" else f"{app}-{component}"
    meta_labels = labels(app, args.labels, component)
    pod_annotations = {"mlops-stack/config-checksum": args.config_checksum, **(annotations or {})}
    count = args.size.replicas if replicas is None else replicas
    disruption_budget(parent, name, object_name, args.namespace, selector(app, component), meta_labels, count)
    return k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=object_name, namespace=args.namespace, labels=meta_labels, annotations=SKIP_AWAIT if skip_await else None,
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            # An autoscaler owns the count; setting it here would reset the scaled count on every `up`.
            replicas=None if autoscaled else count,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app, component)),
            # Never below the wanted count during a rollout: a new pod is ready before an old one goes.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate")
            if recreate
            else k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
            ),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=meta_labels, annotations=pod_annotations),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=service_account,
                    # Only a pod that drives the Kubernetes API gets a token (Airflow's executor).
                    automount_service_account_token=api_access,
                    enable_service_links=False,
                    security_context=pod_security(PLATFORM_UID, PLATFORM_GID),
                    termination_grace_period_seconds=30,
                    init_containers=init_containers,
                    containers=containers,
                    volumes=volumes,
                ),
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[*args.depends_on, *(depends_on or [])]),
    )


def cluster_service(
    parent: pulumi.Resource, name: str, app: str, args: AppArgs, port: int, *, component: str = "server", skip_await: bool = False,
) -> k8s.core.v1.Service:
    object_name = app if component == "server" else f"{app}-{component}"
    return k8s.core.v1.Service(
        f"{name}-service",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=object_name, namespace=args.namespace, labels=labels(app, args.labels, component),
            annotations=SKIP_AWAIT if skip_await else None,
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=selector(app, component),
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=port, target_port="http", protocol="TCP")],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def service_url(object_name: str, namespace: pulumi.Input[str], port: int) -> pulumi.Output[str]:
    """The in-cluster URL of a Service, from its fixed name. Never from the Service's outputs: Pulumi
    marks a Service created only once its pods are ready, and those pods read the pipeline config that
    carries this URL, so waiting for it would deadlock the first deployment."""
    return pulumi.Output.concat("http://", service_dns(object_name, namespace), ":", str(port))


def ingress(
    parent: pulumi.Resource, name: str, app: str, args: AppArgs, service: k8s.core.v1.Service, port: int,
    *, host: str, class_name: Optional[str], tls_secret: Optional[str],
) -> k8s.networking.v1.Ingress:
    return k8s.networking.v1.Ingress(
        f"{name}-ingress",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args.namespace, labels=labels(app, args.labels)),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=class_name,
            tls=[k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=tls_secret)] if tls_secret else None,
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            k8s.networking.v1.HTTPIngressPathArgs(
                                path="/",
                                path_type="Prefix",
                                backend=k8s.networking.v1.IngressBackendArgs(
                                    service=k8s.networking.v1.IngressServiceBackendArgs(
                                        name=service.metadata.name,
                                        port=k8s.networking.v1.ServiceBackendPortArgs(number=port),
                                    )
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def writable_dirs(*paths: str) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """emptyDir volumes for the few paths a server writes to; the rest of the root file system is read-only."""
    volumes, mounts = [], []
    for index, path in enumerate(paths):
        volume = f"scratch-{index}"
        volumes.append(k8s.core.v1.VolumeArgs(name=volume, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")))
        mounts.append(k8s.core.v1.VolumeMountArgs(name=volume, mount_path=path))
    return volumes, mounts


def git_sync_container(
    image: str, source, *, root: str, one_time: bool, period_seconds: int = 60
) -> k8s.core.v1.ContainerArgs:
    """git-sync v4: checks `source.git` at `source.ref` out into `root`, linked as `<root>/current`."""
    env = [
        k8s.core.v1.EnvVarArgs(name="GITSYNC_REPO", value=source.git),
        k8s.core.v1.EnvVarArgs(name="GITSYNC_REF", value=source.ref),
        k8s.core.v1.EnvVarArgs(name="GITSYNC_ROOT", value=root),
        k8s.core.v1.EnvVarArgs(name="GITSYNC_LINK", value="current"),
        k8s.core.v1.EnvVarArgs(name="GITSYNC_DEPTH", value="1"),
        k8s.core.v1.EnvVarArgs(name="GITSYNC_PERIOD", value=f"{period_seconds}s"),
        k8s.core.v1.EnvVarArgs(name="GITSYNC_ONE_TIME", value="true" if one_time else "false"),
    ]
    env_from = None
    if source.credentials_secret:
        env_from = [k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=source.credentials_secret))]
    return k8s.core.v1.ContainerArgs(
        name="git-sync",
        image=image,
        env=env,
        env_from=env_from,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "10m", "memory": "32Mi"}, limits={"cpu": "200m", "memory": "256Mi"}
        ),
        security_context=container_security(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="source", mount_path=root)],
    )


def batch_pod(
    pod_labels: dict[str, str],
    *,
    service_account: pulumi.Input[str],
    containers: list[k8s.core.v1.ContainerArgs],
    volumes: Optional[list[k8s.core.v1.VolumeArgs]] = None,
    init_containers: Optional[list[k8s.core.v1.ContainerArgs]] = None,
    annotations: Optional[dict[str, pulumi.Input[str]]] = None,
    restart_policy: str = "OnFailure",
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The pod of a Job or CronJob run from the platform image: non-root, no API token."""
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels, annotations=annotations),
        spec=k8s.core.v1.PodSpecArgs(
            restart_policy=restart_policy,
            service_account_name=service_account,
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=pod_security(PLATFORM_UID, PLATFORM_GID),
            init_containers=init_containers or None,
            containers=containers,
            volumes=volumes or None,
        ),
    )


def run_once_job(
    parent: pulumi.Resource,
    name: str,
    object_name: str,
    namespace: pulumi.Input[str],
    pod_labels: dict[str, str],
    pod: k8s.core.v1.PodTemplateSpecArgs,
    *,
    depends_on: list[pulumi.Resource],
    deadline_seconds: int = 900,
) -> k8s.batch.v1.Job:
    """A Job that Pulumi waits for. A changed pod template (a new annotation checksum or image)
    replaces it, and so runs it again."""
    return k8s.batch.v1.Job(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=pod_labels),
        spec=k8s.batch.v1.JobSpecArgs(backoff_limit=6, active_deadline_seconds=deadline_seconds, template=pod),
        # The Job has a fixed name, so a changed Job must be deleted before its replacement is created.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on, delete_before_replace=True),
    )


def cron_job(
    parent: pulumi.Resource,
    name: str,
    object_name: str,
    namespace: pulumi.Input[str],
    pod_labels: dict[str, str],
    schedule: str,
    pod: k8s.core.v1.PodTemplateSpecArgs,
    *,
    depends_on: list[pulumi.Resource],
) -> k8s.batch.v1.CronJob:
    """A scheduled job in UTC; a run never overlaps the previous one, and a little history is kept."""
    return k8s.batch.v1.CronJob(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=pod_labels),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=schedule,
            time_zone="Etc/UTC",
            concurrency_policy="Forbid",
            starting_deadline_seconds=600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                spec=k8s.batch.v1.JobSpecArgs(backoff_limit=2, active_deadline_seconds=3600, template=pod)
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
