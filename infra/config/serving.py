"""serving: model endpoints and their variants (in the cluster, on SageMaker or on Azure ML), and the gateway."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from pydantic import Field

from .choices import Backend, Environment, ServiceMode, by_environment
from .errors import Problems
from .size import ResourcesConfig, Size, sized
from .types import DnsLabel, InputModel, Pattern, PinnedImage

ENDPOINT_NAME = Pattern(
    r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$",
    "3 to 32 lowercase letters, digits and '-', starting with a letter (valid on Kubernetes, SageMaker and Azure ML)",
)
VARIANT_NAME = Pattern(
    r"^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$",
    "1 to 30 lowercase letters, digits and '-', e.g. a, b, model-2 (valid on Kubernetes, SageMaker and Azure ML)",
)
MODEL_URI = Pattern(r"^models:/[A-Za-z0-9_.-]+(/[0-9]+|@[A-Za-z0-9_-]+)$", "an MLflow model URI: models:/<name>/<version> or models:/<name>@<alias>")
SAGEMAKER_INSTANCE = Pattern(r"^ml\.[a-z0-9]+\.[a-z0-9]+$", "a SageMaker instance type, e.g. ml.m5.large")
AZURE_ML_INSTANCE = Pattern(r"^Standard_[A-Za-z0-9_]+$", "an Azure ML VM size, e.g. Standard_DS3_v2")
MANAGED_INSTANCE = Pattern(
    f"({SAGEMAKER_INSTANCE.regex})|({AZURE_ML_INSTANCE.regex})",
    "a SageMaker instance type (ml.m5.large) on aws, an Azure ML VM size (Standard_DS3_v2) on azure",
)
VariantName, ModelUri, ManagedInstance = VARIANT_NAME.type, MODEL_URI.type, MANAGED_INSTANCE.type
# SageMaker pulls a model's image from ECR only (in the endpoint's account and region, or granted to it).
_ECR_IMAGE = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
_ACR_IMAGE = re.compile(r"^(?P<registry>[a-z0-9]+)\.azurecr\.io/")

# Model servers per variant: the fewest pods (Size.replicas), and the most the autoscaler may run.
DEFAULT_SERVING_SIZES = {
    Environment.LOCAL: Size(1, "100m", "512Mi", "1", "1Gi"),
    Environment.STAGING: Size(1, "250m", "1Gi", "2", "2Gi"),
    Environment.PRODUCTION: Size(2, "500m", "1Gi", "2", "2Gi"),
}
DEFAULT_SERVING_MAX_REPLICAS = {Environment.LOCAL: 2, Environment.STAGING: 3, Environment.PRODUCTION: 10}
INSTALLED_GATEWAY_CLASS = "envoy"
# An endpoint's pods are labelled with its name: it must not pass for one of the platform's servers.
RESERVED_ENDPOINT_NAMES = frozenset({"postgres", "redis", "minio", "seaweedfs", "mlflow", "feast", "evidently", "airflow"})
# Azure ML limits an online deployment's name to 32 characters; the others allow more.
MAX_VARIANT_OBJECT_NAME = 32

# Where `mode: managed` puts a model endpoint, by backend, and the instance sizes there.
MANAGED_SERVING = {Backend.AWS: "SageMaker", Backend.AZURE: "Azure ML"}
DEFAULT_MANAGED_INSTANCE = {
    Backend.AWS: {Environment.LOCAL: "ml.m5.large", Environment.STAGING: "ml.m5.large", Environment.PRODUCTION: "ml.m5.xlarge"},
    # Azure ML's own minimum for managed online deployments is Standard_DS2_v2; DS3 leaves room for a real model.
    Backend.AZURE: {Environment.LOCAL: "Standard_DS3_v2", Environment.STAGING: "Standard_DS3_v2", Environment.PRODUCTION: "Standard_DS4_v2"},
}
_MANAGED_INSTANCE_PATTERNS = {Backend.AWS: SAGEMAKER_INSTANCE, Backend.AZURE: AZURE_ML_INSTANCE}
# Captured requests can hold personal data: they are deleted after this many days.
DEFAULT_CAPTURE_RETENTION_DAYS = {Environment.LOCAL: 7, Environment.STAGING: 14, Environment.PRODUCTION: 30}


class ServingVariantConfig(InputModel):
    """One release of a model: an image cut from a git tag, or an MLflow model version."""

    name: VariantName = Field(..., description="The variant's name, e.g. a; its objects are named <endpoint>-<name>")
    image: PinnedImage = Field(None, description="A model server image (port 8080, GET /ping, POST /invocations), pinned")
    model: Optional[ModelUri] = Field(None, description="Or an MLflow model, served by `mlflow models serve`")
    weight: int = Field(..., ge=0, le=100, description="Percent of the endpoint's requests; 0 keeps it running without traffic")
    replicas: Optional[int] = Field(
        None, ge=1, le=100, description="Fewest pods (instances when managed); default "
        + by_environment({e: s.replicas for e, s in DEFAULT_SERVING_SIZES.items()}),
    )
    max_replicas: Optional[int] = Field(
        None, ge=1, le=100, description="Most pods (instances) the autoscaler may run; default "
        + by_environment(DEFAULT_SERVING_MAX_REPLICAS),
    )
    resources: Optional[ResourcesConfig] = None
    instance_type: Optional[ManagedInstance] = Field(
        None,
        description=f"mode managed: the SageMaker instance type (default {by_environment(DEFAULT_MANAGED_INSTANCE[Backend.AWS])}) "
                    f"or the Azure ML VM size (default {by_environment(DEFAULT_MANAGED_INSTANCE[Backend.AZURE])})",
    )


class EndpointCaptureConfig(InputModel):
    """Requests and responses of every variant, written to the lake under inference/<endpoint>/<variant>/."""

    sampling_rate: float = Field(
        1.0, ge=0, le=1, description="Share of requests captured, 0 to 1; 0 captures nothing. SageMaker rounds it to whole percent",
    )


class CaptureConfig(InputModel):
    retention_days: Optional[int] = Field(
        None, ge=1, le=3650, description="Days a capture is kept in the lake before it is deleted; default "
        + by_environment(DEFAULT_CAPTURE_RETENTION_DAYS),
    )


class ServingEndpointConfig(InputModel):
    mode: Optional[ServiceMode] = Field(
        None, description="in-cluster (Deployments behind a Gateway API route), or managed: a SageMaker endpoint on aws, an Azure ML online endpoint on azure"
    )
    variants: list[ServingVariantConfig] = Field(..., min_length=1, description="The releases behind the endpoint and their traffic weights")
    await_ready: bool = Field(
        True, description="pulumi up waits until every variant serves; false for models the pipelines have yet to train"
    )
    smoke_request: Optional[dict[str, Any]] = Field(
        None, description="A request body the post-deploy check POSTs to /invocations of every variant with traffic; unset: GET /ping only"
    )
    capture: EndpointCaptureConfig = EndpointCaptureConfig()


class GatewayConfig(InputModel):
    """The Gateway API gateway that splits each endpoint's traffic between its variants."""

    install: Optional[bool] = Field(
        None, description="Install Envoy Gateway (with the Gateway API CRDs); default true on local, false elsewhere"
    )
    class_name: Optional[DnsLabel] = Field(
        None, description="GatewayClass of the gateway; default envoy when installed, else required"
    )
    name: DnsLabel = Field("mlops-serving", description="Name of the Gateway in the platform namespace")
    url: Optional[str] = Field(
        None, pattern=r"^https?://[^/\s]+$", description="Base URL at which clients reach the gateway; default the installed gateway's in-cluster Service"
    )


