"""Run in the platform image's environment with an Azure stack's pipeline config (and Airflow settings)
as environment: builds each real client from it, offline, and prints what each client would use."""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    facts: dict[str, object] = {}

    from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

    client = WasbHook(wasb_conn_id=os.environ["MLOPS_OBJECT_STORE_CONN_ID"]).get_conn()
    facts["airflow_wasb"] = {"url": client.url, "credential": type(client.credential).__name__}

    from airflow.providers.microsoft.azure.hooks.data_lake import AzureDataLakeStorageV2Hook

    client = AzureDataLakeStorageV2Hook(adls_conn_id="mlops_adls").get_conn()
    facts["airflow_adls"] = {"url": client.url, "credential": type(client.credential).__name__}

    from airflow.logging_config import get_default_remote_conn_id, get_remote_task_log

    remote = get_remote_task_log()
    facts["airflow_logs"] = {"io": type(remote).__name__, "container": getattr(remote, "wasb_container", None),
                             "folder": getattr(remote, "remote_base", None), "conn_id": get_default_remote_conn_id()}

    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(os.environ["MLFLOW_ARTIFACTS_DESTINATION"])
    facts["mlflow"] = {"repository": type(repo).__name__, "parsed": list(repo.parse_wasbs_uri(repo.artifact_uri)),
                       "credential": type(repo.client.credential).__name__, "url": repo.client.url}

    import fsspec

    fs, path = fsspec.core.url_to_fs(os.environ["MLOPS_BUCKET_LAKE_URL"] + "/example/x.parquet")
    facts["fsspec"] = {"filesystem": type(fs).__name__, "account": fs.account_name, "path": path,
                       "anonymous": bool(getattr(fs, "anon", False)), "credential": type(fs.credential).__name__ if fs.credential else None}

    from pyarrow import fs as arrow_fs

    filesystem, path = arrow_fs.FileSystem.from_uri(os.environ["MLOPS_BUCKET_LAKE_URL"] + "/example/x.parquet")
    facts["pyarrow"] = {"filesystem": type(filesystem).__name__, "path": path}

    json.dump(facts, sys.stdout)


if __name__ == "__main__":
    main()
