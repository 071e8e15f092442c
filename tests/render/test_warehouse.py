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


def _inputs(recording, type_: str, name: str) -> dict:
    return recording.one(type_, name).inputs


def test_on_aws_athena_is_a_workgroup_that_enforces_encrypted_results_and_a_scan_cutoff():
    recording = recording_of("production")
    workgroup = _inputs(recording, "aws:athena/workgroup:Workgroup", "warehouse-workgroup")
    configuration = workgroup["configuration"]
    assert configuration["enforceWorkgroupConfiguration"] is True and workgroup["forceDestroy"] is False
    assert configuration["bytesScannedCutoffPerQuery"] == 100 * 1024**3
    results = configuration["resultConfiguration"]
    assert results["encryptionConfiguration"]["encryptionOption"] == "SSE_KMS"
    assert results["encryptionConfiguration"]["kmsKeyArn"].endswith(":warehouse-key")
    bucket = _inputs(recording, "aws:s3/bucket:Bucket", "warehouse-results-bucket")["bucket"]
    assert results["outputLocation"] == f"s3://{bucket}/results/"
    lifecycle = _inputs(recording, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "warehouse-results-lifecycle")
    kept = {rule["filter"]["prefix"]: rule["expiration"]["days"] for rule in lifecycle["rules"] if "expiration" in rule}
    assert kept == {"results/": 30, "staging/": 30}
    # Production keeps its catalog, its key and its results bucket.
    for type_, name in (("aws:glue/catalogDatabase:CatalogDatabase", "warehouse-database"),
                        ("aws:glue/catalogDatabase:CatalogDatabase", "warehouse-published-database"),
                        ("aws:kms/key:Key", "warehouse-key"), ("aws:s3/bucket:Bucket", "warehouse-results-bucket")):
        assert recording.one(type_, name).protect, name


def _policy(recording, name: str) -> list[dict]:
    import json

    return json.loads(_inputs(recording, "aws:iam/rolePolicy:RolePolicy", name)["policy"])["Statement"]


def test_an_athena_reader_may_query_the_published_database_only_and_the_pipelines_may_make_tables():
    recording = recording_of("production")
    reader = _policy(recording, "warehouse-reader-tableau-policy")
    catalog = next(s for s in reader if "glue:GetTable" in s["Action"])
    assert not any(a.startswith("glue:Create") or a.startswith("glue:Delete") for a in catalog["Action"])
    databases = {arn.split(":database/")[1] for arn in catalog["Resource"] if ":database/" in arn}
    assert databases == {"mlops_production_warehouse_published"}
    reads = [s for s in reader if "s3:GetObject" in s["Action"]]
    assert {s["Resource"].split(":::")[1] for s in reads} == {
        "mlops-production-athena-results-123456789012/results/*",
        "mlops-production-lake-123456789012/warehouse/mlops_production_warehouse_published/*"}
    assert not any("s3:PutObject" in s["Action"] and "lake" in s["Resource"] for s in reader if isinstance(s["Resource"], str))
    # Airflow's role is the pipelines' (tasks, the post-deploy check, notebooks); Feast's materialize queries too.
    for role in ("airflow-identity-policy", "feast-identity-policy"):
        granted = {a for s in _policy(recording, role) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert {"athena:StartQueryExecution", "glue:CreateTable", "kms:GenerateDataKey"} <= granted, role
    assert "athena:StartQueryExecution" not in str(_policy(recording, "mlflow-identity-policy"))


def test_athena_in_the_pipeline_config_signs_in_with_the_pods_role():
    data = pipeline_env(recording_of("production"))
    assert (data[names.WAREHOUSE_KIND], data[names.WAREHOUSE_AUTH], data[names.WAREHOUSE_USER]) == ("athena", "iam", "")
    assert (data[names.WAREHOUSE_DATABASE], data[names.WAREHOUSE_SCHEMA], data[names.WAREHOUSE_WORKGROUP]) == (
        "mlops_production_warehouse", "mlops_production_warehouse_published", "mlops-production")
    offline_store = yaml.safe_load(data[names.FEATURE_STORE_YAML])["offline_store"]
    assert offline_store["type"] == "athena" and offline_store["s3_staging_location"] == data[names.WAREHOUSE_STAGING]
    assert names.WAREHOUSE_PASSWORD not in recording_of("production").one(SECRET, "pipeline-config-secret").inputs["stringData"]["value"]


def test_an_ephemeral_stack_may_destroy_its_athena_warehouse():
    recording = offline.run("staging-pr-7", {**fixtures.stack_config("staging"), "mlops:warehouse": {"enabled": True}})
    assert _inputs(recording, "aws:athena/workgroup:Workgroup", "warehouse-workgroup")["forceDestroy"] is True
    assert _inputs(recording, "aws:s3/bucket:Bucket", "warehouse-results-bucket")["forceDestroy"] is True
    assert not recording.one("aws:glue/catalogDatabase:CatalogDatabase", "warehouse-database").protect