class ServingConfig(InputModel):
    endpoints: dict[str, ServingEndpointConfig] = Field(default_factory=dict, description="Model endpoints by name")
    gateway: GatewayConfig = GatewayConfig()
    capture: CaptureConfig = CaptureConfig()


@dataclass(frozen=True)
class ServingVariant:
    name: str
    image: str  # for an MLflow model: the platform image, whose MLflow matches the tracking server's
    model: Optional[str]  # models:/<name>/<version>, or None for an image of its own
    weight: int
    size: Size  # replicas: the fewest pods (instances when managed)
    max_replicas: int
    instance_type: Optional[str] = None  # managed: the SageMaker instance type or Azure ML VM size


@dataclass(frozen=True)
class ServingEndpoint:
    name: str
    mode: ServiceMode
    variants: tuple[ServingVariant, ...]
    await_ready: bool
    smoke_request: Optional[dict[str, Any]]
    capture_rate: float = 1.0  # the share of requests captured; 0: none

    @property
    def captured(self) -> bool:
        return self.capture_rate > 0


@dataclass(frozen=True)
class Serving:
    endpoints: tuple[ServingEndpoint, ...]
    install_gateway: bool
    gateway_class: str
    gateway_name: str
    gateway_url: Optional[str]  # None: the installed gateway's in-cluster Service
    capture_retention_days: int = 30

    @property
    def captured(self) -> bool:
        return any(e.captured for e in self.endpoints)

    @property
    def capturing_in_cluster(self) -> tuple[str, ...]:
        """The in-cluster endpoints whose capture sidecars write to the lake."""
        return tuple(e.name for e in self.endpoints if e.mode is ServiceMode.IN_CLUSTER and e.captured)

    def endpoint(self, name: str) -> ServingEndpoint:
        return next(e for e in self.endpoints if e.name == name)


