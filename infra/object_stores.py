"""What differs between the object-store kinds, one flavour object each: S3 (SeaweedFS, MinIO, AWS)
and Azure Blob (an ADLS Gen2 or flat storage account). Every client setting the pipeline config
derives from a store goes through its flavour; nothing else branches on the kind."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote, urlencode

from infra.contract import ObjectStore


class Flavour(Protocol):
    kind: str
    connection_id: str  # the Airflow connection of the store; DAGs find it in MLOPS_OBJECT_STORE_CONN_ID

    def bucket_url(self, store: ObjectStore, bucket: str) -> str: ...
    def mlflow_artifacts(self, store: ObjectStore) -> str: ...
    def remote_log_settings(self, store: ObjectStore) -> dict[str, str]: ...
    def client_env(self, store: ObjectStore) -> dict[str, str]: ...
    def dvc_remote(self, store: ObjectStore) -> list[str]: ...
    def airflow_connections(self, store: ObjectStore) -> dict[str, str]: ...
    def described(self, store: ObjectStore) -> dict[str, str]: ...


class S3:
    kind = "s3"
    connection_id = "mlops_s3"

    def bucket_url(self, store: ObjectStore, bucket: str) -> str:
        return f"s3://{bucket}"

    def mlflow_artifacts(self, store: ObjectStore) -> str:
        return f"s3://{store.buckets.artifacts}/mlflow"

    def remote_log_settings(self, store: ObjectStore) -> dict[str, str]:
        return {"AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{store.buckets.artifacts}/airflow/logs"}

    def client_env(self, store: ObjectStore) -> dict[str, str]:
        env = {"AWS_DEFAULT_REGION": store.region, "AWS_REGION": store.region}
        if store.endpoint:
            # boto3, the AWS CLI, s3fs and DuckDB read AWS_ENDPOINT_URL_S3; MLflow reads its own variable.
            env["AWS_ENDPOINT_URL_S3"] = store.endpoint
            env["MLFLOW_S3_ENDPOINT_URL"] = store.endpoint
        return env

    def dvc_remote(self, store: ObjectStore) -> list[str]:
        lines = [f"    url = s3://{store.buckets.lake}/dvc"]
        if store.endpoint:
            lines.append(f"    endpointurl = {store.endpoint}")
        return [*lines, f"    region = {store.region}"]

    def airflow_connections(self, store: ObjectStore) -> dict[str, str]:
        extra = {"region_name": store.region}
        if store.endpoint:
            extra["endpoint_url"] = store.endpoint
        if store.auth == "access-key":
            credentials = f"{quote(str(store.access_key_id), safe='')}:{quote(str(store.secret_access_key), safe='')}@"
        else:
            credentials = ""  # the pod's workload identity supplies credentials
        return {self.connection_id: f"aws://{credentials}/?{urlencode(extra)}"}

    def described(self, store: ObjectStore) -> dict[str, str]:
        return {}


class AzureBlob:
    kind = "azure-blob"
    connection_id = "mlops_wasb"

    @staticmethod
    def _suffix(store: ObjectStore) -> str:
        # https://<account>.blob.core.windows.net -> core.windows.net (other clouds have other suffixes)
        host = str(store.endpoint).split("://", 1)[-1].rstrip("/")
        return host.split(".blob.", 1)[1] if ".blob." in host else "core.windows.net"

    def bucket_url(self, store: ObjectStore, bucket: str) -> str:
        # The account in the URL: pyarrow, adlfs and Feast need nothing else.
        return f"abfss://{bucket}@{store.account}.dfs.{self._suffix(store)}"

    def mlflow_artifacts(self, store: ObjectStore) -> str:
        # wasbs: MLflow's Azure Blob repository, which mlflow[azure] installs; it works on ADLS Gen2 accounts too.
        return f"wasbs://{store.buckets.artifacts}@{store.account}.blob.{self._suffix(store)}/mlflow"

    def remote_log_settings(self, store: ObjectStore) -> dict[str, str]:
        # After wasb:// comes a prefix of blob names; the container is a setting of its own.
        return {
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "wasb://airflow/logs",
            "AIRFLOW__AZURE_REMOTE_LOGGING__REMOTE_WASB_LOG_CONTAINER": str(store.buckets.artifacts),
        }

    def client_env(self, store: ObjectStore) -> dict[str, str]:
        # adlfs (pandas, Evidently, Feast) signs in with DefaultAzureCredential, which finds the pod's
        # workload identity; without AZURE_STORAGE_ANON=false older adlfs goes anonymous instead.
        return {"AZURE_STORAGE_ACCOUNT_NAME": store.account, "AZURE_STORAGE_ANON": "false", "AZURE_STORAGE_BLOB_ENDPOINT": store.endpoint}

    def dvc_remote(self, store: ObjectStore) -> list[str]:
        # No key in the config: DVC then signs in with DefaultAzureCredential (workload identity, az login).
        return [f"    url = azure://{store.buckets.lake}/dvc", f"    account_name = {store.account}"]

    def airflow_connections(self, store: ObjectStore) -> dict[str, str]:
        # Login: the account; no key, SAS or tenant: the Azure provider's hooks use DefaultAzureCredential.
        host = str(store.endpoint).split("://", 1)[-1].rstrip("/")
        account = quote(str(store.account), safe="")
        # ADLS Gen2 (directories, ACLs) through the dfs endpoint; Gen1's `azure_data_lake` type is retired.
        dfs = f"https://{store.account}.dfs.{self._suffix(store)}"
        return {self.connection_id: f"wasb://{account}@{host}", "mlops_adls": f"adls://{account}/?{urlencode({'account_url': dfs})}"}

    def described(self, store: ObjectStore) -> dict[str, str]:
        return {"account": store.account}


FLAVOURS: dict[str, Flavour] = {flavour.kind: flavour for flavour in (S3(), AzureBlob())}


def flavour(store: ObjectStore) -> Flavour:
    try:
        return FLAVOURS[store.kind]
    except KeyError:
        raise ValueError(f"object store kind {store.kind!r} is not supported; supported: {', '.join(FLAVOURS)}") from None
