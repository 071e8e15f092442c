"""The example's features: customer activity, from the warehouse where the stack has one, else as
Parquet in the lake bucket.

Where it is comes from the pipeline config: MLOPS_WAREHOUSE_KIND (the warehouse's table, which the
churn pipeline loads), else MLOPS_BUCKET_LAKE_URL and AWS_ENDPOINT_URL_S3. feature_store.yaml is the
pipeline config's too (`feast -f`), and its offline store is the same warehouse.
"""

import os
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.infra.offline_stores.contrib.athena_offline_store.athena_source import AthenaSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.types import Float64, Int64
from feast.value_type import ValueType

# s3://<bucket>, or abfss://<container>@<account>.dfs.core.windows.net on Azure.
LAKE_URL = os.environ.get("MLOPS_BUCKET_LAKE_URL") or f"s3://{os.environ.get('MLOPS_BUCKET_LAKE', 'lake')}"
ACTIVITY_KEY = "example/churn/customer_activity.parquet"
# The table churn.pipeline loads (its ACTIVITY_TABLE), in the pipelines' schema of the warehouse
# (mlops_jobs.warehouse.work_schema(): public on postgres, the pipelines' Glue database on athena).
ACTIVITY_TABLE = "customer_activity"
WAREHOUSE_KIND = os.environ.get("MLOPS_WAREHOUSE_KIND", "")

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64, description="A customer")

if WAREHOUSE_KIND == "postgres":
    customer_activity_source = PostgreSQLSource(
        name="customer_activity_source",
        table=f"public.{ACTIVITY_TABLE}",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
elif WAREHOUSE_KIND == "athena":
    customer_activity_source = AthenaSource(
        name="customer_activity_source",
        table=ACTIVITY_TABLE,
        database=os.environ["MLOPS_WAREHOUSE_DATABASE"],
        data_source="AwsDataCatalog",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
elif WAREHOUSE_KIND:
    raise RuntimeError(f"MLOPS_WAREHOUSE_KIND={WAREHOUSE_KIND!r}: the example reads postgres or athena warehouses, or the lake")
else:
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
