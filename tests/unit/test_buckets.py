"""`mlops_jobs.buckets`: what a pipeline gets when its pod lacks part of the pipeline config. The
working paths (S3 on moto, Azure Blob on Azurite) are proven in tests/integration."""

import pytest

from infra.object_stores import FLAVOURS
from mlops_jobs import buckets


def test_the_image_knows_every_object_store_kind_the_pipeline_config_can_name():
    assert buckets.KINDS == tuple(FLAVOURS)


def test_an_unknown_role_names_the_known_ones():
    with pytest.raises(ValueError, match="bucket role 'data' is unknown; known roles: lake, artifacts, feature_store, monitoring"):
        buckets.bucket("data")


def test_a_pod_without_the_pipeline_config_is_told_which_variable_is_missing(monkeypatch):
    monkeypatch.delenv("MLOPS_BUCKET_LAKE", raising=False)
    with pytest.raises(RuntimeError, match="MLOPS_BUCKET_LAKE is not set: is the pipeline config in this pod's environment"):
        buckets.bucket("lake")


def test_an_azure_pod_without_the_blob_endpoint_is_told_so(monkeypatch):
    monkeypatch.setenv("MLOPS_BUCKET_LAKE", "lake")
    monkeypatch.setenv("MLOPS_OBJECT_STORE_KIND", "azure-blob")
    monkeypatch.delenv("AZURE_STORAGE_BLOB_ENDPOINT", raising=False)
    with pytest.raises(RuntimeError, match="AZURE_STORAGE_BLOB_ENDPOINT is not set"):
        buckets.bucket("lake")


def test_an_unknown_object_store_kind_names_the_supported_ones(monkeypatch):
    monkeypatch.setenv("MLOPS_BUCKET_LAKE", "lake")
    monkeypatch.setenv("MLOPS_OBJECT_STORE_KIND", "gcs")
    with pytest.raises(RuntimeError, match="MLOPS_OBJECT_STORE_KIND is 'gcs'; supported: s3, azure-blob"):
        buckets.bucket("lake")
