"""The example's features: customer activity, as Parquet in the lake bucket.

The lake bucket's URL and the S3 endpoint come from the pipeline config (MLOPS_BUCKET_LAKE_URL,
AWS_ENDPOINT_URL_S3); feature_store.yaml is the pipeline config's too (`feast -f`).
"""

import os
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int64
from feast.value_type import ValueType

# s3://<bucket>, or abfss://<container>@<account>.dfs.core.windows.net on Azure.
LAKE_URL = os.environ.get("MLOPS_BUCKET_LAKE_URL") or f"s3://{os.environ.get('MLOPS_BUCKET_LAKE', 'lake')}"
ACTIVITY_KEY = "example/churn/customer_activity.parquet"

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64, description="A customer")

customer_activity_source = FileSource(
    name="customer_activity_source",
    path=f"{LAKE_URL}/{ACTIVITY_KEY}",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
    # An in-cluster S3 server (or any S3 other than AWS) needs its endpoint; on AWS the variable is unset.
    s3_endpoint_override=os.environ.get("AWS_ENDPOINT_URL_S3") or None,
)

customer_activity = FeatureView(
    name="customer_activity",
    entities=[customer],
    ttl=timedelta(days=90),
    schema=[
        Field(name="tenure_months", dtype=Int64),
        Field(name="monthly_charges", dtype=Float64),
        Field(name="support_calls", dtype=Int64),
    ],
    source=customer_activity_source,
    online=True,
)

churn_model = FeatureService(name="churn_model", features=[customer_activity])
