"""The application servers' building blocks (MLflow, Feast, Evidently, Airflow, model servers): a
hardened Deployment with its disruption budget, its ClusterIP Service, an optional Ingress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.workload.meta import labels, selector, service_dns
from components.kubernetes.workload.pods import PLATFORM_GID, PLATFORM_UID, disruption_budget, pod_security
from infra.contract import Size
from mlops_jobs import pipeline_names

# Pulumi marks the object created without waiting for its pods to be ready.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


@dataclass(frozen=True)
class AppArgs:
    """What every application server (MLflow, Feast, Evidently, Airflow) takes."""

    namespace: pulumi.Input[str]
    image: str
    size: Size
    labels: dict[str, str] = field(default_factory=dict)
    # The pipeline config (ConfigMap and Secret of this name) in `namespace`.
    pipeline_config: str = pipeline_names.CONFIG_NAME
    # A hash of the pipeline config's content: a change rolls the pods so they read the new values.
    config_checksum: pulumi.Input[str] = ""
    # Resources the server needs before it starts (databases and buckets created by the setup Jobs).
    depends_on: tuple[pulumi.Resource, ...] = ()
    # On a cloud, the annotations that give the service account its cloud identity (IRSA, workload identity).
    service_account_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def object_name_of(app: str, component: str) -> str:
    """`<app>`, or `<app>-<component>` for the parts of a multi-part service such as Airflow."""
    return app if component == "server" else f"{app}-{component}"


def rollout(recreate: bool) -> k8s.apps.v1.DeploymentStrategyArgs:
    if recreate:
        return k8s.apps.v1.DeploymentStrategyArgs(type="Recreate")
    # Never below the wanted count during a rollout: a new pod is ready before an old one goes.
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
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

    The child is `<name>-deployment`; the Kubernetes object is named by `object_name_of`.
    """
    meta_labels = labels(app, args.labels, component)
    pod_annotations = {"mlops-stack/config-checksum": args.config_checksum, **(annotations or {})}
    count = args.size.replicas if replicas is None else replicas
    disruption_budget(parent, name, object_name_of(app, component), args.namespace, selector(app, component), meta_labels, count)
    return k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=object_name_of(app, component), namespace=args.namespace, labels=meta_labels,
            annotations=SKIP_AWAIT if skip_await else None,
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            # An autoscaler owns the count; setting it here would reset the scaled count on every `up`.
            replicas=None if autoscaled else count,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(app, component)),
            strategy=rollout(recreate),
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
    return k8s.core.v1.Service(
        f"{name}-service",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=object_name_of(app, component), namespace=args.namespace, labels=labels(app, args.labels, component),
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
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=service.metadata.name, port=k8s.networking.v1.ServiceBackendPortArgs(number=port),
        )
    )
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
                        paths=[k8s.networking.v1.HTTPIngressPathArgs(path="/", path_type="Prefix", backend=backend)]
                    ),
                )
            ],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
