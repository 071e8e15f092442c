"""The pure function endpoints → pipeline config, on plain values."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import yaml

from infra import pipeline_config
from infra.contract import FeatureStoreSettings, Buckets, Cache, Database, DatabaseLogin, KubernetesTarget, ObjectStore, PlatformEndpoints, ServiceUrls

SECRETS = {"pg-mlflow": "Pw1mlflowSECRET", "pg-airflow": "Pw2airflowSECRET", "pg-feast": "Pw3feastSECRET", "redis": "RedisSECRET9", "s3": "S3secretKEY", "evidently": "EvTokenSECRET"}


def endpoints(secrets=SECRETS, **changes) -> PlatformEndpoints:
    e = PlatformEndpoints(
        environment="staging",
        kubernetes=KubernetesTarget(provider=None, platform_namespace="mlops", pipelines_namespace="mlops-pipelines"),
        object_store=ObjectStore(
            kind="s3",
            endpoint="http://minio.mlops.svc.cluster.local:9000",
            region="us-east-1",
            buckets=Buckets(lake="lake", artifacts="artifacts", feature_store="feature-store", monitoring="monitoring"),
            auth="access-key",
            access_key_id="mlops-pipelines",
            secret_access_key=secrets["s3"],
        ),
        database=Database(
            host="postgres.mlops.svc.cluster.local",
            port=5432.0,  # Outputs from the engine carry numbers as floats
            sslmode="disable",
            logins={c: DatabaseLogin(database=c, user=c, password=secrets[f"pg-{c}"]) for c in ("mlflow", "airflow", "feast")},
        ),
        cache=Cache(host="redis.mlops.svc.cluster.local", port=6379, tls=False, password=secrets["redis"]),
        services=ServiceUrls(
            mlflow="http://mlflow.mlops.svc.cluster.local:5000",
            evidently="http://evidently.mlops.svc.cluster.local:8000",
            evidently_token=secrets["evidently"],
        ),
    )
    return replace(e, **changes)


def public_text(config: pipeline_config.PipelineConfig) -> str:
    return yaml.safe_dump(config.config_map_data())


def test_no_secret_reaches_the_config_map():
    config = pipeline_config.render(endpoints())
    text = public_text(config)
    for value in SECRETS.values():
        assert value not in text
        assert any(value in v for v in config.secret_env.values())


def test_public_part_does_not_depend_on_secret_values():
    other = {k: v[::-1] + "X" for k, v in SECRETS.items()}
    assert public_text(pipeline_config.render(endpoints())) == public_text(pipeline_config.render(endpoints(other)))


def test_mlflow_and_s3_environment_point_at_the_endpoints():
    env = pipeline_config.render(endpoints()).env
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlops.svc.cluster.local:5000"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_S3"] == "http://minio.mlops.svc.cluster.local:9000"
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://artifacts/mlflow"
    assert env["MLOPS_POSTGRES_PORT"] == "5432" and env["MLOPS_REDIS_TLS"] == "false"
    assert env["MLOPS_BUCKET_FEATURE_STORE"] == "feature-store"


def test_aws_style_store_without_endpoint_or_keys_uses_the_workload_identity():
    store = replace(endpoints().object_store, endpoint="", auth="irsa", access_key_id=None, secret_access_key=None, region="eu-west-1")
    config = pipeline_config.render(endpoints(object_store=store))
    assert "AWS_ENDPOINT_URL_S3" not in config.env and config.env["AWS_REGION"] == "eu-west-1"
    assert "AWS_ACCESS_KEY_ID" not in config.secret_env
    s3 = urlsplit(config.secret_env["AIRFLOW_CONN_MLOPS_S3"])
    assert (s3.scheme, s3.username, parse_qs(s3.query)) == ("aws", None, {"region_name": ["eu-west-1"]})


def test_same_keys_whatever_the_values():
    # Every value differs (hosts, ports, TLS, buckets, region, passwords, URLs); only the kind of store stays.
    other_secrets = {key: value[::-1] + "x" for key, value in SECRETS.items()}
    a = pipeline_config.render(endpoints())
    b = pipeline_config.render(endpoints(
        secrets=other_secrets, environment="production",
        object_store=ObjectStore(
            kind="s3", endpoint="https://s3.internal:9443", region="eu-west-1",
            buckets=Buckets(lake="acme-lake", artifacts="acme-artifacts", feature_store="acme-features", monitoring="acme-monitoring"),
            auth="access-key", access_key_id="acme", secret_access_key=other_secrets["s3"],
        ),
        database=Database(host="db.internal", port=6432, sslmode="verify-full", logins={
            c: DatabaseLogin(database=f"acme_{c}", user=f"acme_{c}", password=other_secrets[f"pg-{c}"]) for c in ("mlflow", "airflow", "feast")}),
        cache=Cache(host="cache.internal", port=6380, tls=True, password=other_secrets["redis"]),
        services=ServiceUrls(mlflow="https://mlflow.internal", evidently="https://evidently.internal", evidently_token=other_secrets["evidently"]),
    ))
    assert (set(a.env), set(a.files), set(a.secret_env)) == (set(b.env), set(b.files), set(b.secret_env))
    # The values did change, so equal key sets are not an accident of equal inputs.
    assert {k for k in a.env if a.env[k] != b.env[k]} >= {"MLOPS_ENVIRONMENT", "MLOPS_POSTGRES_HOST", "MLOPS_REDIS_TLS", "MLOPS_BUCKET_LAKE"}
    assert all(a.secret_env[k] != b.secret_env[k] for k in a.secret_env)


def test_airflow_connections_are_uris_with_the_real_credentials():
    conns = pipeline_config.render(endpoints()).secret_env
    pg = urlsplit(conns["AIRFLOW_CONN_MLOPS_POSTGRES"])
    assert (pg.scheme, pg.username, pg.password, pg.hostname, pg.port, pg.path) == (
        "postgres", "feast", SECRETS["pg-feast"], "postgres.mlops.svc.cluster.local", 5432, "/feast")
    s3 = urlsplit(conns["AIRFLOW_CONN_MLOPS_S3"])
    assert (s3.username, s3.password) == ("mlops-pipelines", SECRETS["s3"])
    assert parse_qs(s3.query)["endpoint_url"] == ["http://minio.mlops.svc.cluster.local:9000"]
    assert conns["AIRFLOW_CONN_MLOPS_MLFLOW"] == "http://mlflow.mlops.svc.cluster.local:5000"


def test_feature_store_yaml_references_secrets_by_variable():
    document = yaml.safe_load(pipeline_config.render(endpoints()).files["feature_store.yaml"])
    assert document["registry"]["registry_type"] == "sql"
    assert document["registry"]["path"].startswith("postgresql+psycopg://${MLOPS_POSTGRES_FEAST_USER}:${MLOPS_POSTGRES_FEAST_PASSWORD}@postgres.mlops")
    assert document["online_store"] == {"type": "redis", "connection_string": "redis.mlops.svc.cluster.local:6379,password=${MLOPS_REDIS_PASSWORD}"}
    assert document["offline_store"] == {"type": "file"}
    on_postgres = replace(endpoints(), feature_store=FeatureStoreSettings(offline_store="postgres"))
    offline = yaml.safe_load(pipeline_config.render(on_postgres).files["feature_store.yaml"])["offline_store"]
    assert (offline["type"], offline["host"], offline["database"], offline["password"]) == (
        "postgres", "postgres.mlops.svc.cluster.local", "feast", "${MLOPS_POSTGRES_FEAST_PASSWORD}")
    tls = replace(endpoints().cache, tls=True)
    with_tls = yaml.safe_load(pipeline_config.render(endpoints(cache=tls)).files["feature_store.yaml"])
    assert with_tls["online_store"]["connection_string"].endswith(",ssl=true")


def test_dvc_remote_is_the_lake():
    dvc = pipeline_config.render(endpoints()).files["dvc.config"]
    assert "url = s3://lake/dvc" in dvc and "endpointurl = http://minio.mlops.svc.cluster.local:9000" in dvc


def test_dotenv_reads_back_unchanged_in_a_shell(tmp_path):
    config = pipeline_config.render(endpoints())
    awkward = {**config.env, "MLOPS_ODD": "it's $HOME and `x` \"q\""}
    path = tmp_path / "pipeline.env"
    path.write_text(pipeline_config.dotenv(awkward))
    out = subprocess.run(["bash", "-c", f"set -a; . {path}; env -0"], capture_output=True, check=True, env={"PATH": os.environ["PATH"]})
    seen = dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    for key, value in awkward.items():
        assert seen[key] == value
    assert set(config.secret_data()) == set(config.secret_env) | {"pipeline.env"}


def test_an_object_store_kind_without_client_settings_is_refused():
    import pytest

    store = replace(endpoints().object_store, kind="gcs")
    with pytest.raises(ValueError, match="'gcs' is not supported; supported: s3, azure-blob"):
        pipeline_config.render(endpoints(object_store=store))