@dataclass(frozen=True)
class _Context:
    """What a variant's checks need to know about the stack around it."""

    environment: Environment
    backend: Backend
    jobs_image: str
    registry_id: Optional[str]
    mlflow_managed: bool


def resolve(raw: ServingConfig, environment: Environment, backend: Backend, jobs_image: str, registry_id: Optional[str],
            mlflow_managed: bool, problems: Problems) -> Serving:
    context = _Context(environment, backend, jobs_image, registry_id, mlflow_managed)
    endpoints = [_endpoint(name, endpoint, context, problems) for name, endpoint in raw.endpoints.items()]
    install = raw.gateway.install if raw.gateway.install is not None else environment is Environment.LOCAL
    gateway_class = raw.gateway.class_name or (INSTALLED_GATEWAY_CLASS if install else "")
    # Only endpoints in the cluster go through the gateway.
    routed = [e for e in endpoints if e.mode is ServiceMode.IN_CLUSTER]
    if routed and not install and not raw.gateway.url:
        problems.missing("serving.gateway.url", "the base URL of your cluster's gateway (e.g. http://gateway.example.com), "
                         "or serving.gateway.install: true")
    if routed and not gateway_class:
        problems.missing("serving.gateway.className", "the GatewayClass of your cluster's Gateway API "
                         "implementation, or serving.gateway.install: true to install Envoy Gateway")
    return Serving(
        endpoints=tuple(endpoints), install_gateway=install and bool(routed), gateway_class=gateway_class,
        gateway_name=raw.gateway.name, gateway_url=raw.gateway.url,
        capture_retention_days=raw.capture.retention_days or DEFAULT_CAPTURE_RETENTION_DAYS[environment],
    )


