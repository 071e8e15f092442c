"""DVC from the generated remote alone: a user's round trip in the notebook image, against a real store.

In a container of the notebook image, with the pipeline config's env and its files at /etc/mlops (as a
notebook pod gets them), a fresh git repository takes /etc/mlops/dvc.config as its .dvc/config, then
`dvc add`, `dvc push`, drops the data and the cache, `dvc pull`: the bytes must come back, and the object
must be in the lake bucket under the remote's prefix.

- `local` (the ensemble): moto's S3 stands in for SeaweedFS, its buckets made by the rendered setup Job.
  Translated, as for every in-cluster address: `seaweedfs.mlops.svc.cluster.local:8333`, in the env
  (AWS_ENDPOINT_URL_S3, MLFLOW_S3_ENDPOINT_URL) and in dvc.config's `endpointurl`, is moto's loopback port.
- `production-azure`: Azurite is the storage account. DVC has no endpoint setting (adlfs builds
  https://<account>.blob.core.windows.net), so nothing is rewritten: that host name resolves to a
  loopback address where Azurite serves HTTPS on 443, with a certificate trusted as Azure's public CA
  (system bundle, REQUESTS_CA_BUNDLE, SSL_CERT_FILE); the pod's identity is a managed-identity endpoint
  (IDENTITY_ENDPOINT, IDENTITY_HEADER), from which DefaultAzureCredential gets its Entra ID token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import boto3
import pytest
import yaml

from mlops_jobs import pipeline_names as names
from mlops_stack import offline
from tests import fixtures
from tests.conftest import recording_of
from tests.integration.backing_services import pipeline_config
from tests.integration.containers import Container, ContainerCluster, docker_ready, notebook_image, platform_image
from tests.integration.test_azure_clients import AZURITE, TRUST_SYSTEM_BUNDLE, managed_identity_endpoint

pytestmark = pytest.mark.integration
PIPELINES = "mlops-pipelines"
DATA = "/data/in"  # where the test's CSV is mounted, read-only

# The user's steps, in a fresh folder of the home volume; the last line is what the test checks.
ROUND_TRIP = r"""
set -euo pipefail
mkdir project && cd project
git init --quiet
dvc init --quiet
cp /etc/mlops/dvc.config .dvc/config
cp /data/in/data.csv data.csv
dvc add --quiet data.csv
dvc push
rm -rf .dvc/cache data.csv
dvc pull
python - <<'EOF'
import hashlib, json, subprocess, yaml
out = yaml.safe_load(open("data.csv.dvc"))["outs"][0]
origins = subprocess.run(["dvc", "config", "--list", "--show-origin"], capture_output=True, text=True, check=True).stdout
print(json.dumps({"md5": out["md5"], "sha256": hashlib.sha256(open("data.csv", "rb").read()).hexdigest(),
                  "origins": sorted({line.split()[0] for line in origins.splitlines() if line.strip()})}))
EOF
"""


def data_file(folder: Path) -> tuple[Path, bytes]:
    """A CSV no earlier run wrote, readable by the container's user."""
    rows = "\n".join(f"{i},{random.randint(0, 10**9)},{random.random():.6f}" for i in range(20_000))
    body = f"customer_id,tenure,score\n{rows}\n".encode()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    (folder / "data.csv").write_bytes(body)
    os.chmod(folder / "data.csv", 0o644)
    return folder, body


def notebook_container(cluster: ContainerCluster, data: Path) -> Container:
    """A user server as the notebooks hub spawns it: the rendered pod template (the pipeline config's env
    and files, the pipelines' identity, the restricted security context, a home volume)."""
    template = yaml.safe_load(cluster.object("ConfigMap", "jupyterhub-config", "mlops")["data"]["user-pod.yaml"])
    container = cluster.pod_container(PIPELINES, "notebook", template["spec"], "notebook")
    container.options += ["--mount", f"type=bind,source={data},target={DATA},readonly"]
    return container.with_command(["bash", "-c", ROUND_TRIP])


def with_notebooks(stack: str):
    """The stack with its notebooks on (production has none by default): the user servers' pod template."""
    values = fixtures.stack_config(stack)
    services = {**(values.get("mlops:services") or {})}
    services["notebooks"] = {**services.get("notebooks", {}), "enabled": True}
    return offline.run(stack, {**values, "mlops:services": services})


