"""The Azure stack's pipeline config, as rendered, with the real clients of the platform image, each run
as a container of the image under its rendered pod spec (the Airflow task pod's, or the check's Job's).

- Airflow's wasb hook and remote logging, MLflow's artifact repository, adlfs and pyarrow must each build
  its client for the stack's storage account with workload identity, and no key.
- The post-deploy check's bucket checks run against Azurite (Azure Storage's emulator) over HTTPS with
  an Entra ID token, which `DefaultAzureCredential` gets from a managed-identity endpoint on loopback.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest
import yaml

from mlops_stack.offline import REPO_ROOT
from tests.conftest import recording_of, resolved
from tests.integration.conftest import free_port, wait_for_port
from tests.integration.containers import SYSTEM_BUNDLE, ContainerCluster, docker_ready, platform_image

AZURITE = REPO_ROOT / "tests" / "integration" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"  # Azurite's account; its key is public and documented
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

pytestmark = pytest.mark.integration
PIPELINES = "mlops-pipelines"


def task_pod(cluster: ContainerCluster):
    """Airflow's task pod for the Azure stack, from its rendered pod template."""
    template = yaml.safe_load(cluster.object("ConfigMap", "airflow-pod-template", "mlops")["data"]["pod_template.yaml"])
    return cluster.pod_container(PIPELINES, "task", template["spec"], "base")


