"""The pipeline config's names, defined once: what writes it (the program, the components) and what
reads it (the jobs and pipelines in the image) import them from here.

Standard library only: this module ships in the platform image, where the `infra` package is not.
docs/reference/pipeline-config.md is generated from KEYS.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

# The ConfigMap and the Secret, in the pipelines namespace and in the platform's.
CONFIG_NAME = "mlops-pipeline-config"
# Where pods mount the ConfigMap's files.
CONFIG_MOUNT = "/etc/mlops"
FEATURE_STORE_YAML = "feature_store.yaml"
PIPELINE_YAML = "pipeline.yaml"
DVC_CONFIG = "dvc.config"
FILES = (FEATURE_STORE_YAML, PIPELINE_YAML, DVC_CONFIG)
# The Secret's key holding the complete .env file.
DOTENV = "pipeline.env"

# The consumers of the metadata database: each has its own database and login.
DATABASE_CONSUMERS = ("mlflow", "airflow", "feast")
# The notebooks hub has its database and login too, but not in the pipeline config: a notebook user
# holding the hub's login could make themselves its admin.
HUB_DATABASE_CONSUMER = "jupyterhub"
# The warehouse's database and its owner's login, where the warehouse is a database of the platform's PostgreSQL.
WAREHOUSE_CONSUMER = "warehouse"
# Where historical data lives: its engine, how pipelines sign in to it, and its Airflow connection.
WAREHOUSE_KINDS = ("postgres", "athena", "redshift", "azure-sql")
WAREHOUSE_AUTHS = ("password", "iam", "entra")  # iam: IRSA; entra: workload identity; neither has a password
WAREHOUSE_CONNECTION = "mlops_warehouse"
# The platform's buckets (containers on Azure), by role. One role, three spellings, all from here:
# feature_store in code and keys, featureStore in the stack outputs, feature-store in bucket names.
BUCKET_ROLES = ("lake", "artifacts", "feature_store", "monitoring")
OBJECT_STORE_KINDS = ("s3", "azure-blob")
# Where a model endpoint is served: in the cluster behind the gateway, on SageMaker, on Azure ML.
SERVING_KINDS = ("in-cluster", "sagemaker", "azure-ml")
# How new objects in the lake reach Airflow: a queue its triggerer watches, or none (lake_watch polls).
EVENT_KINDS = ("redis", "sqs", "service-bus", "polling")
# The Airflow connection of the queue, on every backend (AIRFLOW_CONN_MLOPS_EVENTS).
EVENTS_CONNECTION = "mlops_events"
# Captured requests and responses of the model endpoints, in the lake bucket:
#   inference/<endpoint>/<variant>/<yyyy>/<MM>/<dd>/<HH>/<file>.jsonl
# SageMaker's data capture writes this layout itself (<endpoint> is its endpoint's name there); the
# cluster's capture sidecar and Azure ML's data collector follow it.
CAPTURE_PREFIX = "inference/"
HOUR_FOLDER = "%Y/%m/%d/%H/"  # strftime: the hour's folder under a variant's
# A captured response's predictions, in the frame a drift report compares; a reference (what the model
# was trained on) may carry the model's predictions under the same name.
PREDICTION_COLUMN = "prediction"


def drift_asset(endpoint: str) -> str:
    """The Airflow asset the monitoring job updates when an endpoint's captures drift: DAGs scheduled on it retrain."""
    return f"{endpoint}_drift"


# Azure ML's data collector keeps its payload collections in folders of their own under the variant's.
AZURE_ML_COLLECTIONS = ("request", "response")


def capture_prefix(endpoint: str, variant: str = "") -> str:
    """Where an endpoint's captures lie (`endpoint`: its name on SageMaker, else its name in config)."""
    prefix = f"{CAPTURE_PREFIX}{endpoint}/"
    return variant_folder(prefix, variant) if variant else prefix


def variant_folder(capture: str, variant: str, collection: str = "") -> str:
    """A variant's folder under an endpoint's capture prefix; with Azure ML, one collection's."""
    return f"{capture}{variant}/" + (f"{collection}/" if collection else "")


def capture_folder(endpoint: str, variant: str, hour: "datetime.datetime") -> str:
    """The folder of one variant's captures in one hour (UTC), as SageMaker names it."""
    return capture_prefix(endpoint, variant) + hour.strftime(HOUR_FOLDER)


def bucket_output(role: str) -> str:
    head, *rest = role.split("_")
    return head + "".join(part.title() for part in rest)


def bucket_name(role: str) -> str:
    return role.replace("_", "-")


def _key(name: str) -> str:
    return name.upper().replace("-", "_")


def bucket_key(role: str) -> str:
    return f"MLOPS_BUCKET_{_key(role)}"


def bucket_url_key(role: str) -> str:
    return f"MLOPS_BUCKET_{_key(role)}_URL"


def postgres_key(consumer: str, field: str) -> str:
    """field: DATABASE, USER or PASSWORD."""
    return f"MLOPS_POSTGRES_{_key(consumer)}_{field}"


