"""The closed sets a stack chooses from: environment, backend, where a service runs, the S3 server."""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Mapping

# The namespace of the stack file's keys: mlops:backend, mlops:services, ...
NAMESPACE = "mlops"


class Environment(str, Enum):
    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"


class Backend(str, Enum):
    ENSEMBLE = "ensemble"
    AWS = "aws"
    AZURE = "azure"


class ServiceMode(str, Enum):
    IN_CLUSTER = "in-cluster"
    MANAGED = "managed"


class ObjectStoreServer(str, Enum):
    """The S3 server of the ensemble. MinIO's upstream is archived (April 2026): pick it only for a
    maintained MinIO build of your own."""

    SEAWEEDFS = "seaweedfs"
    MINIO = "minio"


def by_environment(table: Mapping[Environment, Any], pick: Callable[[Any], Any] = lambda value: value) -> str:
    """'a in local, b in staging, c in production', from a default table: descriptions never drift from it."""
    return ", ".join(f"{pick(table[e])} in {e.value}" for e in Environment)
