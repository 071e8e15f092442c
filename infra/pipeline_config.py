"""Endpoints → pipeline config: the one place that turns PlatformEndpoints into client configuration.

`render()` is a pure function of resolved endpoints. What it returns is published three ways: as stack
outputs, and as the ConfigMap and the Secret `mlops-pipeline-config` in the pipelines namespace.

Files that need a secret (feature_store.yaml) reference it as `${VAR}`; Feast expands environment
variables when it loads the file, and every pipeline pod gets those variables from the Secret. The
warehouse's host and port are references too, so a laptop's .env can point them at a port-forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import yaml

from infra.contract import ObjectStore, PlatformEndpoints
from infra.object_stores import flavour
from infra import warehouse_clients
from mlops_jobs import pipeline_names as names
from mlops_jobs.pipeline_names import BUCKET_ROLES, CONFIG_MOUNT, DOTENV, DVC_CONFIG, FEATURE_STORE_YAML, PIPELINE_YAML

NAME = names.CONFIG_NAME
FEAST_PROJECT = "mlops"


@dataclass(frozen=True)
class PipelineConfig:
    env: dict[str, str]  # environment variables without secrets: the ConfigMap
    files: dict[str, str]  # files without secrets: the ConfigMap
    secret_env: dict[str, str]  # environment variables that are, or contain, secrets: the Secret

    @property
    def dotenv(self) -> str:
        return dotenv({**self.env, **self.secret_env})

    def config_map_data(self) -> dict[str, str]:
        return {**self.env, **self.files}

    def secret_data(self) -> dict[str, str]:
        return {**self.secret_env, DOTENV: self.dotenv}


def dotenv(variables: dict[str, str]) -> str:
    """A .env file that `set -a; . ./pipeline.env` and python-dotenv both read back unchanged."""
    return "".join(f"{key}={_shell_quote(value)}\n" for key, value in sorted(variables.items()))


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def bucket_url(store: ObjectStore, bucket: str, path: str = "") -> str:
    """A bucket (or container) as an fsspec / pyarrow URL: s3://bucket, or abfss://container@account.dfs…"""
    base = flavour(store).bucket_url(store, bucket)
    return f"{base}/{path}" if path else base


def mlflow_artifacts(store: ObjectStore) -> str:
    """Where the MLflow server keeps artifacts (--artifacts-destination); its client needs only the tracking URI."""
    return flavour(store).mlflow_artifacts(store)


def airflow_remote_logging(store: ObjectStore) -> dict[str, str]:
    """Airflow settings that keep task logs in the artifacts bucket, through the object store's connection."""
    return {
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": flavour(store).connection_id,
        **flavour(store).remote_log_settings(store),
    }