def serving_key(endpoint: str, field: str, variant: str = "") -> str:
    """field: URL, WEIGHTS, KIND, NAME, CAPTURE or CAPTURE_RATE of an endpoint; URL of one variant."""
    return f"MLOPS_SERVING_{_key(endpoint)}_{_key(variant) + '_' if variant else ''}{field}"


ENVIRONMENT = "MLOPS_ENVIRONMENT"
OBJECT_STORE_KIND = "MLOPS_OBJECT_STORE_KIND"
OBJECT_STORE_AUTH = "MLOPS_OBJECT_STORE_AUTH"
OBJECT_STORE_CONN_ID = "MLOPS_OBJECT_STORE_CONN_ID"
POSTGRES_HOST = "MLOPS_POSTGRES_HOST"
POSTGRES_PORT = "MLOPS_POSTGRES_PORT"
POSTGRES_SSLMODE = "MLOPS_POSTGRES_SSLMODE"
REDIS_HOST = "MLOPS_REDIS_HOST"
REDIS_PORT = "MLOPS_REDIS_PORT"
REDIS_TLS = "MLOPS_REDIS_TLS"
REDIS_PASSWORD = "MLOPS_REDIS_PASSWORD"
MLFLOW_PLUGIN = "MLOPS_MLFLOW_PLUGIN"
FEAST_URL = "MLOPS_FEAST_URL"
FEATURE_STORE_YAML_PATH = "MLOPS_FEATURE_STORE_YAML"
AIRFLOW_URL = "MLOPS_AIRFLOW_URL"
AIRFLOW_USER = "MLOPS_AIRFLOW_USER"
AIRFLOW_PASSWORD = "MLOPS_AIRFLOW_PASSWORD"
EVIDENTLY_URL = "MLOPS_EVIDENTLY_URL"
EVIDENTLY_TOKEN = "MLOPS_EVIDENTLY_TOKEN"
SERVING_ENDPOINTS = "MLOPS_SERVING_ENDPOINTS"
EVENTS_KIND = "MLOPS_EVENTS_KIND"
EVENTS_QUEUE = "MLOPS_EVENTS_QUEUE"
EVENTS_PREFIX = "MLOPS_EVENTS_PREFIX"
EVENTS_CONN_ID = "MLOPS_EVENTS_CONN_ID"
EVENTS_REGION = "MLOPS_EVENTS_REGION"
WAREHOUSE_KIND = "MLOPS_WAREHOUSE_KIND"
WAREHOUSE_HOST = "MLOPS_WAREHOUSE_HOST"
WAREHOUSE_PORT = "MLOPS_WAREHOUSE_PORT"
WAREHOUSE_DATABASE = "MLOPS_WAREHOUSE_DATABASE"
WAREHOUSE_SCHEMA = "MLOPS_WAREHOUSE_SCHEMA"
WAREHOUSE_SSLMODE = "MLOPS_WAREHOUSE_SSLMODE"
WAREHOUSE_AUTH = "MLOPS_WAREHOUSE_AUTH"
WAREHOUSE_USER = "MLOPS_WAREHOUSE_USER"
WAREHOUSE_PASSWORD = "MLOPS_WAREHOUSE_PASSWORD"
WAREHOUSE_CONN_ID = "MLOPS_WAREHOUSE_CONN_ID"
WAREHOUSE_REGION = "MLOPS_WAREHOUSE_REGION"
WAREHOUSE_WORKGROUP = "MLOPS_WAREHOUSE_WORKGROUP"
WAREHOUSE_STAGING = "MLOPS_WAREHOUSE_STAGING"


@dataclass(frozen=True)
class Key:
    """A key of the pipeline config: `name` may hold <role>, <consumer>, <endpoint> or <variant>."""

    name: str
    secret: bool
    meaning: str


