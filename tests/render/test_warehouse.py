"""The warehouse as rendered: the setup Job creates its database and the BI readers with passwords from
a Secret, on the ensemble and on a managed PostgreSQL; the pipeline config points every client at it,
and no password is in plain text."""

from __future__ import annotations

import functools

import yaml

from mlops_stack import offline
from mlops_jobs import pipeline_names as names
from tests import fixtures
from tests.conftest import recording_of

CONFIG_MAP, SECRET, JOB = "kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret", "kubernetes:batch/v1:Job"


@functools.lru_cache(maxsize=None)
def staging_with_warehouse():
    """The AWS stack with its warehouse as a database of RDS (kind postgres), read by two BI tools."""
    return offline.run("staging", {**fixtures.stack_config("staging"),
                                   "mlops:warehouse": {"enabled": True, "kind": "postgres", "readers": ["tableau", "powerbi"]}})


def setup_job(recording) -> tuple[str, dict[str, dict]]:
    sql = recording.one(CONFIG_MAP, "postgres-setup-scripts").inputs["data"]["consumers.sql"]
    env = recording.one(JOB, "postgres-setup").inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    return sql, {e["name"]: e for e in env}


def pipeline_env(recording) -> dict[str, str]:
    return recording.one(CONFIG_MAP, "pipeline-config-configmap").inputs["data"]


def test_the_ensembles_setup_job_creates_the_warehouse_and_its_reader_from_the_secret():
    recording = recording_of("local")
    sql, env = setup_job(recording)
    assert 'CREATE SCHEMA IF NOT EXISTS "published" AUTHORIZATION "warehouse";' in sql
    assert 'GRANT SELECT ON ALL TABLES IN SCHEMA "published" TO "tableau";' in sql
    reference = env["MLOPS_TABLEAU_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "postgres-credentials", "key": "tableau-password"}
    credentials = recording.one(SECRET, "postgres-credentials").inputs["stringData"]
    assert offline.is_secret_value(credentials) and "tableau-password" in credentials["value"]
    # The nightly backup dumps the warehouse with the other databases.
    backup = recording.one("kubernetes:batch/v1:CronJob", "postgres-backup").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    databases = next(e["value"] for e in backup["initContainers"][0]["env"] if e["name"] == "DATABASES")
    assert "warehouse" in databases.split()


def test_the_pipeline_config_points_feast_airflow_and_pipelines_at_the_warehouse_without_a_password():
    recording = recording_of("local")
    data = pipeline_env(recording)
    assert (data[names.WAREHOUSE_KIND], data[names.WAREHOUSE_DATABASE], data[names.WAREHOUSE_USER], data[names.WAREHOUSE_SCHEMA]) == (
        "postgres", "warehouse", "warehouse", "published")
    offline_store = yaml.safe_load(data[names.FEATURE_STORE_YAML])["offline_store"]
    assert offline_store["type"] == "postgres" and offline_store["database"] == "warehouse"
    assert offline_store["password"] == "${MLOPS_WAREHOUSE_PASSWORD}"
    secret = recording.one(SECRET, "pipeline-config-secret").inputs["stringData"]
    assert offline.is_secret_value(secret)
    assert {names.WAREHOUSE_PASSWORD, "AIRFLOW_CONN_MLOPS_WAREHOUSE"} <= set(secret["value"])
    # No generated password (the warehouse's owner's, the readers') is in the ConfigMap.
    assert recording.generated_secrets and not any(p in value for p in recording.generated_secrets for value in data.values())


def test_a_stack_without_a_warehouse_has_the_keys_empty_and_no_warehouse_database():
    recording = recording_of("production-onprem")
    data = pipeline_env(recording)
    assert all(data[key] == "" for key in (names.WAREHOUSE_KIND, names.WAREHOUSE_HOST, names.WAREHOUSE_CONN_ID))
    sql, env = setup_job(recording)
    assert '"warehouse"' not in sql and "MLOPS_WAREHOUSE_PASSWORD" not in env
    assert yaml.safe_load(data[names.FEATURE_STORE_YAML])["offline_store"] == {"type": "file"}


def test_on_rds_the_managed_setup_job_creates_the_readers_and_the_pipelines_use_tls():
    recording = staging_with_warehouse()
    sql, env = setup_job(recording)
    for reader in ("tableau", "powerbi"):
        assert f'ALTER ROLE "{reader}" SET default_transaction_read_only = on;' in sql
        assert env[f"MLOPS_{reader.upper()}_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == f"{reader}-password"
    data = pipeline_env(recording)
    assert data[names.WAREHOUSE_HOST].endswith(".rds.amazonaws.com") and data[names.WAREHOUSE_SSLMODE] == "require"
    assert yaml.safe_load(data[names.FEATURE_STORE_YAML])["offline_store"]["sslmode"] == "require"
