"""The images the platform runs by default, and where the platform image keeps its examples."""

from __future__ import annotations

from .choices import ObjectStoreServer

# The platform image (images/platform) carries MLflow, Feast, Evidently and Airflow at one set of
# versions, so every client in a pipeline matches its server. Its tag is images/platform/VERSION.
PLATFORM_IMAGE_REPOSITORY = "ghcr.io/mlops-stack/platform"
PLATFORM_IMAGE_VERSION = "1.5.0"
PLATFORM_IMAGE = f"{PLATFORM_IMAGE_REPOSITORY}:{PLATFORM_IMAGE_VERSION}"
# The notebook image (images/notebook): the platform image plus JupyterHub, JupyterLab and DVC, at the same version.
NOTEBOOK_IMAGE = f"ghcr.io/mlops-stack/notebook:{PLATFORM_IMAGE_VERSION}"

# MinIO's last community release: selected with services.objectStore.server: minio.
MINIO_IMAGE = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
# Production's object store survives the loss of a node: SeaweedFS's raft quorum, MinIO's erasure set.
HA_OBJECT_STORE_REPLICAS = {ObjectStoreServer.SEAWEEDFS: 3, ObjectStoreServer.MINIO: 4}

DEFAULT_IMAGES = {
    "postgres": "postgres:17.6-bookworm",
    "redis": "redis:7.4.6-alpine",
    "objectStore": "chrislusf/seaweedfs:4.44",
    "objectStoreClient": "minio/mc:RELEASE.2025-08-13T08-35-41Z",
    "mlflow": PLATFORM_IMAGE,
    "feast": PLATFORM_IMAGE,
    "evidently": PLATFORM_IMAGE,
    "airflow": PLATFORM_IMAGE,
    "gitSync": "registry.k8s.io/git-sync/git-sync:v4.4.2",
}

# Where the platform image keeps the example feature repository and DAGs (images/platform/Dockerfile).
IMAGE_FEATURE_REPO = "/opt/mlops/examples/feature_repo"
IMAGE_DAGS = "/opt/mlops/examples/dags"
