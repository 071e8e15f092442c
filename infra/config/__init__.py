"""The stack's `mlops:*` configuration: read, validated and defaulted here, and nowhere else.

One module per section of the stack file, each holding its input model, its defaults per
environment and its checks side by side: `stack`, `services`, `aws`, `azure`, `serving`. Every
other module receives a validated, fully defaulted `StackConfig`; none reads Pulumi config or a
stack file itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .aws import AWS_SIZES, CACHE_ENGINE_VERSIONS, Aws, AwsSizes
from .azure import AZURE_SIZES, PG_TIERS, Azure, AzureExistingNetwork, AzureSizes
from .choices import NAMESPACE, Backend, Environment, ObjectStoreServer, ServiceMode
from .errors import ConfigError, describe
from .images import (
    DEFAULT_IMAGES, HA_OBJECT_STORE_REPLICAS, IMAGE_DAGS, IMAGE_FEATURE_REPO, MINIO_IMAGE, NOTEBOOK_IMAGE, PLATFORM_IMAGE,
    PLATFORM_IMAGE_REPOSITORY, PLATFORM_IMAGE_VERSION,
)
from .schema import json_schema
from .serving import (
    DEFAULT_MANAGED_INSTANCE, ENDPOINT_NAME, MANAGED_SERVING, VARIANT_NAME, Serving, ServingEndpoint, ServingVariant,
)
from .services import (
    AIRFLOW_COMPONENTS, APP_SERVICES, DATA_SERVICES, DEFAULT_SIZES, MANAGED_SERVICES, Airflow,
    AppService, BackupConfig, DataService, Evidently, Feast, GitSource, IngressConfig, Mlflow, MonitoringConfig,
    OfflineStore,
)
from .events import EventQueue, Events
from .warehouse import Warehouse, WarehouseKind, WarehouseMode
from .notebooks import NotebookAuth, NotebookProfile, Notebooks
from .size import Size
from mlops_jobs.pipeline_names import DATABASE_CONSUMERS
from .stack import (
    BACKEND_LABELS, DEFAULT_TTL_HOURS, ENVIRONMENT_LABEL, EPHEMERAL_STACK, EXPIRES_LABEL, OWNER_LABEL, StackConfig,
    StackConfigInput, environment_from_stack, resolve,
)


def load(stack: str, values: dict[str, Any]) -> StackConfig:
    """Validate the `mlops:*` values of `stack` (keys without the `mlops:` prefix). Raises ConfigError."""
    try:
        raw = StackConfigInput.model_validate(values)
    except ValidationError as err:
        raise ConfigError(describe(err, StackConfigInput)) from None
    return resolve(stack, raw)


def from_pulumi() -> StackConfig:
    """Read every `mlops:*` key of the running stack. Unknown keys are errors, not ignored."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{NAMESPACE}:"
    values = {k[len(prefix) :]: _parse(runtime_config.get_config(k)) for k in keys if k.startswith(prefix)}
    return load(pulumi.get_stack(), values)


def _parse(value: Any) -> Any:
    """Pulumi hands structured config values to the program as JSON strings."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


def stack_file(stack: str, project: Path) -> Path:
    return project / f"Pulumi.{stack}.yaml"


def stack_names(project: Path) -> list[str]:
    """The stacks whose files are in `project`: Pulumi.<stack>.yaml, sorted."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project.glob("Pulumi.*.yaml"))


def stack_values(stack: str, project: Path) -> dict[str, Any]:
    """The raw `config:` map of Pulumi.<stack>.yaml (full keys). Most callers want `load_file`."""
    path = stack_file(stack, project)
    if not path.exists():
        raise ConfigError(f"no stack file {path.name} in {project}; stacks here: {', '.join(stack_names(project)) or 'none'}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path.name}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name}: a stack file is a map with a config: key")
    values = document.get("config") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path.name}: config: must be a map of keys to values")
    return values


__all__ = [
    "AIRFLOW_COMPONENTS", "APP_SERVICES", "AWS_SIZES", "AZURE_SIZES", "Airflow", "AppService", "Aws", "AwsSizes", "Azure",
    "AzureExistingNetwork", "AzureSizes", "BACKEND_LABELS", "Backend", "BackupConfig", "CACHE_ENGINE_VERSIONS", "ConfigError",
    "DATABASE_CONSUMERS", "DATA_SERVICES", "DEFAULT_IMAGES", "DEFAULT_MANAGED_INSTANCE", "DEFAULT_SIZES", "DEFAULT_TTL_HOURS",
    "DataService", "ENDPOINT_NAME", "ENVIRONMENT_LABEL", "EPHEMERAL_STACK", "EXPIRES_LABEL", "Environment", "EventQueue", "Events", "Evidently", "Feast",
    "GitSource", "HA_OBJECT_STORE_REPLICAS", "IMAGE_DAGS", "IMAGE_FEATURE_REPO", "IngressConfig", "MANAGED_SERVICES",
    "MANAGED_SERVING", "MINIO_IMAGE", "Mlflow", "MonitoringConfig", "NAMESPACE", "NotebookAuth", "NotebookProfile", "Notebooks", "OWNER_LABEL", "ObjectStoreServer",
    "NOTEBOOK_IMAGE", "OfflineStore", "PG_TIERS", "PLATFORM_IMAGE", "PLATFORM_IMAGE_REPOSITORY", "PLATFORM_IMAGE_VERSION", "Serving",
    "ServingEndpoint", "ServingVariant", "ServiceMode", "Size", "StackConfig", "StackConfigInput", "VARIANT_NAME",
    "Warehouse", "WarehouseKind", "WarehouseMode",
    "environment_from_stack", "from_pulumi", "json_schema", "load", "stack_file", "stack_names", "stack_values",
]