def round_trip(container: Container) -> dict:
    done = container.run(timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def object_key(md5: str) -> str:
    """Where DVC 3 keeps a file under the remote's URL."""
    return f"dvc/files/md5/{md5[:2]}/{md5[2:]}"


def test_dvc_pushes_and_pulls_through_the_generated_s3_remote(s3_endpoint, tmp_path):
    docker_ready(platform_image(), notebook_image())
    recording = recording_of("local")
    cluster = ContainerCluster(recording, tmp_path / "cluster")
    env, secrets = pipeline_config(cluster)
    assert env[names.OBJECT_STORE_KIND] == "s3"
    cluster.expose(urllib.parse.urlsplit(env["AWS_ENDPOINT_URL_S3"]).netloc, urllib.parse.urlsplit(s3_endpoint).port)
    # The buckets, as the object store's rendered setup Job makes them.
    setup = cluster.container("Job", "seaweedfs-setup").run(timeout=300)
    assert setup.returncode == 0, setup.stdout + setup.stderr[-3000:]

    folder, body = data_file(tmp_path / "data")
    notebook = notebook_container(cluster, folder)
    assert notebook.env["AWS_ENDPOINT_URL_S3"] == s3_endpoint
    facts = round_trip(notebook)

    assert facts["sha256"] == hashlib.sha256(body).hexdigest()
    assert facts["md5"] == hashlib.md5(body).hexdigest()
    assert facts["origins"] == [".dvc/config"]  # nothing but the generated file configures DVC
    lake = env[names.bucket_key("lake")]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=env["AWS_REGION"],
                      aws_access_key_id=secrets["AWS_ACCESS_KEY_ID"], aws_secret_access_key=secrets["AWS_SECRET_ACCESS_KEY"])
    listed = s3.list_objects_v2(Bucket=lake, Prefix="dvc/").get("Contents", [])
    assert [o["Key"] for o in listed] == [object_key(facts["md5"])]
    assert s3.get_object(Bucket=lake, Key=object_key(facts["md5"]))["Body"].read() == body


def _fail_or_skip(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _wait_for(address: str, port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex((address, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {address}:{port}")


def account_certificate(folder: Path, host: str, address: str) -> tuple[Path, Path]:
    """A self-signed certificate for the account's blob host (DVC's URL) and its loopback address (the test's)."""
    certificate, key = folder / "account.crt", folder / "account.key"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host},IP:{address}", "-keyout", str(key), "-out", str(certificate)],
        capture_output=True, text=True,
    )
    assert made.returncode == 0, made.stderr
    os.chmod(key, 0o644)
    return certificate, key


@contextlib.contextmanager
def azurite_account(folder: Path, account: str):
    """Azurite as the storage account itself: HTTPS on port 443 of a loopback address of its own, the account
    named in the host (Azurite's production-style URLs), Entra ID tokens accepted. Yields the address,
    the account's key (for the test's own client) and the certificate."""
    if not AZURITE.exists():
        _fail_or_skip(f"{AZURITE} is missing: ./scripts/test.sh installs it with npm ci")
    if os.geteuid() != 0:
        _fail_or_skip("Azurite serves the account's own URL, https://<account>.blob.core.windows.net: port 443 needs root")
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    host = f"{account}.blob.core.windows.net"
    certificate, key = account_certificate(folder, host, address)
    account_key = "bWxvcHMtc3RhY2stZHZjLXRlc3Qta2V5LW5vdC1hLXNlY3JldA=="
    process = subprocess.Popen(
        [str(AZURITE), "--blobHost", address, "--blobPort", "443", "--oauth", "basic", "--cert", str(certificate),
         "--key", str(key), "--location", str(folder / "azurite"), "--skipApiVersionCheck", "--silent"],
        env={**os.environ, "AZURITE_ACCOUNTS": f"{account}:{account_key}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(address, 443, process)
        yield address, account_key, certificate
    finally:
        # Azurite closes on Ctrl-C; it may linger on open keep-alive connections after SIGTERM.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_dvc_pushes_and_pulls_through_the_generated_azure_remote_with_the_pods_identity(tmp_path):
    from azure.storage.blob import BlobServiceClient

    recording = with_notebooks("production-azure")
    cluster = ContainerCluster(recording, tmp_path / "cluster")
    env, _ = pipeline_config(cluster)
    assert env[names.OBJECT_STORE_KIND] == "azure-blob"
    account, lake = env["AZURE_STORAGE_ACCOUNT_NAME"], env[names.bucket_key("lake")]
    docker_ready(platform_image(), notebook_image())
    with azurite_account(tmp_path, account) as (address, account_key, certificate):
        admin = BlobServiceClient(f"https://{address}/{account}", credential={"account_name": account, "account_key": account_key},
                                  connection_verify=str(certificate))
        container = admin.create_container(lake)  # what the stack's BlobContainer makes

        cluster.trust(certificate)
        folder, body = data_file(tmp_path / "data")
        notebook = notebook_container(cluster, folder)
        notebook.options.append(f"--add-host={account}.blob.core.windows.net:{address}")
        with managed_identity_endpoint() as (identity, requested):
            notebook.env.update(identity, **TRUST_SYSTEM_BUNDLE)
            facts = round_trip(notebook)

        assert facts["sha256"] == hashlib.sha256(body).hexdigest()
        assert facts["md5"] == hashlib.md5(body).hexdigest()
        assert facts["origins"] == [".dvc/config"]
        assert set(requested) == {"https://storage.azure.com"}  # an Entra ID token from the pod's identity, no key
        assert [b.name for b in container.list_blobs(name_starts_with="dvc/")] == [object_key(facts["md5"])]
        assert container.download_blob(object_key(facts["md5"])).readall() == body