def test_every_client_builds_its_azure_client_from_the_rendered_config(tmp_path):
    docker_ready(platform_image())
    recording = recording_of("production-azure")
    public = resolved(recording.result.public)
    # Airflow's own settings (remote logging), which its servers get besides the pipeline config.
    settings = recording.one("kubernetes:core/v1:ConfigMap", "airflow-settings").inputs["data"]
    account = public.env["AZURE_STORAGE_ACCOUNT_NAME"]
    task = task_pod(ContainerCluster(recording, tmp_path / "cluster"))
    task.env.update(settings)
    probe = (REPO_ROOT / "tests" / "integration" / "azure_clients_probe.py").read_text()
    done = task.with_command(["python", "-c", probe]).run(timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    blob = f"https://{account}.blob.core.windows.net/"
    # Airflow: the mlops_wasb and mlops_adls (ADLS Gen2) connections, and task logs in the artifacts container through it.
    assert facts["airflow_wasb"] == {"url": blob, "credential": "DefaultAzureCredential"}
    assert facts["airflow_adls"] == {"url": f"https://{account}.dfs.core.windows.net/", "credential": "DefaultAzureCredential"}
    assert facts["airflow_logs"] == {"io": "WasbRemoteLogIO", "container": "artifacts", "folder": "airflow/logs", "conn_id": "mlops_wasb"}
    # MLflow's server: artifacts under mlflow/ of the artifacts container.
    assert facts["mlflow"] == {"repository": "AzureBlobArtifactRepository", "parsed": ["artifacts", account, "mlflow", "blob.core.windows.net"],
                               "credential": "DefaultAzureCredential", "url": blob}
    # pandas, Evidently (adlfs) and Feast (pyarrow) read the lake with the pod's identity.
    assert facts["fsspec"] == {"filesystem": "AzureBlobFileSystem", "account": account, "path": "lake/example/x.parquet",
                               "anonymous": False, "credential": "DefaultAzureCredential"}
    assert facts["pyarrow"] == {"filesystem": "AzureFileSystem", "path": "lake/example/x.parquet"}


@pytest.fixture
def azurite(tmp_path, tls_certificate):
    """Azurite's blob service on a free loopback port: HTTPS, and Entra ID (OAuth) bearer tokens accepted."""
    if not AZURITE.exists():
        message = f"{AZURITE} is missing: ./scripts/test.sh installs it with npm ci"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    certificate, key = tls_certificate
    port = free_port()
    process = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--oauth", "basic", "--cert", str(certificate),
         "--key", str(key), "--location", str(tmp_path / "azurite"), "--skipApiVersionCheck", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process)
        yield f"https://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    finally:
        # Azurite closes on Ctrl-C; it may linger on open keep-alive connections after SIGTERM.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def entra_token(audience: str = "https://storage.azure.com") -> str:
    """A token shaped like Entra ID's (Azurite's basic OAuth mode checks audience, issuer and times, not the signature)."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    now = int(time.time())
    tenant = "00000000-0000-4000-8000-000000000002"
    claims = {"aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "tid": tenant, "oid": "mlops-smoke",
              "iat": now, "nbf": now - 60, "exp": now + 3600}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.signature"


@contextlib.contextmanager
def managed_identity_endpoint():
    """An App Service style managed-identity endpoint on loopback: what DefaultAzureCredential asks when
    IDENTITY_ENDPOINT and IDENTITY_HEADER are set. Records the resources it was asked for."""
    secret, requested = "identity-header-secret", []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            if self.headers.get("X-IDENTITY-HEADER") != secret:
                self.send_response(401)
                self.end_headers()
                return
            resource = query["resource"][0]
            requested.append(resource)
            body = json.dumps({"access_token": entra_token(resource), "expires_on": str(int(time.time()) + 3600),
                               "resource": resource, "token_type": "Bearer"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"IDENTITY_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}/msi/token", "IDENTITY_HEADER": secret}, requested
    finally:
        server.shutdown()


def azure_cluster(recording, tmp_path, account_host: str, azurite: str, certificate) -> ContainerCluster:
    """The stack's storage account is Azurite, on loopback, with a certificate trusted as Azure's public CA is."""
    cluster = ContainerCluster(recording, tmp_path / "cluster", {account_host: azurite.removeprefix("https://")})
    cluster.trust(certificate)
    return cluster


# In the stand-in, Azure's public CA is a test certificate in the system bundle. azure-core (requests)
# and aiohttp (adlfs) read their own bundles unless these name the system's.
TRUST_SYSTEM_BUNDLE = {"REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE, "SSL_CERT_FILE": SYSTEM_BUNDLE}


def test_the_post_deploy_check_writes_reads_and_deletes_a_blob_in_every_container_with_an_entra_token(
    azurite, tls_certificate, tmp_path,
):
    recording = recording_of("production-azure")
    public = resolved(recording.result.public)
    account_host = public.env["AZURE_STORAGE_BLOB_ENDPOINT"].removeprefix("https://")
    containers = [public.env[f"MLOPS_BUCKET_{role}"] for role in ("LAKE", "ARTIFACTS", "FEATURE_STORE", "MONITORING")]

    from azure.storage.blob import BlobServiceClient

    admin = BlobServiceClient(azurite, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
                              connection_verify=str(tls_certificate[0]))
    for container in containers:  # what the stack's BlobContainer resources create
        admin.create_container(container)

    # The stack's storage account is Azurite here; the check's Job runs as rendered.
    docker_ready(platform_image())
    cluster = azure_cluster(recording, tmp_path, account_host, azurite, tls_certificate[0])
    job = next(r for r in recording.by_type("kubernetes:batch/v1:Job") if r.name == "smoke-job")
    check = cluster.container("Job", job.inputs["metadata"]["name"])
    assert check.env["AZURE_STORAGE_BLOB_ENDPOINT"] == azurite
    with managed_identity_endpoint() as (identity, requested):
        check.env.update(identity, **TRUST_SYSTEM_BUNDLE)
        done = check.run(timeout=300, extra_args=["--only", "bucket"])
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["bucket:artifacts", "ok"], ["bucket:feature-store", "ok"], ["bucket:lake", "ok"], ["bucket:monitoring", "ok"]]
    assert lines[-1] == "4 of 4 checks ok"
    assert set(requested) == {"https://storage.azure.com"}  # a token for Azure Storage, from the pod's identity
    # Nothing left behind.
    assert all(not list(admin.get_container_client(c).list_blobs()) for c in containers)

    # A container that is gone fails its check with the service's reason; the others still report.
    admin.delete_container("monitoring")
    with managed_identity_endpoint() as (identity, _):
        check.env.update(identity)
        failed = check.run(timeout=300, extra_args=["--only", "bucket"])
    assert failed.returncode == 1
    assert [line.split()[:2] for line in failed.stdout.strip().splitlines()[:-1]][-1] == ["bucket:monitoring", "FAIL"]
    assert "ContainerNotFound" in failed.stdout or "does not exist" in failed.stdout


EXAMPLE_PIPELINE = """
import json, sys
sys.path.insert(0, sys.argv[1])  # the DAGs folder
from churn import pipeline

