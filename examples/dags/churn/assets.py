"""The example's Airflow assets, shared by the DAG that updates them and the DAG they trigger."""

import os

from airflow.sdk import Asset

from churn.pipeline import ACTIVITY_KEY

CUSTOMER_ACTIVITY = Asset(
    name="churn_customer_activity",
    uri=f"s3://{os.environ.get('MLOPS_BUCKET_LAKE', 'lake')}/{ACTIVITY_KEY}",
)
