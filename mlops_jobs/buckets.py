"""The platform's buckets, as the pipeline config names them, for pipelines that read and write objects:
the same calls on every backend.

- `s3` (SeaweedFS, MinIO, S3): s3fs, with the endpoint in AWS_ENDPOINT_URL_S3 (none on AWS) and the credentials of
  the environment (the pipeline config's keys, or the pod's IAM role).
- `azure-blob` (a storage account): adlfs against AZURE_STORAGE_BLOB_ENDPOINT, signed in with the pod's
  workload identity (DefaultAzureCredential). No key exists.

    from mlops_jobs.buckets import bucket

    lake = bucket("lake")
    lake.write_parquet(frame, "example/x.parquet")   # returns s3://lake/... or abfss://lake@<account>...
    lake.keys("incoming/")                           # keys under a prefix, relative to the bucket

A write to the lake under the events prefix is announced to Airflow where Redis carries the lake's
events (mlops_jobs.lake_events); S3 and Event Grid announce their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import fsspec
    import pandas as pd

from mlops_jobs import pipeline_names as names

ROLES = names.BUCKET_ROLES
KINDS = names.OBJECT_STORE_KINDS


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: is the pipeline config in this pod's environment?")
    return value


@dataclass(frozen=True)
class Bucket:
    role: str  # pipeline_names.BUCKET_ROLES
    name: str  # the bucket, or the container on Azure
    url: str  # how other tools name it: s3://lake, abfss://lake@<account>.dfs.core.windows.net
    fs: "fsspec.AbstractFileSystem"

    def url_of(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _path(self, key: str) -> str:
        return f"{self.name}/{key}"

    def exists(self, key: str) -> bool:
        return self.fs.exists(self._path(key))

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under the prefix, sorted; an absent prefix has none."""
        found = self.fs.find(self._path(prefix))
        root = f"{self.name}/"
        return sorted(path.removeprefix(root) for path in found)

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self._path(key))

    def write_bytes(self, key: str, body: bytes) -> str:
        with self.fs.open(self._path(key), "wb") as file:
            file.write(body)
        self._written(key)
        return self.url_of(key)

    def read_parquet(self, key: str) -> "pd.DataFrame":
        import pandas as pd

        with self.fs.open(self._path(key), "rb") as file:
            return pd.read_parquet(file)

    def write_parquet(self, frame: "pd.DataFrame", key: str) -> str:
        with self.fs.open(self._path(key), "wb") as file:
            frame.to_parquet(file, index=False)
        self._written(key)
        return self.url_of(key)

    def put_file(self, local_path: str, key: str) -> str:
        self.fs.put_file(local_path, self._path(key))
        self._written(key)
        return self.url_of(key)

    def _written(self, key: str) -> None:
        """New data in the lake is announced where no cloud does it (mlops_jobs.lake_events)."""
        if self.role == "lake":
            from mlops_jobs import lake_events

            lake_events.publish([key], bucket=self.name)

    def move(self, key: str, new_key: str) -> None:
        self.fs.mv(self._path(key), self._path(new_key))


def bucket(role: str) -> Bucket:
    """The bucket of a role of the pipeline config: lake, artifacts, feature_store or monitoring."""
    if role not in ROLES:
        raise ValueError(f"bucket role {role!r} is unknown; known roles: {', '.join(ROLES)}")
    name = _setting(names.bucket_key(role))
    kind = os.environ.get(names.OBJECT_STORE_KIND, "s3")
    if kind == "azure-blob":
        # The endpoint, not the account name, decides the host: sovereign clouds have their own.
        endpoint, account = _setting("AZURE_STORAGE_BLOB_ENDPOINT"), _setting("AZURE_STORAGE_ACCOUNT_NAME")
        url = _setting(names.bucket_url_key(role))
        from adlfs import AzureBlobFileSystem

        fs = AzureBlobFileSystem(account_name=account, account_host=endpoint.removeprefix("https://").rstrip("/"), anon=False)
    elif kind == "s3":
        import s3fs

        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint} if endpoint else {})
        url = f"s3://{name}"
    else:
        raise RuntimeError(f"{names.OBJECT_STORE_KIND} is {kind!r}; supported: {', '.join(KINDS)}")
    return Bucket(role=role, name=name, url=url, fs=fs)
