"""The event trigger of the example: new objects under incoming/churn/ of the lake bucket (S3, SeaweedFS, MinIO or
the storage account's `lake` container) start `churn_training`.

Every five minutes a cheap listing, with the object store settings of the pipeline config, looks for
new Parquet files. If there are some, they are appended to the feature source and the asset
`churn_customer_activity` is updated, which schedules `churn_training`. If there are none, the task
is skipped and no asset event is emitted.
"""

import pendulum
from airflow.exceptions import AirflowSkipException
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
        keys = pipeline.incoming_files()
        if not keys:
            raise AirflowSkipException("nothing new under incoming/churn/")
        return pipeline.ingest_incoming(keys)

    ingest_new_objects()
