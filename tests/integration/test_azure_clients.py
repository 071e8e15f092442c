"""The Azure stack's pipeline config and Airflow settings, as rendered, given to the real clients of the
platform image (Airflow's wasb hook and remote logging, MLflow's artifact repository, adlfs, pyarrow):
each must build its client for the stack's storage account with workload identity, and no key."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from infra.offline import REPO_ROOT
from tests.conftest import recording_of, resolved
from tests.integration.kubelet import platform_venv

pytestmark = pytest.mark.integration


def test_every_client_builds_its_azure_client_from_the_rendered_config(tmp_path):
    recording = recording_of("production-azure")
    public, complete = resolved(recording.result.public), resolved(recording.result.complete)
    settings = recording.one("kubernetes:core/v1:ConfigMap", "airflow-settings").inputs["data"]
    account = public.env["AZURE_STORAGE_ACCOUNT_NAME"]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **public.env, **complete.secret_env, **settings,
           "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags")}
    done = subprocess.run(
        [str(platform_venv() / "bin" / "python"), str(REPO_ROOT / "tests" / "integration" / "azure_clients_probe.py")],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    blob = f"https://{account}.blob.core.windows.net/"
    # Airflow: the mlops_wasb connection, and task logs in the artifacts container through it.
    assert facts["airflow_wasb"] == {"url": blob, "credential": "DefaultAzureCredential"}
    assert facts["airflow_logs"] == {"io": "WasbRemoteLogIO", "container": "artifacts", "folder": "airflow/logs", "conn_id": "mlops_wasb"}
    # MLflow's server: artifacts under mlflow/ of the artifacts container.
    assert facts["mlflow"] == {"repository": "AzureBlobArtifactRepository", "parsed": ["artifacts", account, "mlflow", "blob.core.windows.net"],
                               "credential": "DefaultAzureCredential", "url": blob}
    # pandas, Evidently (adlfs) and Feast (pyarrow) read the lake with the pod's identity.
    assert facts["fsspec"] == {"filesystem": "AzureBlobFileSystem", "account": account, "path": "lake/example/x.parquet",
                               "anonymous": False, "credential": "DefaultAzureCredential"}
    assert facts["pyarrow"] == {"filesystem": "AzureFileSystem", "path": "lake/example/x.parquet"}
