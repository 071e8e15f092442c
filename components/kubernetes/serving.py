"""Model serving in the cluster: per variant a Deployment, a Service and an autoscaler; per endpoint a
Gateway API HTTPRoute whose weighted backends split the traffic between the variants.

Every model server follows one contract, SageMaker's and MLflow's: port 8080, `GET /ping` answers when
the model is loaded, `POST /invocations` predicts. A variant that names an MLflow model runs
`mlflow models serve` on the platform image and loads the model from the tracking server.

Where the endpoint captures, a sidecar (mlops_jobs.capture, on the platform image) takes the
Service's traffic on CAPTURE_PORT, forwards it to the model server on 8080, and writes a share of
the requests with their responses to the lake in batches, after answering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import AppArgs
from infra.contract import Size
from components.specs import EndpointSpec, VariantSpec
from mlops_jobs import pipeline_names

PORT = 8080
CAPTURE_PORT = 8090  # the capture sidecar's: the Service sends here when the endpoint captures
CAPTURE_SIZE = Size(1, "50m", "64Mi", "500m", "256Mi")
GATEWAY_API = "gateway.networking.k8s.io/v1"
# Listeners from 1024 up: Envoy Gateway maps lower ports to others inside its proxy pods.
GATEWAY_PORT = 8080
ENVOY_GATEWAY_VERSION = "v1.5.1"
ENVOY_GATEWAY_MANIFEST = f"https://github.com/envoyproxy/gateway/releases/download/{ENVOY_GATEWAY_VERSION}/install.yaml"
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
# Envoy Gateway labels the proxy pods of a Gateway with its name and namespace.
ENVOY_OWNER_LABELS = ("gateway.envoyproxy.io/owning-gateway-name", "gateway.envoyproxy.io/owning-gateway-namespace")


def served_port(endpoint: EndpointSpec) -> int:
    """The pod port that callers reach: the capture sidecar's, or the model server's."""
    return CAPTURE_PORT if endpoint.capture_rate > 0 else PORT


def capture_command(endpoint: EndpointSpec, variant: VariantSpec) -> list[str]:
    return ["python", "-m", "mlops_jobs.capture", "--port", str(CAPTURE_PORT), "--upstream", f"127.0.0.1:{PORT}",
            "--endpoint", endpoint.name, "--variant", variant.name, "--rate", f"{endpoint.capture_rate:g}"]


def server_command(variant: VariantSpec) -> Optional[list[str]]:
    """`mlflow models serve` for an MLflow model; the image's own entrypoint otherwise."""
    if variant.model is None:
        return None
    return ["mlflow", "models", "serve", "--model-uri", variant.model, "--host", "0.0.0.0", "--port", str(PORT),
            "--env-manager", "local", "--workers", "1"]


@dataclass(frozen=True)
class ServingGatewayArgs:
    namespace: pulumi.Input[str]
    name: str
    class_name: str
    install: bool  # Envoy Gateway with the Gateway API CRDs, and its GatewayClass
    url: Optional[str] = None  # the base URL of a gateway you run; unset when installed
    labels: dict[str, str] = field(default_factory=dict)


class ServingGateway(pulumi.ComponentResource):
    """The Gateway that every endpoint's route attaches to, and (optionally) the implementation behind it."""

    url: pulumi.Output[str]
    gateway: pulumi.Resource

    def __init__(self, name: str, args: ServingGatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:ServingGateway", name, None, opts)
        meta_labels = workload.labels("serving-gateway", args.labels, "gateway")
        after_install: list[pulumi.Resource] = []
        if args.install:
            installed = k8s.yaml.v2.ConfigFile(f"{name}-envoy-gateway", file=ENVOY_GATEWAY_MANIFEST, opts=pulumi.ResourceOptions(parent=self))
            # The custom resources below need the CRDs and the controller of the manifest first.
            after_install = [installed]
            k8s.apiextensions.CustomResource(
                f"{name}-class",
                api_version=GATEWAY_API,
                kind="GatewayClass",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.class_name, labels=meta_labels),
                spec={"controllerName": ENVOY_GATEWAY_CONTROLLER},
                opts=pulumi.ResourceOptions(parent=self, depends_on=after_install),
            )
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=args.namespace, labels=meta_labels),
            spec={
                "gatewayClassName": args.class_name,
                "listeners": [{"name": "http", "protocol": "HTTP", "port": GATEWAY_PORT, "allowedRoutes": {"namespaces": {"from": "Same"}}}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=after_install),
        )
        if args.install:
            # A fixed in-cluster name for the proxies Envoy Gateway creates (their own Service is hashed).
            k8s.core.v1.Service(
                f"{name}-service",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=ENVOY_GATEWAY_NAMESPACE, labels=meta_labels),
                spec=k8s.core.v1.ServiceSpecArgs(
                    selector=pulumi.Output.from_input(args.namespace).apply(
                        lambda ns: {ENVOY_OWNER_LABELS[0]: args.name, ENVOY_OWNER_LABELS[1]: ns}
                    ),
                    ports=[k8s.core.v1.ServicePortArgs(name="http", port=GATEWAY_PORT, target_port=GATEWAY_PORT)],
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=after_install),
            )
            self.url = pulumi.Output.concat("http://", workload.service_dns(args.name, ENVOY_GATEWAY_NAMESPACE), f":{GATEWAY_PORT}")
        else:
            self.url = pulumi.Output.from_input(args.url or "")
        self.register_outputs({"url": self.url})