def _endpoint(name: str, endpoint: ServingEndpointConfig, context: _Context, problems: Problems) -> ServingEndpoint:
    key = f"serving.endpoints.{name}"
    valid_name = ENDPOINT_NAME.matches(name)
    if not valid_name:
        problems.not_allowed(key, name, ENDPOINT_NAME.allowed)
    elif name in RESERVED_ENDPOINT_NAMES:
        problems.not_allowed(key, name, f"a name other than the platform's services ({', '.join(sorted(RESERVED_ENDPOINT_NAMES))})")
    mode = endpoint.mode or ServiceMode.IN_CLUSTER
    managed = mode is ServiceMode.MANAGED
    backend = context.backend
    if managed and backend not in MANAGED_SERVING:
        problems.not_allowed(f"{key}.mode", "managed", f"in-cluster with backend {backend.value!r} "
                             "(managed endpoints: SageMaker on backend aws, Azure ML on backend azure)")
        managed = False  # one error for the endpoint, not one per variant
    if managed and not endpoint.await_ready:
        problems.not_allowed(f"{key}.awaitReady", False,
                             f"true with mode managed (a {MANAGED_SERVING[backend]} endpoint is created serving, or not at all)")
    names = [v.name for v in endpoint.variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.not_allowed(f"{key}.variants", duplicates, "variant names that differ within the endpoint")
    total = sum(v.weight for v in endpoint.variants)
    if total != 100:
        problems.add(f"{key}.variants", f"weights add up to {total}; allowed: weights that add up to 100 "
                     "(a variant with weight 0 keeps running without traffic)")
    variants = tuple(_variant(name if valid_name else "", f"{key}.variants[{index}]", variant, managed, context, problems)
                     for index, variant in enumerate(endpoint.variants))
    return ServingEndpoint(name=name, mode=mode, variants=variants, await_ready=endpoint.await_ready,
                           smoke_request=endpoint.smoke_request, capture_rate=endpoint.capture.sampling_rate)


def _check_source(key: str, variant: ServingVariantConfig, managed: bool, context: _Context, problems: Problems) -> None:
    """The image or model a variant serves, where its endpoint can pull it from."""
    if (variant.image is None) == (variant.model is None):
        problems.add(key, "set image or model; allowed: exactly one of them")
    elif managed and variant.model is not None:
        problems.not_allowed(f"{key}.model", variant.model,
                             "an image on a managed endpoint (it cannot reach the in-cluster tracking server: bake the model into the image)")
    elif context.mlflow_managed and variant.model is not None:
        problems.not_allowed(f"{key}.model", variant.model,
                             "an image while services.mlflow.mode is managed (the platform image loads models:/ from the "
                             "in-cluster tracking server only: bake the model into the image)")
    elif managed and context.backend is Backend.AWS and not _ECR_IMAGE.match(variant.image or ""):
        problems.not_allowed(f"{key}.image", variant.image, "an Amazon ECR image "
                             "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:...): SageMaker pulls from ECR only")
    elif managed and context.backend is Backend.AZURE:
        acr = _ACR_IMAGE.match(variant.image or "")
        registry_id = context.registry_id
        if acr and not (registry_id or "").lower().endswith(f"/registries/{acr['registry']}"):
            allowed = (f"the resource ID of the registry {acr['registry']}.azurecr.io, which {key}.image is pulled from "
                       "(the endpoint gets AcrPull on it)")
            if registry_id:
                problems.not_allowed("azure.containerRegistryId", registry_id, allowed)
            else:
                problems.missing("azure.containerRegistryId", allowed)


def _variant(endpoint_name: str, key: str, variant: ServingVariantConfig, managed: bool, context: _Context,
             problems: Problems) -> ServingVariant:
    """One variant, checked; endpoint_name is "" when the endpoint's own name is invalid (already reported)."""
    _check_source(key, variant, managed, context, problems)
    backend, environment = context.backend, context.environment
    if variant.instance_type and not managed:
        problems.not_allowed(f"{key}.instanceType", variant.instance_type, "unset with mode in-cluster (size pods with resources)")
    elif variant.instance_type and not _MANAGED_INSTANCE_PATTERNS[backend].matches(variant.instance_type):
        problems.not_allowed(f"{key}.instanceType", variant.instance_type, _MANAGED_INSTANCE_PATTERNS[backend].allowed)
    if variant.resources and managed:
        problems.not_allowed(f"{key}.resources", variant.resources.model_dump(by_alias=True, exclude_none=True),
                             "unset with mode managed (choose instanceType)")
    if endpoint_name and len(f"{endpoint_name}-{variant.name}") > MAX_VARIANT_OBJECT_NAME:
        problems.not_allowed(f"{key}.name", variant.name,
                             f"a name that keeps {endpoint_name}-<name> within {MAX_VARIANT_OBJECT_NAME} characters (Azure ML's limit)")
    size = sized(DEFAULT_SERVING_SIZES[environment], variant.replicas, variant.resources)
    max_replicas = variant.max_replicas or max(DEFAULT_SERVING_MAX_REPLICAS[environment], size.replicas)
    if max_replicas < size.replicas:
        problems.not_allowed(f"{key}.maxReplicas", max_replicas, f"at least replicas ({size.replicas})")
    return ServingVariant(
        name=variant.name, image=variant.image or context.jobs_image, model=variant.model, weight=variant.weight,
        size=size, max_replicas=max_replicas,
        instance_type=(variant.instance_type or DEFAULT_MANAGED_INSTANCE[backend][environment]) if managed else None,
    )
