"""The closed sets a stack chooses from: environment, backend, where a service runs, the S3 server."""

from __future__ import annotations

from enum import Enum

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
