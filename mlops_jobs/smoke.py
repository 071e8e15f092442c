"""The post-deploy check: uses every service of the platform the way a pipeline would, and says which
one does not work and why.

It reads nothing but the pipeline config (its environment variables and /etc/mlops files), so it runs
the same in the Job that ends every `pulumi up`, in `mlops-stack smoke STACK`, and in the tests.
One line per check: the check, ok or FAIL, the seconds it took, and what it saw. Exit status 1 when
any check fails. It cleans up: its objects are deleted, and its MLflow run is deleted.

    python -m mlops_jobs.smoke [--only postgres,mlflow]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from mlops_jobs import pipeline_names
from mlops_jobs.pipeline_names import DATABASE_CONSUMERS

RUN_ID = uuid.uuid4().hex[:12]
TIMEOUT = 30  # seconds per network call


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool
    seconds: float
    detail: str

    def line(self) -> str:
        return f"{self.check:<28} {'ok' if self.ok else 'FAIL':<4} {self.seconds:7.2f}s  {self.detail}"


def env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise LookupError(f"{name} is not set: is the pipeline config in this pod's environment?")
    return value


def http_json(url: str, *, data: Optional[dict] = None, headers: Optional[dict] = None) -> dict:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(
        url, data=body, method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{url}: HTTP {error.code} {error.read()[:200].decode(errors='replace')}") from None


# --- the checks: each returns what it saw, or raises with the reason -------------------------------

def postgres(consumer: str) -> str:
    import psycopg

    with psycopg.connect(
        host=env(pipeline_names.POSTGRES_HOST), port=int(env(pipeline_names.POSTGRES_PORT)), dbname=env(pipeline_names.postgres_key(consumer, "DATABASE")),
        user=env(pipeline_names.postgres_key(consumer, "USER")), password=env(pipeline_names.postgres_key(consumer, "PASSWORD")),
        sslmode=env(pipeline_names.POSTGRES_SSLMODE), connect_timeout=TIMEOUT,
    ) as connection:
        user, database, tls = connection.execute(
            "SELECT current_user, current_database(), coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)"
        ).fetchone()
    return f"{user}@{database}" + (" over TLS" if tls else "")


def warehouse() -> str:
    """The pipelines sign in to the warehouse (postgres), or its workgroup and database answer (athena)."""
    names = pipeline_names
    if env(names.WAREHOUSE_KIND) == "athena":
        import boto3

        region, workgroup = env(names.WAREHOUSE_REGION), env(names.WAREHOUSE_WORKGROUP)
        state = boto3.client("athena", region_name=region).get_work_group(WorkGroup=workgroup)["WorkGroup"]["State"]
        if state != "ENABLED":
            raise RuntimeError(f"Athena workgroup {workgroup} is {state}")
        database = boto3.client("glue", region_name=region).get_database(Name=env(names.WAREHOUSE_DATABASE))["Database"]["Name"]
        return f"workgroup {workgroup} enabled, database {database} in the catalog"
    import psycopg

    with psycopg.connect(
        host=env(names.WAREHOUSE_HOST), port=int(env(names.WAREHOUSE_PORT)), dbname=env(names.WAREHOUSE_DATABASE),
        user=env(names.WAREHOUSE_USER), password=env(names.WAREHOUSE_PASSWORD), sslmode=env(names.WAREHOUSE_SSLMODE),
        connect_timeout=TIMEOUT,
    ) as connection:
        schema = env(names.WAREHOUSE_SCHEMA)
        user, database, published = connection.execute(
            "SELECT current_user, current_database(), has_schema_privilege(%s, 'CREATE')", (schema,)).fetchone()
    if not published:
        raise RuntimeError(f"{user} may not create tables in the published schema {schema}")
    return f"{user}@{database}, may publish to {schema}"


def bucket(role: str) -> str:
    kind = env(pipeline_names.OBJECT_STORE_KIND)
    name = env(pipeline_names.bucket_key(role))
    key = f"mlops-smoke/{RUN_ID}.txt"
    body = f"mlops smoke {RUN_ID}".encode()
    if kind == "azure-blob":
        return _container(name, key, body)
    import boto3

    s3 = boto3.client("s3")  # endpoint, region and credentials: the pipeline config, or the pod's identity
    s3.put_object(Bucket=name, Key=key, Body=body)
    try:
        read = s3.get_object(Bucket=name, Key=key)["Body"].read()
    finally:
        s3.delete_object(Bucket=name, Key=key)
    if read != body:
        raise RuntimeError(f"s3://{name}/{key} read back {len(read)} bytes that differ from the {len(body)} written")
    return f"s3://{name}/{key} written, read and deleted"


def _container(name: str, key: str, body: bytes) -> str:
    from azure.identity import DefaultAzureCredential
    from azure.storage.blob import BlobServiceClient

    # No key: the pod's workload identity, through the variables its webhook injects.
    service = BlobServiceClient(account_url=env("AZURE_STORAGE_BLOB_ENDPOINT"), credential=DefaultAzureCredential())
    blob = service.get_blob_client(container=name, blob=key)
    blob.upload_blob(body, overwrite=True, timeout=TIMEOUT)
    try:
        read = blob.download_blob(timeout=TIMEOUT).readall()
    finally:
        blob.delete_blob()
    if read != body:
        raise RuntimeError(f"{name}/{key} read back {len(read)} bytes that differ from the {len(body)} written")
    return f"{env('AZURE_STORAGE_ACCOUNT_NAME')}/{name}/{key} written, read and deleted"


def mlflow_run() -> str:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment("mlops-smoke")
    with mlflow.start_run(run_name=f"smoke-{RUN_ID}") as run:
        mlflow.log_metric("smoke", 1.0)
        mlflow.log_text(RUN_ID, "smoke.txt")
    client = MlflowClient()
    try:
        metrics = client.get_run(run.info.run_id).data.metrics
        if metrics.get("smoke") != 1.0:
            raise RuntimeError(f"run {run.info.run_id}: metric smoke read back as {metrics.get('smoke')!r}")
        with tempfile.TemporaryDirectory() as folder:
            text = Path(client.download_artifacts(run.info.run_id, "smoke.txt", folder)).read_text()
        if text != RUN_ID:
            raise RuntimeError(f"run {run.info.run_id}: artifact smoke.txt read back as {text[:40]!r}")
    finally:
        client.delete_run(run.info.run_id)
    return f"run {run.info.run_id}: metric and artifact written and read back; run deleted"


def feature_store():
    from feast import FeatureStore

    return FeatureStore(fs_yaml_file=Path(env(pipeline_names.FEATURE_STORE_YAML_PATH)))


def feast_registry() -> str:
    views = sorted(v.name for v in feature_store().list_feature_views())
    if not views:
        raise RuntimeError("the registry holds no feature view: has the feast-apply Job run?")
    return f"{len(views)} feature views: {', '.join(views)}"


def feast_online() -> str:
    """Writes one row of the first feature view for an entity of its own, and reads it back through
    the feature server. (Feast cannot delete one entity; the row expires with the view's TTL.)"""
    import pandas as pd

    store = feature_store()
    views = sorted(store.list_feature_views(), key=lambda v: v.name)
    if not views:
        raise RuntimeError("the registry holds no feature view: has the feast-apply Job run?")
    view = views[0]
    # Entity keys no real entity has; feature values of each type.
    sentinel = {"INT64": -int(RUN_ID[:8], 16), "INT32": -int(RUN_ID[:6], 16), "STRING": f"mlops-smoke-{RUN_ID}"}
    values = {"FLOAT": 0.5, "DOUBLE": 0.5, "INT64": 7, "INT32": 7, "STRING": "smoke", "BOOL": True}
    row: dict = {}
    for column in view.entity_columns:
        row[column.name] = sentinel[_kind(column.dtype)]
    feature = next(f for f in view.features if _kind(f.dtype) in values)
    for field in view.features:
        if _kind(field.dtype) in values:
            row[field.name] = values[_kind(field.dtype)]
    now = datetime.now(timezone.utc)
    row[view.batch_source.timestamp_field] = now
    if view.batch_source.created_timestamp_column:
        row[view.batch_source.created_timestamp_column] = now
    store.write_to_online_store(view.name, pd.DataFrame([row]))
    entities = {column.name: [row[column.name]] for column in view.entity_columns}
    answer = http_json(f"{env(pipeline_names.FEAST_URL)}/get-online-features",
                       data={"features": [f"{view.name}:{feature.name}"], "entities": entities})
    names = answer["metadata"]["feature_names"]
    result = answer["results"][names.index(feature.name)]
    if result["statuses"][0] != "PRESENT" or result["values"][0] != row[feature.name]:
        raise RuntimeError(f"{view.name}:{feature.name} for {entities} read back {result['values'][0]!r} ({result['statuses'][0]})")
    return f"{view.name}:{feature.name} written for {entities} and read through the feature server"


def _kind(dtype) -> str:
    return dtype.to_value_type().name  # INT64, STRING, FLOAT, ...


def evidently() -> str:
    version = http_json(f"{env(pipeline_names.EVIDENTLY_URL)}/api/version")
    return f"UI answers, Evidently {version.get('version', version)}"


def airflow() -> str:
    url = env(pipeline_names.AIRFLOW_URL)
    health = http_json(f"{url}/api/v2/monitor/health")
    unhealthy = sorted(k for k, v in health.items() if isinstance(v, dict) and v.get("status") not in ("healthy", None))
    if health.get("metadatabase", {}).get("status") != "healthy" or unhealthy:
        raise RuntimeError(f"unhealthy: {', '.join(unhealthy) or 'metadatabase'} ({json.dumps(health)[:200]})")
    token = http_json(f"{url}/auth/token", data={"username": env(pipeline_names.AIRFLOW_USER), "password": env(pipeline_names.AIRFLOW_PASSWORD)})
    dags = http_json(f"{url}/api/v2/dags?limit=100", headers={"Authorization": f"Bearer {token['access_token']}"})
    names = sorted(d["dag_id"] for d in dags.get("dags", []))
    return f"healthy; {dags.get('total_entries', len(names))} DAGs: {', '.join(names) or 'none'}"


def serving_variant(url: str, request: Optional[dict] = None, variant: str = "", endpoint: str = "",
                    kind: str = "in-cluster", cloud_name: str = "") -> str:
    """The variant answers /ping; with a request body for its endpoint, it also predicts. `kind` and
    `cloud_name` are the pipeline config's MLOPS_SERVING_<ENDPOINT>_KIND and _NAME."""
    if kind == "sagemaker":
        return sagemaker_variant(env("AWS_REGION"), cloud_name, variant, request)
    if kind == "azure-ml":
        # Deployments are named <endpoint>-<variant> (components/azure/serving.py: deployment_name).
        return azure_ml_variant(url, f"{endpoint}-{variant}", request)
    with urllib.request.urlopen(f"{url}/ping", timeout=TIMEOUT) as response:
        if response.status != 200:
            raise RuntimeError(f"{url}/ping answered HTTP {response.status}")
    if request is None:
        return f"{url}/ping answers (no smokeRequest for a prediction)"
    answer = http_json(f"{url}/invocations", data=request)
    return f"{url}/invocations predicted: {json.dumps(answer)[:120]}"


def sagemaker_variant(region: str, endpoint: str, variant: str, request: Optional[dict]) -> str:
    """A SageMaker endpoint is InService once `pulumi up` has created it; with a request body, the
    variant predicts, invoked (SigV4, the pod's role) with TargetVariant."""
    if request is None:
        return f"{endpoint}/{variant} is a SageMaker variant (no smokeRequest for a prediction)"
    import boto3

    runtime = boto3.client("sagemaker-runtime", region_name=region)
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, TargetVariant=variant, ContentType="application/json", Accept="application/json",
        Body=json.dumps(request).encode(),
    )
    body = answer["Body"].read().decode()
    return f"{endpoint}/{variant} predicted: {body[:120]}"