KEYS = (
    Key(ENVIRONMENT, False, "local, staging or production"),
    Key(OBJECT_STORE_KIND, False, f"the object store's API: {' or '.join(OBJECT_STORE_KINDS)}"),
    Key(OBJECT_STORE_AUTH, False, "how clients sign in to it: access-key (the Secret's keys), irsa or workload-identity"),
    Key(OBJECT_STORE_CONN_ID, False, "the Airflow connection of the object store (mlops_s3 or mlops_wasb)"),
    Key(bucket_key("<role>"), False, f"the bucket (container) of a role: {', '.join(BUCKET_ROLES)}"),
    Key(bucket_url_key("<role>"), False, "the same bucket as an fsspec/pyarrow URL (s3://… or abfss://…)"),
    Key(POSTGRES_HOST, False, "the metadata database's host"),
    Key(POSTGRES_PORT, False, "its port"),
    Key(POSTGRES_SSLMODE, False, "libpq's sslmode for it (require or verify-full on the clouds)"),
    Key(postgres_key("<consumer>", "DATABASE"), False, "the database of a consumer (mlflow, airflow, feast)"),
    Key(postgres_key("<consumer>", "USER"), False, "its login"),
    Key(postgres_key("<consumer>", "PASSWORD"), True, "its password"),
    Key(REDIS_HOST, False, "the online store's host"),
    Key(REDIS_PORT, False, "its port"),
    Key(REDIS_TLS, False, "true when clients must use TLS"),
    Key(REDIS_PASSWORD, True, "its password"),
    Key("MLFLOW_TRACKING_URI", False, "MLflow's own variable: the tracking server"),
    Key(MLFLOW_PLUGIN, False, "the MLflow client plugin a managed tracking server needs (empty in the cluster)"),
    Key("MLFLOW_ARTIFACTS_DESTINATION", False, "where the server keeps artifacts"),
    Key("MLFLOW_S3_ENDPOINT_URL", False, "MLflow's own variable: the S3 endpoint, where it is not AWS's"),
    Key(FEAST_URL, False, "the Feast feature server"),
    Key(FEATURE_STORE_YAML_PATH, False, f"the mounted feature_store.yaml ({CONFIG_MOUNT}/{FEATURE_STORE_YAML})"),
    Key(AIRFLOW_URL, False, "Airflow's API server"),
    Key(AIRFLOW_USER, False, "the pipelines' Airflow user (unset with MWAA)"),
    Key(AIRFLOW_PASSWORD, True, "its password"),
    Key(EVIDENTLY_URL, False, "the Evidently UI and API"),
    Key(EVIDENTLY_TOKEN, True, "the token Evidently asks for on writes"),
    Key(SERVING_ENDPOINTS, False, "the model endpoints, comma-separated"),
    Key(serving_key("<endpoint>", "URL"), False, "where clients send requests (the gateway applies the weights)"),
    Key(serving_key("<endpoint>", "WEIGHTS"), False, "the live traffic split, e.g. a=90,b=10"),
    Key(serving_key("<endpoint>", "KIND"), False, f"where the endpoint is served: {', '.join(SERVING_KINDS)}"),
    Key(serving_key("<endpoint>", "NAME"), False, "the endpoint's own name on SageMaker or Azure ML (empty in the cluster)"),
    Key(serving_key("<endpoint>", "URL", "<variant>"), False, "one variant directly (checks, shadow traffic)"),
    Key(serving_key("<endpoint>", "CAPTURE"), False,
        f"the lake prefix of its captured requests, e.g. {CAPTURE_PREFIX}churn/ (then <variant>/<yyyy>/<MM>/<dd>/<HH>/; empty: none)"),
    Key(serving_key("<endpoint>", "CAPTURE_RATE"), False, "the share of requests captured, 0 to 1"),
    Key(EVENTS_KIND, False, f"how new objects in the lake reach Airflow: {', '.join(EVENT_KINDS)}"),
    Key(EVENTS_QUEUE, False, "the queue: a Redis channel, an SQS queue URL or a Service Bus queue name (empty with polling)"),
    Key(EVENTS_PREFIX, False, "the lake prefix whose new objects send messages, e.g. incoming/"),
    Key(EVENTS_CONN_ID, False, f"the Airflow connection of the queue ({EVENTS_CONNECTION}; empty with polling)"),
    Key(EVENTS_REGION, False, "the SQS queue's region (empty elsewhere)"),
    Key(WAREHOUSE_KIND, False, f"the warehouse's engine: {', '.join(WAREHOUSE_KINDS)} (empty: no warehouse)"),
    Key(WAREHOUSE_HOST, False, "its host (athena: the region's Athena endpoint)"),
    Key(WAREHOUSE_PORT, False, "its port"),
    Key(WAREHOUSE_DATABASE, False, "its database (athena: the pipelines' Glue database)"),
    Key(WAREHOUSE_SCHEMA, False, "the published schema: what BI readers may SELECT (athena: the published Glue database)"),
    Key(WAREHOUSE_SSLMODE, False, "libpq's sslmode for it (postgres)"),
    Key(WAREHOUSE_AUTH, False, f"how pipelines sign in to it: {', '.join(WAREHOUSE_AUTHS)} (iam and entra: no password)"),
    Key(WAREHOUSE_USER, False, "the pipelines' login (empty with iam or entra)"),
    Key(WAREHOUSE_PASSWORD, True, "its password (password auth only)"),
    Key(WAREHOUSE_REGION, False, "athena: the region"),
    Key(WAREHOUSE_WORKGROUP, False, "athena: the workgroup every query runs in"),
    Key(WAREHOUSE_STAGING, False, "athena: the S3 location for uploads (Feast's entity rows)"),
    Key(WAREHOUSE_CONN_ID, False, f"the Airflow connection of the warehouse ({WAREHOUSE_CONNECTION}; empty: no warehouse)"),
    Key("AIRFLOW_CONN_<ID>", True, f"Airflow connections: mlops_postgres, mlops_s3 or mlops_wasb, mlops_mlflow, {EVENTS_CONNECTION}, {WAREHOUSE_CONNECTION}"),
    Key("AWS_*, AZURE_*", False, "what the object store's own clients read (endpoint, region, account); "
                                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, in the Secret, with access-key"),
)
