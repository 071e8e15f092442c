"""The small values components take besides Pulumi inputs, shaped for the component. stacks/ fills
them from the validated config; no component reads config or holds a config model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from infra.contract import Size


@dataclass(frozen=True)
class GitCheckout:
    """A directory that git-sync checks out (`git` set), or a path inside the image (`git` unset)."""

    path: str
    git: Optional[str] = None
    ref: str = ""
    credentials_secret: Optional[str] = None  # a Secret with GITSYNC_USERNAME/GITSYNC_PASSWORD


@dataclass(frozen=True)
class Ingress:
    enabled: bool = False
    host: Optional[str] = None
    class_name: Optional[str] = None  # the cluster's default IngressClass when unset
    tls_secret: Optional[str] = None


@dataclass(frozen=True)
class Monitoring:
    """The scheduled drift reports: each variant's captures and `current` against `reference` (keys in
    the lake), into `project`; a share of drifted columns of `threshold` asks for retraining."""

    enabled: bool
    schedule: str
    project: str
    reference: str
    current: str
    threshold: float = 0.5
    window_hours: int = 24


@dataclass(frozen=True)
class VariantSpec:
    name: str
    image: str
    model: Optional[str]  # models:/<name>/<version>, served by `mlflow models serve`; None: the image serves
    weight: int
    size: Size  # replicas: the fewest pods (instances when managed)
    max_replicas: int
    instance_type: Optional[str] = None  # managed: the SageMaker instance type or Azure ML VM size


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    variants: tuple[VariantSpec, ...]
    await_ready: bool
    smoke_request: Optional[dict[str, Any]]
    capture_rate: float = 0.0  # the share of requests captured to the lake; 0: none


@dataclass(frozen=True)
class ServerProfile:
    """A notebook server size offered in the spawn form; with GPUs, where the GPU nodes are."""

    name: str
    description: str
    size: Size
    gpus: int = 0
    gpu_resource: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()