def azure_ml_token() -> str:
    """An Entra ID token for Azure ML, from the pod's workload identity."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential().get_token("https://ml.azure.com/.default").token


def azure_ml_variant(url: str, deployment: str, request: Optional[dict]) -> str:
    """An Azure ML deployment is serving once `pulumi up` has created it; with a request body, it
    predicts, addressed with the azureml-model-deployment header (bypassing the traffic split)."""
    if request is None:
        return f"{deployment} is an Azure ML deployment (no smokeRequest for a prediction)"
    answer = http_json(url, data=request, headers={"Authorization": f"Bearer {azure_ml_token()}", "azureml-model-deployment": deployment})
    return f"{deployment} predicted: {json.dumps(answer)[:120]}"


def checks(skip_endpoints: frozenset[str] = frozenset(), requests: Optional[dict[str, dict]] = None) -> list[tuple[str, Callable[[], str]]]:
    """Every check the pipeline config calls for, in the order a pipeline depends on them."""
    found: list[tuple[str, Callable[[], str]]] = []
    consumers = sorted(c for c in DATABASE_CONSUMERS if pipeline_names.postgres_key(c, "USER") in os.environ)
    found += [(f"postgres:{c}", lambda c=c: postgres(c)) for c in consumers]
    roles = sorted(r for r in pipeline_names.BUCKET_ROLES if pipeline_names.bucket_key(r) in os.environ)
    found += [(f"bucket:{pipeline_names.bucket_name(r)}", lambda r=r: bucket(r)) for r in roles]
    if os.environ.get(pipeline_names.WAREHOUSE_KIND):
        found.append(("warehouse", warehouse))
    # Managed MLflow (SageMaker) needs its client plugin, which the platform image does not carry yet.
    if os.environ.get("MLFLOW_TRACKING_URI") and not os.environ.get(pipeline_names.MLFLOW_PLUGIN):
        found.append(("mlflow", mlflow_run))
    if os.environ.get(pipeline_names.FEAST_URL):
        found += [("feast:registry", feast_registry), ("feast:online", feast_online)]
    if os.environ.get(pipeline_names.EVIDENTLY_URL):
        found.append(("evidently", evidently))
    # Managed Airflow (MWAA) signs in through AWS, not with the pipelines user.
    if os.environ.get(pipeline_names.AIRFLOW_URL) and os.environ.get(pipeline_names.AIRFLOW_USER):
        found.append(("airflow", airflow))
    for endpoint in filter(None, os.environ.get(pipeline_names.SERVING_ENDPOINTS, "").split(",")):
        if endpoint in skip_endpoints:
            continue
        kind = os.environ.get(pipeline_names.serving_key(endpoint, "KIND"), "in-cluster")
        cloud_name = os.environ.get(pipeline_names.serving_key(endpoint, "NAME"), "")
        for pair in filter(None, os.environ.get(pipeline_names.serving_key(endpoint, "WEIGHTS"), "").split(",")):
            variant, _, weight = pair.partition("=")
            if int(weight or 0) > 0:  # a variant without traffic may wait for its model
                url = env(pipeline_names.serving_key(endpoint, "URL", variant))
                body = (requests or {}).get(endpoint)
                found.append((f"serving:{endpoint}/{variant}", lambda url=url, body=body, v=variant, e=endpoint, k=kind, n=cloud_name:
                              serving_variant(url, body, v, e, k, n)))
    return found


def run(selected: Optional[set[str]] = None, skip_endpoints: frozenset[str] = frozenset(),
        requests: Optional[dict[str, dict]] = None) -> list[Result]:
    results = []
    for name, check in checks(skip_endpoints, requests):
        if selected and name.split(":")[0] not in selected:
            continue
        started = time.monotonic()
        try:
            # Clients print progress (MLflow's run links) on stdout; stdout is for the check lines only.
            with contextlib.redirect_stdout(sys.stderr):
                detail, ok = check(), True
        except Exception as error:  # noqa: BLE001  every failure is a result, and the other checks still run
            detail, ok = f"{type(error).__name__}: {error}".replace("\n", " ")[:400], False
        result = Result(name, ok, time.monotonic() - started, detail)
        print(result.line(), flush=True)
        results.append(result)
    return results


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_jobs.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated check kinds, e.g. postgres,bucket,mlflow")
    parser.add_argument("--skip-endpoint", action="append", default=[], help="a model endpoint whose variants may still wait for their models")
    parser.add_argument("--request", action="append", default=[], metavar="ENDPOINT=JSON",
                        help="a request body for /invocations of the endpoint's variants")
    args = parser.parse_args(argv)
    requests = {item.split("=", 1)[0]: json.loads(item.split("=", 1)[1]) for item in args.request}
    results = run(set(args.only.split(",")) if args.only else None, frozenset(args.skip_endpoint), requests)
    failed = [r.check for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} checks ok" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
