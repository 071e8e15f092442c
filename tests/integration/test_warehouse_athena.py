"""The Athena warehouse's tables, for real where this machine can: in the platform image, with the
production stack's pipeline config, `mlops_jobs.warehouse` writes a table as Parquet in the lake and
its entry in the Glue Data Catalog through the real boto3 and s3fs clients, against an S3 and Glue
endpoint (moto). Athena itself runs no query here: its settings are proven as rendered
(tests/render/test_warehouse.py)."""

from __future__ import annotations

import io
import json
import subprocess
import textwrap

import boto3
import pandas as pd
import pytest

from mlops_jobs import pipeline_names as names
from tests.conftest import recording_of
from tests.integration.containers import DOCKER, LABEL, docker_ready, platform_image

pytestmark = pytest.mark.integration


@pytest.fixture
def athena_pipeline(s3_endpoint, monkeypatch):
    """The production stack's pipeline config with its AWS endpoints at moto; the lake bucket and the
    two Glue databases made as the stack makes them. Returns the config and a runner of pipeline code."""
    docker_ready(platform_image())
    config = recording_of("production").one("kubernetes:core/v1:ConfigMap", "pipeline-config-configmap").inputs["data"]
    region = config[names.WAREHOUSE_REGION]
    aws = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": region}
    for key, value in aws.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3").create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": region})
    for database in (config[names.WAREHOUSE_DATABASE], config[names.WAREHOUSE_SCHEMA]):
        boto3.client("glue").create_database(DatabaseInput={"Name": database, "LocationUri": f"s3://lake/warehouse/{database}/"})
    env = {**{k: v for k, v in config.items() if k.startswith(("MLOPS_", "AWS_"))}, **aws,
           names.bucket_key("lake"): "lake", "AWS_ENDPOINT_URL_S3": s3_endpoint, "PYTHONPATH": "/opt/mlops:/opt/mlops/examples/dags"}

    def run(code: str) -> dict:
        command = [DOCKER, "run", "--rm", "--network", "host", "--label", LABEL, "--entrypoint", "python",
                   *[part for key, value in env.items() for part in ("-e", f"{key}={value}")],
                   platform_image(), "-c", textwrap.dedent(code)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return config, run


def _objects(prefix: str) -> list[str]:
    return [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket="lake", Prefix=prefix).get("Contents", [])]


def _frame(key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(boto3.client("s3").get_object(Bucket="lake", Key=key)["Body"].read()))


def test_the_churn_pipeline_writes_its_tables_as_parquet_in_the_lake_and_entries_in_the_glue_catalog(athena_pipeline):
    config, run = athena_pipeline
    database, published = config[names.WAREHOUSE_DATABASE], config[names.WAREHOUSE_SCHEMA]
    written = run("""
        import json
        from churn import pipeline
        from mlops_jobs import warehouse
        activity, _ = pipeline.synthetic_activity(customers=20)
        before = warehouse.has_table(pipeline.ACTIVITY_TABLE)
        table = warehouse.write_table(activity, pipeline.ACTIVITY_TABLE)
        scores = activity[["customer_id"]].assign(churn_probability=0.3).head(3)
        published = [warehouse.write_table(scores, pipeline.PREDICTIONS_TABLE, published=True, replace=False) for _ in range(2)]
        print(json.dumps({"before": before, "after": warehouse.has_table(pipeline.ACTIVITY_TABLE), "table": table, "published": published}))
    """)
    assert (written["before"], written["after"], written["table"]) == (False, True, f"{database}.customer_activity")
    assert written["published"] == [f"{published}.churn_predictions"] * 2

    glue = boto3.client("glue")
    entry = glue.get_table(DatabaseName=database, Name="customer_activity")["Table"]
    columns = {c["Name"]: c["Type"] for c in entry["StorageDescriptor"]["Columns"]}
    assert columns == {"customer_id": "bigint", "tenure_months": "bigint", "monthly_charges": "double", "support_calls": "bigint",
                       "event_timestamp": "timestamp", "created": "timestamp"}
    prefix = f"warehouse/{database}/customer_activity/"
    assert entry["StorageDescriptor"]["Location"] == f"s3://lake/{prefix}"
    assert entry["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    [key] = _objects(prefix)
    frame = _frame(key)
    assert len(frame) == 20 and str(frame["event_timestamp"].dtype) == "datetime64[us, UTC]"  # Athena reads no nanoseconds
    # The published table's files are where the BI readers' role may read them (components/aws/athena.py).
    assert len(_objects(f"warehouse/{published}/churn_predictions/")) == 2
    assert glue.get_table(DatabaseName=published, Name="churn_predictions")["Table"]["StorageDescriptor"]["Columns"] == [
        {"Name": "customer_id", "Type": "bigint"}, {"Name": "churn_probability", "Type": "double"}]

    # Replacing leaves one file, the new one.
    run("""
        import json
        from churn import pipeline
        from mlops_jobs import warehouse
        activity, _ = pipeline.synthetic_activity(customers=5)
        print(json.dumps(warehouse.write_table(activity, pipeline.ACTIVITY_TABLE)))
    """)
    [replaced] = _objects(prefix)
    assert replaced != key and len(_frame(replaced)) == 5


def test_the_example_feature_repository_sources_the_glue_table(athena_pipeline):
    config, run = athena_pipeline
    source = run("""
        import importlib.util, json
        spec = importlib.util.spec_from_file_location("churn_features", "/opt/mlops/examples/feature_repo/churn_features.py")
        features = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(features)
        s = features.customer_activity_source
        print(json.dumps([type(s).__name__, s.database, s.table, s.data_source]))
    """)
    assert source == ["AthenaSource", config[names.WAREHOUSE_DATABASE], "customer_activity", "AwsDataCatalog"]
