"""PlatformEndpoints: what every backend must produce, and the only thing the pipeline config is made from.

Every backend (`stacks/ensemble.py`, `stacks/aws.py`, `stacks/azure.py`) returns one `PlatformEndpoints`.
Fields marked `secret()` carry secret Outputs; `resolve()` keeps them out of the public view entirely,
so nothing derived from the public view can contain, or be tainted by, a secret.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

# Stands in for a secret in every view that must not hold one (public outputs, offline render).
REDACTED = "REDACTED"


def secret(default: Any = dataclasses.MISSING) -> Any:
    """A field whose value is a secret Output; `resolve(..., with_secrets=False)` replaces it by REDACTED."""
    if default is dataclasses.MISSING:
        return field(metadata={"secret": True})
    return field(default=default, metadata={"secret": True})


@dataclass(frozen=True)
class KubernetesTarget:
    """The cluster every in-cluster workload and the published pipeline config go to."""

    provider: pulumi.ProviderResource = field(metadata={"resolve": False})
    platform_namespace: pulumi.Input[str]
    pipelines_namespace: pulumi.Input[str]
    # The annotations that give a pipeline pod its cloud identity (IRSA, workload identity); none on the ensemble.
    pipeline_identity: dict[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Buckets:
    lake: pulumi.Input[str]
    artifacts: pulumi.Input[str]
    feature_store: pulumi.Input[str]
    monitoring: pulumi.Input[str]


@dataclass(frozen=True)
class ObjectStore:
    """S3 (SeaweedFS, MinIO, AWS) or Azure Blob. `endpoint` is empty where the client's default is right (AWS S3)."""

    kind: str  # "s3" or "azure-blob"
    endpoint: pulumi.Input[str]  # Azure: https://<account>.blob.core.windows.net
    region: pulumi.Input[str]  # Azure: the location
    buckets: Buckets  # Azure: containers of one storage account
    # How pipelines authenticate: "access-key" (keys below), "irsa" or "workload-identity" (no keys at all).
    auth: str
    account: pulumi.Input[str] = ""  # Azure: the storage account's name
    access_key_id: Optional[pulumi.Input[str]] = secret(None)
    secret_access_key: Optional[pulumi.Input[str]] = secret(None)


@dataclass(frozen=True)
class DatabaseLogin:
    """One consumer's own database and login. Passwords are URL-safe (letters and digits)."""

    database: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Input[str] = secret()


@dataclass(frozen=True)
class Database:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    sslmode: str  # libpq sslmode: "disable" inside the cluster, "require" or stricter on the clouds
    logins: dict[str, DatabaseLogin]  # keyed by consumer: mlflow, airflow, feast


@dataclass(frozen=True)
class Cache:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    tls: bool
    password: pulumi.Input[str] = secret()


@dataclass(frozen=True)
class ServiceUrls:
    """In-cluster (or managed) URLs of the applications; empty until the service is deployed."""

    mlflow: pulumi.Input[str] = ""
    feast: pulumi.Input[str] = ""
    airflow: pulumi.Input[str] = ""
    evidently: pulumi.Input[str] = ""
    # The MLflow client plugin the tracking URI needs: "" for an MLflow server, "sagemaker-mlflow"
    # when the URI is a SageMaker tracking server's ARN.
    mlflow_plugin: str = ""
    # Writers (monitoring jobs, pipelines) send it to the Evidently UI; readers need none.
    evidently_token: Optional[pulumi.Input[str]] = secret(None)
    # Pipelines sign in to the Airflow API as this user (may read and trigger DAGs).
    airflow_user: pulumi.Input[str] = ""
    airflow_password: Optional[pulumi.Input[str]] = secret(None)


@dataclass(frozen=True)
class FeatureStoreSettings:
    """How Feast uses the stores above: its offline store is "file" (Parquet on the lake), "postgres"
    (the feast database) or "warehouse" (PlatformEndpoints.warehouse)."""

    offline_store: str = "file"


@dataclass(frozen=True)
class Size:
    """A workload's replicas, requests, limits and volume: the config's defaults give it, components take it."""

    replicas: int
    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str
    storage: str = ""  # per pod; only the data services keep a volume


