"""The event trigger of the example: new objects in s3://<lake>/incoming/churn/ start `churn_training`.

Every five minutes a cheap listing (through the `mlops_s3` connection of the pipeline config) looks for
new Parquet files. If there are some, they are appended to the feature source and the asset
`churn_customer_activity` is updated, which schedules `churn_training`. If there are none, the task
is skipped and no asset event is emitted.
"""

import os

import pendulum
from airflow.exceptions import AirflowSkipException
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import DAG, task

from churn import pipeline
from churn.assets import CUSTOMER_ACTIVITY

with DAG(
    dag_id="lake_watch",
    description="Turns new objects under incoming/churn/ into an asset event for churn_training",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "mlops-stack", "trigger"],
) as dag:

    @task(outlets=[CUSTOMER_ACTIVITY])
    def ingest_new_objects() -> int:
        keys = S3Hook(aws_conn_id="mlops_s3").list_keys(
            bucket_name=os.environ["MLOPS_BUCKET_LAKE"], prefix=pipeline.INCOMING_PREFIX
        )
        keys = [k for k in keys or [] if k.endswith(".parquet")]
        if not keys:
            raise AirflowSkipException("nothing new under incoming/churn/")
        return pipeline.ingest_incoming(keys)

    ingest_new_objects()
