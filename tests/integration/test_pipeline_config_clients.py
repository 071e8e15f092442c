"""The rendered pipeline config used through Feast's real client, against real PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import os
import subprocess
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from infra import pipeline_config
from tests.conftest import recording_of, resolved
from tests.integration.conftest import free_port, running_postgres, wait_for_port
from tests.integration.test_data_services import consumer_passwords, rendered_postgres_setup, run_setup, set_up_like_rds

pytestmark = pytest.mark.integration

REDIS_PASSWORD = "RedisPw4"


@contextlib.contextmanager
def running_redis(redis_binary: str, folder, listen: list[str], port: int):
    """A password-protected Redis of its own, listening as `listen` says, removed afterwards."""
    process = subprocess.Popen(
        [redis_binary, *listen, "--requirepass", REDIS_PASSWORD, "--dir", str(folder), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def redis_server(redis_binary, tmp_path):
    port = free_port()
    with running_redis(redis_binary, tmp_path, ["--port", str(port)], port) as ready:
        yield ready


def test_feast_registry_and_online_store_work_from_the_generated_feature_store_yaml(postgres_server, redis_server, tmp_path, monkeypatch):
    script, env_spec = rendered_postgres_setup(tmp_path)
    passwords = consumer_passwords(env_spec)
    assert run_setup(script, env_spec, postgres_server, passwords).returncode == 0
    public = resolved(recording_of("local").result.public)
    # In-cluster DNS names stand for the servers that run here on loopback.
    feast_round_trip(public, {
        "postgres.mlops.svc.cluster.local:5432": f"127.0.0.1:{postgres_server['port']}",
        "redis.mlops.svc.cluster.local:6379": f"127.0.0.1:{redis_server}",
    }, passwords["feast"], tmp_path, monkeypatch)


@pytest.fixture
def tls_redis_server(redis_binary, tls_certificate, tmp_path):
    """Like ElastiCache with transit encryption: TLS only, an auth token."""
    certificate, key = tls_certificate
    port = free_port()
    tls_only = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(certificate), "--tls-key-file", str(key),
                "--tls-ca-cert-file", str(certificate), "--tls-auth-clients", "no"]
    with running_redis(redis_binary, tmp_path, tls_only, port) as ready:
        yield ready


@pytest.mark.parametrize("stack", ["staging", "production-azure"])
def test_feast_works_from_a_cloud_pipeline_config_over_tls_to_the_managed_database_and_cache(
    stack, tls_redis_server, tls_certificate, tmp_path, monkeypatch,
):
    """A cloud stack's feature_store.yaml (sslmode=require, ssl=true; Azure's Redis on 6380) against
    servers that accept TLS only: RDS and ElastiCache, or Flexible Server and Azure Cache for Redis."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))  # the managed caches' certificates chain to public CAs
    public = resolved(recording_of(stack).result.public)
    with running_postgres(tls=True) as server:
        result, passwords = set_up_like_rds(server, tmp_path, stack)
        assert result.returncode == 0, result.stderr
        feast_round_trip(public, {
            f"{public.env['MLOPS_POSTGRES_HOST']}:5432": f"127.0.0.1:{server['port']}",
            f"{public.env['MLOPS_REDIS_HOST']}:{public.env['MLOPS_REDIS_PORT']}": f"127.0.0.1:{tls_redis_server}",
        }, passwords["feast"], tmp_path, monkeypatch)


def feast_round_trip(public, addresses: dict[str, str], feast_password: str, tmp_path, monkeypatch) -> None:
    """Feast's real client on the rendered feature_store.yaml: apply to the SQL registry, write to the
    online store, and read back from a second client."""
    text = public.files[pipeline_config.FEATURE_STORE_YAML]
    for address, local in addresses.items():
        assert address in text
        text = text.replace(address, local)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(text)
    # What the ConfigMap gives every pipeline pod (a host and its port in two variables moved to the
    # server here), then what the Secret gives it.
    for key, value in public.env.items():
        monkeypatch.setenv(key, value)
        if key.endswith("_HOST") and f"{value}:{public.env[key[:-5] + '_PORT']}" in addresses:
            host, port = addresses[f"{value}:{public.env[key[:-5] + '_PORT']}"].rsplit(":", 1)
            monkeypatch.setenv(key, host)
            monkeypatch.setenv(key[:-5] + "_PORT", port)
    monkeypatch.setenv("MLOPS_POSTGRES_FEAST_USER", public.env["MLOPS_POSTGRES_FEAST_USER"])
    monkeypatch.setenv("MLOPS_POSTGRES_FEAST_PASSWORD", feast_password)
    monkeypatch.setenv("MLOPS_REDIS_PASSWORD", REDIS_PASSWORD)

    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float32

    now = datetime.now(timezone.utc).replace(microsecond=0)
    frame = pd.DataFrame({"customer_id": [1, 2], "spend": [10.5, 20.25], "event_timestamp": [now, now]})
    frame.to_parquet(tmp_path / "spend.parquet")
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    spend = FeatureView(
        name="customer_spend",
        entities=[customer],
        ttl=timedelta(days=1),
        schema=[Field(name="spend", dtype=Float32)],
        source=FileSource(path=str(tmp_path / "spend.parquet"), timestamp_field="event_timestamp"),
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([customer, spend])
    store.write_to_online_store("customer_spend", frame)

    # A second client sees the registry in PostgreSQL and reads the features back from Redis.
    reader = FeatureStore(repo_path=str(repo))
    assert [fv.name for fv in reader.list_feature_views()] == ["customer_spend"]
    online = reader.get_online_features(features=["customer_spend:spend"], entity_rows=[{"customer_id": 2}]).to_dict()
    assert online["spend"] == [pytest.approx(20.25)]


def test_s3_clients_need_nothing_but_the_pipeline_environment(s3_endpoint, monkeypatch):
    import boto3

    config = resolved(recording_of("local").result.public)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in config.env.items():
        monkeypatch.setenv(key, value.replace("http://seaweedfs.mlops.svc.cluster.local:8333", s3_endpoint))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mlops-pipelines")  # from the Secret in the cluster
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "PipelinesSecret1")

    s3 = boto3.client("s3")  # no endpoint, region or keys in code: all from the pipeline config
    assert s3.meta.endpoint_url == s3_endpoint
    bucket = os.environ["MLOPS_BUCKET_ARTIFACTS"]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="mlflow/probe.txt", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="mlflow/probe.txt")["Body"].read() == b"ok"
    assert os.environ["MLFLOW_S3_ENDPOINT_URL"] == s3_endpoint
