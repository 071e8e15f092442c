"""The example's Airflow assets, shared by the DAG that updates them and the DAG they trigger."""

import os

from airflow.sdk import Asset

from churn.pipeline import ACTIVITY_KEY

CUSTOMER_ACTIVITY = Asset(
    name="churn_customer_activity",
    # s3://<lake>/... or abfss://<lake>@<account>.dfs.core.windows.net/...; the DAG processor has the pipeline config.
    uri=f"{os.environ.get('MLOPS_BUCKET_LAKE_URL') or 's3://lake'}/{ACTIVITY_KEY}",
)