@dataclass(frozen=True)
class ModelEndpointArgs:
    namespace: pulumi.Input[str]
    endpoint: EndpointSpec
    gateway_name: str
    gateway_url: pulumi.Input[str]
    gateway: Optional[pulumi.Resource] = None  # the route waits for it (and the CRDs behind it)
    labels: dict[str, str] = field(default_factory=dict)
    pipeline_config: str = pipeline_names.CONFIG_NAME
    config_checksum: pulumi.Input[str] = ""
    # What a model server needs first: the tracking server, for a variant that loads an MLflow model.
    depends_on: tuple[pulumi.Resource, ...] = ()
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    capture_image: str = ""  # the platform image: its mlops_jobs.capture is the sidecar


def model_container(endpoint: EndpointSpec, variant: VariantSpec, pipeline_config: str,
                    mounts: list[k8s.core.v1.VolumeMountArgs]) -> k8s.core.v1.ContainerArgs:
    """A variant's model server: ready once its model is loaded."""
    ready = workload.http_probe("/ping", PORT)
    return k8s.core.v1.ContainerArgs(
        name="model",
        image=variant.image,
        command=server_command(variant),
        env=[
            k8s.core.v1.EnvVarArgs(name="MLOPS_SERVING_ENDPOINT", value=endpoint.name),
            k8s.core.v1.EnvVarArgs(name="MLOPS_SERVING_VARIANT", value=variant.name),
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
        ],
        # The tracking server, the S3 settings and credentials: what a pipeline gets.
        env_from=workload.pipeline_env_from(pipeline_config),
        # With a capture sidecar, the Service's port named http is the sidecar's.
        ports=[k8s.core.v1.ContainerPortArgs(name="model" if endpoint.capture_rate > 0 else "http", container_port=PORT)],
        # Only a pod whose model is loaded gets traffic; a rollout waits for it.
        startup_probe=workload.startup_probe(ready, seconds=600),
        readiness_probe=ready,
        liveness_probe=workload.http_probe("/ping", PORT, period=20, failures=5),
        resources=workload.resources(variant.size),
        security_context=workload.container_security(),
        volume_mounts=mounts,
    )


def capture_container(endpoint: EndpointSpec, variant: VariantSpec, image: str, pipeline_config: str,
                      mounts: list[k8s.core.v1.VolumeMountArgs]) -> k8s.core.v1.ContainerArgs:
    """The capture sidecar: ready when the model server behind it answers /ping."""
    ready = workload.http_probe("/ping", CAPTURE_PORT)
    return k8s.core.v1.ContainerArgs(
        name="capture",
        image=image,
        command=capture_command(endpoint, variant),
        # The lake's bucket, the object store's endpoint and credentials.
        env_from=workload.pipeline_env_from(pipeline_config),
        env=[k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=CAPTURE_PORT)],
        readiness_probe=ready,
        liveness_probe=workload.http_probe("/ping", CAPTURE_PORT, period=20, failures=5),
        resources=workload.resources(CAPTURE_SIZE),
        security_context=workload.container_security(),
        volume_mounts=mounts,
    )


class ModelEndpoint(pulumi.ComponentResource):
    url: pulumi.Output[str]
    weights: dict[str, int]
    variant_urls: dict[str, pulumi.Output[str]]
    capture: str  # the lake prefix of its captures; "" when it captures nothing

    def __init__(self, name: str, args: ModelEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:ModelEndpoint", name, None, opts)
        endpoint = args.endpoint
        app = endpoint.name
        account = workload.service_account(self, name, app, args.namespace, args.labels, args.service_account_annotations)
        backends = []
        self.variant_urls = {}
        for variant in endpoint.variants:
            variant_args = AppArgs(
                namespace=args.namespace, image=variant.image, size=variant.size, labels={**args.labels, "mlops-stack/variant": variant.name},
                pipeline_config=args.pipeline_config, config_checksum=args.config_checksum,
                depends_on=args.depends_on if variant.model else (),
            )
            volumes, mounts = workload.writable_dirs("/tmp")
            containers = [model_container(endpoint, variant, args.pipeline_config, mounts)]
            if endpoint.capture_rate > 0:
                containers.append(capture_container(endpoint, variant, args.capture_image, args.pipeline_config, mounts))
            prefix = f"{name}-{variant.name}"
            deployment = workload.deployment(
                self, prefix, app, variant_args, component=variant.name, containers=containers, volumes=volumes,
                service_account=account.metadata.name, autoscaled=True, skip_await=not endpoint.await_ready,
            )
            workload.cluster_service(self, prefix, app, variant_args, PORT, component=variant.name, skip_await=not endpoint.await_ready)
            object_name = f"{app}-{variant.name}"
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{prefix}-autoscaler",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=workload.labels(app, variant_args.labels, variant.name)),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=deployment.metadata.name,
                    ),
                    min_replicas=variant.size.replicas,
                    max_replicas=variant.max_replicas,
                    metrics=[k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu", target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=70),
                        ),
                    )],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            # A weight of 0 keeps the variant's backend in the route: it runs, and gets no request.
            backends.append({"name": object_name, "port": PORT, "weight": variant.weight})
            self.variant_urls[variant.name] = workload.service_url(object_name, args.namespace, PORT)
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version=GATEWAY_API,
            kind="HTTPRoute",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args.namespace, labels=workload.labels(app, args.labels, "route")),
            spec={
                "parentRefs": [{"name": args.gateway_name}],
                "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/{app}"}}],
                    # /churn/invocations reaches a model server as /invocations.
                    "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
                    "backendRefs": backends,
                }],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.gateway] if args.gateway else None),
        )
        self.url = pulumi.Output.concat(args.gateway_url, "/", app)
        self.weights = {v.name: v.weight for v in endpoint.variants}
        self.capture = pipeline_names.capture_prefix(app) if endpoint.capture_rate > 0 else ""
        self.register_outputs({"url": self.url, "weights": self.weights, "variantUrls": self.variant_urls, "capture": self.capture})