def render(e: PlatformEndpoints) -> PipelineConfig:
    """Build the pipeline config from endpoints whose Outputs are resolved (see contract.resolve)."""
    store, db, cache = e.object_store, e.database, e.cache
    store_flavour = flavour(store)  # refuses a kind it does not know
    buckets = {names.bucket_output(role): getattr(store.buckets, role) for role in BUCKET_ROLES}
    env: dict[str, str] = {
        names.ENVIRONMENT: e.environment,
        names.OBJECT_STORE_KIND: store.kind,
        names.OBJECT_STORE_AUTH: store.auth,
        names.POSTGRES_HOST: db.host,
        names.POSTGRES_PORT: str(int(db.port)),
        names.POSTGRES_SSLMODE: db.sslmode,
        names.REDIS_HOST: cache.host,
        names.REDIS_PORT: str(int(cache.port)),
        names.REDIS_TLS: "true" if cache.tls else "false",
        "MLFLOW_TRACKING_URI": e.services.mlflow,
        names.MLFLOW_PLUGIN: e.services.mlflow_plugin,
        "MLFLOW_ARTIFACTS_DESTINATION": mlflow_artifacts(store),
        names.OBJECT_STORE_CONN_ID: store_flavour.connection_id,
        names.FEAST_URL: e.services.feast,
        names.AIRFLOW_URL: e.services.airflow,
        names.AIRFLOW_USER: e.services.airflow_user,
        names.EVIDENTLY_URL: e.services.evidently,
        names.FEATURE_STORE_YAML_PATH: f"{CONFIG_MOUNT}/{FEATURE_STORE_YAML}",
    }
    for role in BUCKET_ROLES:
        env[names.bucket_key(role)] = getattr(store.buckets, role)
        env[names.bucket_url_key(role)] = bucket_url(store, getattr(store.buckets, role))
    # Request-triggered prediction and monitoring find each model endpoint, and its live weights, here.
    env[names.SERVING_ENDPOINTS] = ",".join(sorted(e.serving))
    for name, endpoint in sorted(e.serving.items()):
        env[names.serving_key(name, "URL")] = endpoint.url
        env[names.serving_key(name, "WEIGHTS")] = ",".join(f"{v}={w}" for v, w in endpoint.weights.items())
        env[names.serving_key(name, "KIND")] = endpoint.kind
        env[names.serving_key(name, "NAME")] = endpoint.cloud_name
        env[names.serving_key(name, "CAPTURE")] = endpoint.capture
        env[names.serving_key(name, "CAPTURE_RATE")] = f"{endpoint.capture_rate:g}"
        for variant, url in endpoint.variant_urls.items():
            env[names.serving_key(name, "URL", variant)] = url
    events_env = _events_env(e)
    env.update(events_env)
    for consumer, login in _published_logins(db):
        env[names.postgres_key(consumer, "DATABASE")] = login.database
        env[names.postgres_key(consumer, "USER")] = login.user
    env.update(store_flavour.client_env(store))
    env.update(warehouse_clients.env(e.warehouse))

    secret_env: dict[str, str] = {names.REDIS_PASSWORD: cache.password, **warehouse_clients.secret_env(e.warehouse)}
    for consumer, login in _published_logins(db):
        secret_env[names.postgres_key(consumer, "PASSWORD")] = login.password
    if store.auth == "access-key":
        secret_env["AWS_ACCESS_KEY_ID"] = store.access_key_id or ""
        secret_env["AWS_SECRET_ACCESS_KEY"] = store.secret_access_key or ""
    if e.services.evidently_token:
        secret_env[names.EVIDENTLY_TOKEN] = e.services.evidently_token
    if e.services.airflow_password:
        secret_env[names.AIRFLOW_PASSWORD] = e.services.airflow_password
    secret_env.update({f"AIRFLOW_CONN_{conn_id.upper()}": uri for conn_id, uri in airflow_connections(e).items()})

    files = {
        FEATURE_STORE_YAML: _feature_store_yaml(e),
        DVC_CONFIG: _dvc_config(e),
        PIPELINE_YAML: _pipeline_yaml(e, buckets, sorted(secret_env), events_env[names.EVENTS_QUEUE]),
    }
    return PipelineConfig(env=env, files=files, secret_env=secret_env)


def _events_env(e: PlatformEndpoints) -> dict[str, str]:
    events = e.events
    watched = events.kind != "polling"
    return {
        names.EVENTS_KIND: events.kind,
        names.EVENTS_QUEUE: events.queue if watched else "",
        names.EVENTS_PREFIX: events.prefix,
        names.EVENTS_CONN_ID: names.EVENTS_CONNECTION if watched else "",
        names.EVENTS_REGION: events.region,
    }


def events_connection(e: PlatformEndpoints) -> str:
    """The Airflow connection URI of the lake's event queue ("" with polling): what the triggerer signs in with."""
    events, cache = e.events, e.cache
    if events.kind == "redis":
        extras = {"db": "0", **({"ssl": "true", "ssl_cert_reqs": "required"} if cache.tls else {})}
        return f"redis://:{quote(str(cache.password), safe='')}@{cache.host}:{int(cache.port)}/?{urlencode(extras)}"
    if events.kind == "sqs":  # the pod's IAM role: no keys
        return f"aws:///?{urlencode({'region_name': events.region})}"
    if events.kind == "service-bus":  # the pod's workload identity (DefaultAzureCredential): no key
        return f"azure-service-bus:///?{urlencode({'fully_qualified_namespace': events.namespace})}"
    return ""


def _published_logins(db: Any) -> list[tuple[str, Any]]:
    """The pipelines' database logins; the notebooks hub's stays out (pipeline_names.HUB_DATABASE_CONSUMER)."""
    return [(c, login) for c, login in sorted(db.logins.items()) if c in names.DATABASE_CONSUMERS]


def serving_summary(e: PlatformEndpoints) -> dict[str, Any]:
    """Each model endpoint's URL, live weights and variant URLs: in pipeline.yaml and the `serving` output."""
    return {
        name: {"url": endpoint.url, "weights": dict(endpoint.weights), "variants": dict(endpoint.variant_urls),
               "capture": endpoint.capture}
        for name, endpoint in sorted(e.serving.items())
    }