seeded = pipeline.ensure_data()
arrived = pipeline.incoming_files()
rows, moved = pipeline.ingest_incoming(arrived)
print(json.dumps({"seeded": seeded, "arrived": arrived, "rows": rows, "left": pipeline.incoming_files(),
                  "labels": len(pipeline.read_lake(pipeline.LABELS_KEY))}))
"""


def test_the_example_pipeline_seeds_watches_and_ingests_the_lake_container_with_the_task_pods_identity(
    azurite, tls_certificate, tmp_path,
):
    """The example DAGs' lake steps, in Airflow's task pod as rendered for Azure: Parquet in and out of
    the `lake` container through adlfs, signed in with an Entra ID token, no key."""
    import io

    import pandas as pd
    from azure.storage.blob import BlobServiceClient

    recording = recording_of("production-azure")
    public = resolved(recording.result.public)
    account = public.env["AZURE_STORAGE_ACCOUNT_NAME"]
    account_host = public.env["AZURE_STORAGE_BLOB_ENDPOINT"].removeprefix("https://")
    lake = public.env["MLOPS_BUCKET_LAKE"]
    admin = BlobServiceClient(azurite, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
                              connection_verify=str(tls_certificate[0]))
    container = admin.create_container(lake)
    # New customers arrive under incoming/, where an upstream system drops them.
    arrived = pd.DataFrame({"customer_id": [9001, 9002, 9003], "tenure_months": [1, 2, 3], "monthly_charges": [90.0, 95.5, 120.0],
                            "support_calls": [4, 5, 6], "event_timestamp": pd.Timestamp("2026-11-29T01:00:00Z"),
                            "created": pd.Timestamp("2026-11-29T01:00:00Z")})
    container.upload_blob("incoming/churn/2026-11-29.parquet", arrived.to_parquet(index=False))

    docker_ready(platform_image())
    task = task_pod(azure_cluster(recording, tmp_path, account_host, azurite, tls_certificate[0]))
    with managed_identity_endpoint() as (identity, requested):
        task.env.update(identity, **TRUST_SYSTEM_BUNDLE)
        done = task.with_command(["python", "-c", EXAMPLE_PIPELINE, "/opt/mlops/examples/dags"]).run(timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])

    lake_url = f"abfss://{lake}@{account}.dfs.core.windows.net"
    assert facts["seeded"] == {"activity": f"{lake_url}/example/churn/customer_activity.parquet",
                               "labels": f"{lake_url}/example/churn/labels.parquet"}
    assert facts["arrived"] == ["incoming/churn/2026-11-29.parquet"]
    assert facts["rows"] == 403 and facts["left"] == [] and facts["labels"] == 400
    assert set(requested) == {"https://storage.azure.com"}
    # What an operator sees in the container: the seed, and the arrival moved to processed/.
    assert sorted(blob.name for blob in container.list_blobs()) == [
        "example/churn/customer_activity.parquet", "example/churn/labels.parquet", "processed/churn/2026-11-29.parquet"]
    activity = pd.read_parquet(io.BytesIO(container.download_blob("example/churn/customer_activity.parquet").readall()))
    assert len(activity) == 403 and {9001, 9002, 9003} <= set(activity["customer_id"])