@dataclass(frozen=True)
class ServingEndpointInfo:
    """A model endpoint: where clients send requests, and how its traffic is split."""

    url: pulumi.Input[str]  # through the gateway, which applies the weights
    weights: dict[str, int]  # variant -> percent of requests
    variant_urls: dict[str, pulumi.Input[str]]  # each variant directly (checks, shadow traffic)
    kind: str = "in-cluster"  # pipeline_names.SERVING_KINDS: readers need not guess it from the URL
    cloud_name: pulumi.Input[str] = ""  # the endpoint's own name on SageMaker or Azure ML
    capture: pulumi.Input[str] = ""  # the lake prefix of its captures (pipeline_names.capture_prefix); "": none
    capture_rate: float = 0.0


@dataclass(frozen=True)
class LakeEvents:
    """Where messages about new objects under `prefix` of the lake arrive, the same keys on every backend."""

    kind: str = "polling"  # pipeline_names.EVENT_KINDS
    queue: pulumi.Input[str] = ""  # a Redis channel, an SQS queue URL, a Service Bus queue name
    prefix: str = "incoming/"
    region: pulumi.Input[str] = ""  # sqs: the queue's region
    namespace: pulumi.Input[str] = ""  # service-bus: <namespace>.servicebus.windows.net


@dataclass(frozen=True)
class NotebooksInfo:
    """Where data scientists open notebooks, the same on every backend: the stack's `notebooks` output."""

    kind: str  # jupyterhub, sagemaker-studio or azure-ml
    url: pulumi.Input[str]
    users: tuple[str, ...]


@dataclass(frozen=True)
class WarehouseLogin:
    """A BI reader's login: SELECT on the published schema, nothing else."""

    user: pulumi.Input[str]
    password: Optional[pulumi.Input[str]] = secret(None)  # None: an identity (IAM, Entra ID) signs in


@dataclass(frozen=True)
class WarehouseEndpoint:
    """Where historical data lives, the same fields on every backend (pipeline_names.WAREHOUSE_KINDS)."""

    kind: str
    auth: str  # pipeline_names.WAREHOUSE_AUTHS
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    schema: str  # the published schema, which BI readers may SELECT from
    sslmode: str = ""  # postgres only
    user: pulumi.Input[str] = ""  # the pipelines' login; "" with an identity
    password: Optional[pulumi.Input[str]] = secret(None)
    readers: dict[str, WarehouseLogin] = field(default_factory=dict)  # athena: the user is the reader's IAM role ARN
    region: str = ""  # athena
    workgroup: pulumi.Input[str] = ""  # athena
    staging: pulumi.Input[str] = ""  # athena: the S3 location of uploads (Feast's entity rows)
    results: pulumi.Input[str] = ""  # athena: where the workgroup keeps query results (a BI tool's staging directory)


@dataclass(frozen=True)
class PlatformEndpoints:
    environment: str
    kubernetes: KubernetesTarget = field(metadata={"resolve": False})
    object_store: ObjectStore
    database: Database
    cache: Cache
    services: ServiceUrls = ServiceUrls()
    feature_store: FeatureStoreSettings = FeatureStoreSettings()
    serving: dict[str, ServingEndpointInfo] = field(default_factory=dict)
    events: LakeEvents = LakeEvents()
    warehouse: Optional[WarehouseEndpoint] = None
    # Not part of the pipeline config (the managed workbenches are built from it).
    notebooks: Optional[NotebooksInfo] = field(default=None, metadata={"resolve": False})
    # What must be up before the platform is usable: every service's components (the smoke check waits for them).
    ready: tuple[pulumi.Resource, ...] = field(default=(), metadata={"resolve": False})


def resolve(endpoints: Any, *, with_secrets: bool) -> pulumi.Output[Any]:
    """Await every Output in the endpoints and return the same dataclasses holding plain values.

    With `with_secrets=False`, secret fields are never awaited: they become REDACTED, and the result
    is not secret. With `with_secrets=True`, the result is secret as soon as one field is.
    """
    return _gather(endpoints, with_secrets)


def _gather(value: Any, with_secrets: bool) -> pulumi.Output[Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts: dict[str, Any] = {}
        kept: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("resolve") is False:
                kept[f.name] = item
            elif f.metadata.get("secret") and not with_secrets:
                kept[f.name] = None if item is None else REDACTED
            else:
                parts[f.name] = _gather(item, with_secrets)
        cls = type(value)
        return pulumi.Output.all(**parts).apply(lambda resolved: cls(**resolved, **kept)) if parts else pulumi.Output.from_input(cls(**kept))
    if isinstance(value, dict):
        if not value:
            return pulumi.Output.from_input({})
        return pulumi.Output.all(**{k: _gather(v, with_secrets) for k, v in value.items()})
    return pulumi.Output.from_input(value)