def _feature_store_yaml(e: PlatformEndpoints) -> str:
    db, cache = e.database, e.cache
    feast = db.logins["feast"]
    registry = (
        f"postgresql+psycopg://${{{names.postgres_key('feast', 'USER')}}}:${{{names.postgres_key('feast', 'PASSWORD')}}}"
        f"@{db.host}:{int(db.port)}/{feast.database}?sslmode={db.sslmode}"
    )
    offline: dict[str, Any]
    if e.feature_store.offline_store == "warehouse":
        if e.warehouse is None:
            raise ValueError("feature store offline_store 'warehouse' needs a warehouse in the endpoints")
        offline = warehouse_clients.feast_offline_store(e.warehouse)
    elif e.feature_store.offline_store == "postgres":
        offline = {
            "type": "postgres",
            "host": db.host,
            "port": int(db.port),
            "database": feast.database,
            "db_schema": "public",
            "user": f"${{{names.postgres_key('feast', 'USER')}}}",
            "password": f"${{{names.postgres_key('feast', 'PASSWORD')}}}",
            "sslmode": db.sslmode,
        }
    else:
        # Sources are Parquet on the lake; their FileSource carries the S3 endpoint (AWS_ENDPOINT_URL_S3).
        offline = {"type": "file"}
    document = {
        "project": FEAST_PROJECT,
        "provider": "local",
        "registry": {
            "registry_type": "sql",
            "path": registry,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        },
        "online_store": {
            "type": "redis",
            "connection_string": f"{cache.host}:{int(cache.port)},password=${{{names.REDIS_PASSWORD}}}"
            + (",ssl=true" if cache.tls else ""),
        },
        "offline_store": offline,
        "entity_key_serialization_version": 3,
    }
    return yaml.safe_dump(document, sort_keys=False)


def _dvc_config(e: PlatformEndpoints) -> str:
    store = e.object_store
    lines = ["[core]", "    remote = mlops", "['remote \"mlops\"']", *flavour(store).dvc_remote(store)]
    return "\n".join(lines) + "\n"


def airflow_connections(e: PlatformEndpoints) -> dict[str, str]:
    """Airflow connection URIs by connection ID: AIRFLOW_CONN_<ID> in the Secret, and MWAA's Secrets Manager entries."""
    db, store = e.database, e.object_store
    feast = db.logins["feast"]
    postgres = (
        f"postgres://{quote(str(feast.user), safe='')}:{quote(str(feast.password), safe='')}"
        f"@{db.host}:{int(db.port)}/{quote(str(feast.database), safe='')}?{urlencode({'sslmode': db.sslmode})}"
    )
    connections = {"mlops_postgres": postgres, **flavour(store).airflow_connections(store)}
    if e.services.mlflow.startswith("http"):  # an http URL is itself an Airflow connection URI (conn_type http)
        connections["mlops_mlflow"] = e.services.mlflow
    if e.events.kind != "polling":
        connections[names.EVENTS_CONNECTION] = events_connection(e)
    if e.warehouse is not None:
        connections[names.WAREHOUSE_CONNECTION] = warehouse_clients.airflow_connection(e.warehouse)
    return connections


def _pipeline_yaml(e: PlatformEndpoints, buckets: dict[str, str], secret_keys: list[str], events_queue: str) -> str:
    db, cache, store = e.database, e.cache, e.object_store
    document = {
        "environment": e.environment,
        "objectStore": {
            "kind": store.kind,
            "endpoint": store.endpoint,
            "region": store.region,
            "auth": store.auth,
            "buckets": buckets,
            "bucketUrls": {role: bucket_url(store, bucket) for role, bucket in buckets.items()},
            **flavour(store).described(store),
        },
        "database": {
            "host": db.host,
            "port": int(db.port),
            "sslmode": db.sslmode,
            "databases": {c: {"database": l.database, "user": l.user} for c, l in _published_logins(db)},
        },
        "cache": {"host": cache.host, "port": int(cache.port), "tls": cache.tls},
        "services": {
            "mlflow": e.services.mlflow,
            "feast": e.services.feast,
            "airflow": e.services.airflow,
            "evidently": e.services.evidently,
            "mlflowPlugin": e.services.mlflow_plugin,
        },
        "serving": serving_summary(e),
        "events": {"kind": e.events.kind, "queue": events_queue, "prefix": e.events.prefix},
        "warehouse": warehouse_clients.described(e.warehouse),
        # Where the secrets are: keys of the Secret of the same name, never their values.
        "secretKeys": secret_keys,
    }
    return yaml.safe_dump(document, sort_keys=False)
