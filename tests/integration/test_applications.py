"""MLflow, Feast, Evidently and Airflow as rendered for the local stack, each run as a container of the
platform image under its own pod spec, against real PostgreSQL, Redis and an S3 server, and used
through their real clients.

Every container's command, user, mounts, limits and environment come from the recorded Kubernetes
objects (see containers.py); clients get exactly what a pipeline pod gets: the Airflow task pod
template's environment and files, i.e. the pipeline config.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests import fixtures
from mlops_stack import offline
from tests.conftest import config_of, recording_of
from tests.integration.conftest import free_port
from tests.integration import backing_services, loop
from tests.integration.containers import CHURN_IMAGE, Container, ContainerCluster, docker_ready, notebook_image, platform_image

pytestmark = pytest.mark.integration

NAMESPACE, PIPELINES = backing_services.NAMESPACE, backing_services.PIPELINES
# The ensemble, and AWS with its managed data services (RDS, ElastiCache, S3 with IRSA).
STACKS = ["local", "staging"]


class Platform:
    def __init__(self, stack: str, cluster: ContainerCluster, services: backing_services.BackingServices, ports: dict[str, int]):
        self.stack, self.cluster, self.services, self.ports = stack, cluster, services, ports
        self.migrate: subprocess.CompletedProcess | None = None
        self.feast_apply: subprocess.CompletedProcess | None = None

    def bucket(self, role: str) -> str:
        return self.services.buckets[role]

    def s3(self):
        return self.services.s3()

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def task_pod(self, name: str = "task") -> Container:
        """A pipeline: the Airflow task pod template (pipeline config env and files), with the example DAGs
        importable, as Airflow's task runner makes them."""
        template = yaml.safe_load(self.cluster.object("ConfigMap", "airflow-pod-template", NAMESPACE)["data"]["pod_template.yaml"])
        pod = self.cluster.pod_container(PIPELINES, name, template["spec"], "base")
        pod.env["PYTHONPATH"] = "/opt/mlops:/opt/mlops/examples/dags"
        return pod

    def python(self, code: str, *, timeout: float = 600) -> dict:
        """Run client code in a pipeline's environment; it prints one JSON document last."""
        pod = self.task_pod()
        result = pod.with_command(["python", "-c", textwrap.dedent(code)]).run(timeout=timeout)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    def airflow_token(self) -> str:
        admin = self.cluster.object("Secret", "airflow-admin", NAMESPACE)["stringData"]
        body = json.dumps({"username": admin["username"], "password": admin["password"]}).encode()
        request = urllib.request.Request(self.url("airflow-api-server", "/auth/token"), data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]


def get_json(url: str, *, data: dict | None = None, headers: dict | None = None, timeout: float = 60):
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})},
                                     method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


@pytest.fixture(scope="module", params=STACKS)
def platform(request, redis_binary):
    docker_ready(platform_image())
    recording = recording_of(request.param)
    work = Path(tempfile.mkdtemp(prefix=f"mlops-apps-{request.param}-"))
    cluster = ContainerCluster(recording, work)
    try:
        with backing_services.running(request.param, recording, cluster, work, redis_binary) as services:
            ports = backing_services.expose_applications(cluster)
            result = Platform(request.param, cluster, services, ports)

            mlflow = cluster.container("Deployment", "mlflow", ports={5000: ports["mlflow"]}).start()
            evidently = cluster.container("Deployment", "evidently", ports={8000: ports["evidently"]}).start()
            # The Feast apply Job registers the example feature repository in the SQL registry.
            result.feast_apply = cluster.container("Job", "feast-apply").run(timeout=300)
            feast = cluster.container("Deployment", "feast", ports={6566: ports["feast"]}).start()
            result.migrate = cluster.container("Job", "airflow-migrate").run(timeout=600)
            assert result.migrate.returncode == 0, result.migrate.stdout[-3000:] + result.migrate.stderr[-3000:]
            api = cluster.container("Deployment", "airflow-api-server", ports={8080: ports["airflow-api-server"]}).start()

            # Ready as Kubernetes decides it, by their rendered readiness probes (bench/containers.py times them).
            for server in (mlflow, evidently, feast, api):
                server.wait_ready(timeout=300)
            yield result
    finally:
        cluster.stop_all()


def test_mlflow_logs_a_run_whose_artifact_lands_in_the_artifacts_bucket_and_registers_a_model(platform):
    run = platform.python("""
        import json, os, tempfile
        import mlflow
        from mlflow import MlflowClient
        from sklearn.linear_model import LinearRegression
        mlflow.set_experiment("integration")
        with mlflow.start_run() as run:
            mlflow.log_params({"alpha": 0.5, "rows": 3})
            mlflow.log_metric("rmse", 0.25)
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "notes.txt")
                open(path, "w").write("hello from a pipeline")
                mlflow.log_artifact(path)
            info = mlflow.sklearn.log_model(LinearRegression().fit([[0], [1], [2]], [0, 1, 2]), name="model",
                                            registered_model_name="integration-model")
        client = MlflowClient()
        fetched = client.get_run(run.info.run_id)
        print(json.dumps({"run_id": run.info.run_id, "params": fetched.data.params, "metrics": fetched.data.metrics,
                          "artifact_uri": fetched.info.artifact_uri, "version": str(info.registered_model_version),
                          "tracking_uri": mlflow.get_tracking_uri()}))
    """)
    # The client knew only the pipeline config: the in-cluster tracking URI, here on loopback.
    assert run["tracking_uri"] == platform.url("mlflow")
    assert run["params"] == {"alpha": "0.5", "rows": "3"} and run["metrics"] == {"rmse": 0.25}
    assert run["artifact_uri"].startswith("mlflow-artifacts:")  # proxied by the server
    assert run["version"] == "1"

    keys = [o["Key"] for o in platform.s3().list_objects_v2(Bucket=platform.bucket("artifacts"), Prefix="mlflow/").get("Contents", [])]
    assert any(k.endswith(f"{run['run_id']}/artifacts/notes.txt") for k in keys), keys
    versions = get_json(platform.url("mlflow", "/api/2.0/mlflow/registered-models/get?name=integration-model"))
    assert versions["registered_model"]["latest_versions"][0]["version"] == "1"


def test_feast_apply_materialize_and_an_online_read_through_the_feature_server(platform):
    assert platform.feast_apply.returncode == 0, platform.feast_apply.stderr[-3000:]
    seeded = platform.python("""
        import json
        from churn import pipeline
        print(json.dumps(pipeline.ensure_data()))
    """)
    assert seeded["activity"] == f"s3://{platform.bucket('lake')}/example/churn/customer_activity.parquet"
    # Where the stack has a warehouse, the feature source is its table: materialize reads from there.
    assert seeded.get("warehouse") == ("public.customer_activity" if config_of(platform.stack).warehouse else None)

    materialize = platform.cluster.container("CronJob", "feast-materialize").run(timeout=300)
    assert materialize.returncode == 0, materialize.stdout[-2000:] + materialize.stderr[-3000:]

    online = get_json(platform.url("feast", "/get-online-features"),
                      data={"features": ["customer_activity:tenure_months", "customer_activity:monthly_charges"],
                            "entities": {"customer_id": [1, 2, 9999]}})
    names = online["metadata"]["feature_names"]
    values = {name: result["values"] for name, result in zip(names, online["results"])}
    assert values["customer_id"] == [1, 2, 9999]
    assert all(v is not None for v in values["tenure_months"][:2]) and values["tenure_months"][2] is None
    assert online["results"][names.index("monthly_charges")]["statuses"][:2] == ["PRESENT", "PRESENT"]
    assert values["monthly_charges"][2] is None  # no customer 9999 in the online store


def test_evidently_monitoring_job_writes_a_snapshot_that_the_ui_lists(platform):
    platform.python("""
        import json
        from churn import pipeline
        activity, _ = pipeline.synthetic_activity(seed=1)
        shifted, _ = pipeline.synthetic_activity(seed=2)
        shifted["monthly_charges"] = shifted["monthly_charges"] * 1.8
        pipeline.write_lake(activity[pipeline.FEATURES], pipeline.REFERENCE_KEY)
        pipeline.write_lake(shifted[pipeline.FEATURES], pipeline.CURRENT_KEY)
        print(json.dumps({}))
    """)
    monitor = platform.cluster.container("CronJob", "evidently-monitor").run(timeout=300)
    assert monitor.returncode == 0, monitor.stdout[-2000:] + monitor.stderr[-3000:]
    assert "added to project 'mlops'" in monitor.stdout

    projects = get_json(platform.url("evidently", "/api/projects"))
    project = next(p for p in projects if p["name"] == "mlops")
    snapshots = get_json(platform.url("evidently", f"/api/projects/{project['id']}/snapshots"))
    assert len(snapshots) == 1
    # The workspace lives in the monitoring bucket.
    keys = [o["Key"] for o in platform.s3().list_objects_v2(Bucket=platform.bucket("monitoring"), Prefix="evidently/").get("Contents", [])]
    assert any(project["id"] in k for k in keys), keys

    # Writing needs the token from the pipeline config; without it the UI refuses.
    with pytest.raises(urllib.error.HTTPError) as refused:
        get_json(platform.url("evidently", "/api/v2/projects"), data={"name": "intruder", "description": ""})
    assert refused.value.code in (401, 403)


def last_json(stdout: str):
    """The JSON document an Airflow CLI prints after its log lines."""
    return json.loads(stdout.strip().splitlines()[-1])


def airflow_cli(platform: Platform, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """An Airflow command in the scheduler's container (its env: Airflow settings, secrets, pipeline config)."""
    scheduler = platform.cluster.container("Deployment", "airflow-scheduler")
    return scheduler.with_command(["airflow", *args], name=f"airflow {args[0]}").run(timeout=timeout)


def test_airflow_migrates_parses_the_example_dags_and_resolves_the_pipeline_connections(platform):
    # The migrate Job brought the airflow database to the schema of this Airflow version.
    assert "Database migration done!" in platform.migrate.stdout + platform.migrate.stderr
    assert airflow_cli(platform, "db", "check-migrations", "--migration-wait-timeout", "1").returncode == 0
    reserialize = airflow_cli(platform, "dags", "reserialize")
    assert reserialize.returncode == 0, reserialize.stderr[-3000:]
    errors = airflow_cli(platform, "dags", "list-import-errors", "-o", "json")
    assert errors.returncode == 0 and last_json(errors.stdout) == [], errors.stdout + errors.stderr[-2000:]

    token = platform.airflow_token()
    auth = {"Authorization": f"Bearer {token}"}
    dags = get_json(platform.url("airflow-api-server", "/api/v2/dags"), headers=auth)
    assert {"churn_training", "lake_watch"} <= {d["dag_id"] for d in dags["dags"]}

    # Manual trigger through the REST API: the run is queued for the scheduler.
    run = get_json(platform.url("airflow-api-server", "/api/v2/dags/churn_training/dagRuns"),
                   data={"logical_date": None, "conf": {"reason": "integration test"}}, headers=auth)
    assert run["state"] == "queued" and run["conf"] == {"reason": "integration test"}

    # The connections exist only as AIRFLOW_CONN_* variables of the pipeline config; none was typed in.
    warehouse = config_of(platform.stack).warehouse
    for conn_id, conn_type in (("mlops_postgres", "postgres"), ("mlops_s3", "aws"), ("mlops_mlflow", "http"),
                               *((("mlops_warehouse", "postgres"),) if warehouse else ())):
        got = airflow_cli(platform, "connections", "get", conn_id, "-o", "json")
        assert got.returncode == 0, got.stderr[-2000:]
        assert last_json(got.stdout)[0]["conn_type"] == conn_type
    checked = platform.python("""
        import json
        import os
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        db = PostgresHook(postgres_conn_id="mlops_postgres").get_first("select current_user, current_database()")
        buckets = sorted(b["Name"] for b in S3Hook(aws_conn_id="mlops_s3").get_conn().list_buckets()["Buckets"])
        warehouse = None
        if os.environ["MLOPS_WAREHOUSE_KIND"]:
            warehouse = PostgresHook(postgres_conn_id=os.environ["MLOPS_WAREHOUSE_CONN_ID"]).get_first("select current_user, current_database()")
        print(json.dumps({"db": list(db), "buckets": buckets, "warehouse": warehouse and list(warehouse)}))
    """)
    assert checked["db"] == ["feast", "feast"]
    assert checked["warehouse"] == (["warehouse", "warehouse"] if warehouse else None)
    # The platform's buckets, through the hook. (The S3 endpoint here does not enforce per-bucket keys,
    # so it also lists `backups`; the keys' scopes are checked as rendered, tests/unit/test_seaweedfs.py.)
    assert set(platform.services.buckets.values()) <= set(checked["buckets"])


def succeeded_tasks(platform: Platform, dag_id: str) -> set[str]:
    """The tasks that succeeded in the DAG's latest successful run, as the REST API reports them."""
    auth = {"Authorization": f"Bearer {platform.airflow_token()}"}
    runs = get_json(platform.url("airflow-api-server", f"/api/v2/dags/{dag_id}/dagRuns?state=success"), headers=auth)
    assert runs["total_entries"] >= 1, f"no successful run of {dag_id}"
    run_id = urllib.parse.quote(runs["dag_runs"][-1]["dag_run_id"], safe="")
    instances = get_json(platform.url("airflow-api-server", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"), headers=auth)
    return {ti["task_id"] for ti in instances["task_instances"] if ti["state"] == "success"}


def test_the_example_dag_leaves_a_model_version_online_features_and_a_drift_report(platform):
    """`airflow dags test churn_training`: features → MLflow model version → Redis → Evidently report."""
    if airflow_cli(platform, "dags", "reserialize").returncode != 0:
        pytest.fail("dags reserialize failed")
    run = airflow_cli(platform, "dags", "test", "churn_training", timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    tasks = succeeded_tasks(platform, "churn_training")
    assert tasks == {"ensure_data", "materialize_features", "train_and_register", "drift_report"}

    model = get_json(platform.url("mlflow", "/api/2.0/mlflow/registered-models/get?name=churn"))
    versions = model["registered_model"]["latest_versions"]
    assert versions and versions[0]["status"] == "READY"
    run_id = versions[0]["run_id"]
    metrics = get_json(platform.url("mlflow", f"/api/2.0/mlflow/runs/get?run_id={run_id}"))["run"]["data"]["metrics"]
    assert next(m["value"] for m in metrics if m["key"] == "roc_auc") > 0.6  # the synthetic data has a real signal

    online = get_json(platform.url("feast", "/get-online-features"),
                      data={"feature_service": "churn_model", "entities": {"customer_id": [5, 6]}})
    assert all(status == "PRESENT" for result in online["results"][1:] for status in result["statuses"])

    projects = get_json(platform.url("evidently", "/api/projects"))
    churn = next(p for p in projects if p["name"] == "churn")
    assert len(get_json(platform.url("evidently", f"/api/projects/{churn['id']}/snapshots"))) >= 1


def test_new_data_in_the_lake_becomes_an_asset_event_for_the_training_dag(platform):
    """The event trigger: a new object under incoming/churn/ is ingested and updates the training DAG's asset."""
    platform.python("""
        import json
        from churn import pipeline
        activity, _ = pipeline.synthetic_activity(customers=5, seed=3)
        activity["customer_id"] += 10000
        pipeline.write_lake(activity, pipeline.INCOMING_PREFIX + "batch-1.parquet")
        print(json.dumps({}))
    """)
    run = airflow_cli(platform, "dags", "test", "lake_watch", timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert succeeded_tasks(platform, "lake_watch") == {"ingest_new_objects"}

    auth = {"Authorization": f"Bearer {platform.airflow_token()}"}
    events = get_json(platform.url("airflow-api-server", "/api/v2/assets/events?source_dag_id=lake_watch"), headers=auth)
    assert events["total_entries"] >= 1
    assert events["asset_events"][0]["uri"] == f"s3://{platform.bucket('lake')}/example/churn/customer_activity.parquet"
    keys = [o["Key"] for o in platform.s3().list_objects_v2(Bucket=platform.bucket("lake"), Prefix="processed/").get("Contents", [])]
    assert keys == ["processed/churn/batch-1.parquet"]


def notebook_pod(platform: Platform) -> Container:
    """A user server as the hub spawns it: the rendered pod template of the notebooks hub (the pipeline
    config's env and files, the pipelines' service account and identity), from the notebook image."""
    template = yaml.safe_load(platform.cluster.object("ConfigMap", "jupyterhub-config", NAMESPACE)["data"]["user-pod.yaml"])
    return platform.cluster.pod_container(PIPELINES, "notebook", template["spec"], "notebook")


def test_the_example_notebook_runs_in_a_user_server_and_leaves_a_versioned_run_and_a_model(platform):
    """examples/notebooks/churn.ipynb, executed cell by cell by a real Jupyter kernel (nbclient) in the
    user server's container: lake, Feast, DVC, MLflow, with nothing but the injected config."""
    docker_ready(notebook_image())
    execute = textwrap.dedent("""
        import nbformat
        from nbclient import NotebookClient
        notebook = nbformat.read("/opt/mlops/examples/notebooks/churn.ipynb", as_version=4)
        NotebookClient(notebook, timeout=900, kernel_name="python3").execute()
        printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.get("name") == "stdout")
        print(printed.strip().splitlines()[-1])
    """)
    result = notebook_pod(platform).with_command(["python", "-c", execute]).run(timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    run = get_json(platform.url("mlflow", f"/api/2.0/mlflow/runs/get?run_id={summary['run_id']}"))["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["data.dvc_md5"] == summary["dvc_md5"] and len(tags["data.dvc_rev"]) == 40 and tags["data.dvc_remote"] == "mlops"
    assert next(m["value"] for m in run["data"]["metrics"] if m["key"] == "roc_auc") > 0.6
    version = get_json(platform.url("mlflow", f"/api/2.0/mlflow/model-versions/get?name=churn&version={summary['model_version']}"))
    assert version["model_version"]["run_id"] == summary["run_id"]
    # The data the run names is in the DVC remote on the lake, under its md5.
    md5 = summary["dvc_md5"]
    keys = [o["Key"] for o in platform.s3().list_objects_v2(Bucket=platform.bucket("lake"), Prefix="dvc/").get("Contents", [])]
    assert f"dvc/files/md5/{md5[:2]}/{md5[2:]}" in keys


def test_two_model_versions_served_as_variants_each_answer_with_their_own_model_and_their_captures_land_in_the_lake(platform):
    """Variants a and b of an endpoint, each `models:/churn-serving/<version>`, run with their rendered
    command and env; each answers predictions from its own model version. Each pod's capture sidecar,
    from its rendered command, takes the Service's traffic and writes what it answered to the lake."""
    registered = platform.python("""
        import json
        import mlflow
        from sklearn.dummy import DummyRegressor
        versions = {}
        for constant in (1.0, 2.0):
            model = DummyRegressor(strategy="constant", constant=constant).fit([[0.0], [1.0]], [0.0, 0.0])
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name="churn-serving")
            versions[str(constant)] = str(info.registered_model_version)
        print(json.dumps(versions))
    """)
    assert registered == {"1.0": "1", "2.0": "2"}

    stack_config = fixtures.stack_config(platform.stack)
    config = {**stack_config, "mlops:serving": {**stack_config.get("mlops:serving", {}), "endpoints": {"churn": {
        "variants": [
            {"name": "a", "model": "models:/churn-serving/1", "weight": 90},
            {"name": "b", "model": "models:/churn-serving/2", "weight": 10},
        ],
        "smokeRequest": {"inputs": [[0.5]]},
    }}}}
    # The same stack (same generated credentials), now with the endpoint; in-cluster names map to the same servers.
    serving = ContainerCluster(offline.run(platform.stack, config), platform.cluster.workdir / "serving", platform.cluster.addresses)
    serving.cloud_env, serving.trusted = platform.cluster.cloud_env, platform.cluster.trusted
    try:
        answers, sidecars = {}, {}
        for variant in ("a", "b"):
            port = free_port()
            server = serving.container("Deployment", f"churn-{variant}", "model", ports={8080: port})
            assert Path(server.argv[0]).name == "mlflow" and server.argv[1:5] == ["models", "serve", "--model-uri", f"models:/churn-serving/{ {'a': 1, 'b': 2}[variant] }"]
            server.start()
            server.wait_ready(timeout=300)
            sidecars[variant] = serving.container("Deployment", f"churn-{variant}", "capture", ports={8090: free_port(), 8080: port})
            sidecars[variant].start()
            sidecars[variant].wait_ready(timeout=120)
            captured = sidecars[variant].ports[8090]
            answers[variant] = get_json(f"http://127.0.0.1:{captured}/invocations", data={"inputs": [[0.5], [3.0]]})
            # The variant's Service sends to the sidecar (its port named http).
            serving.expose(f"churn-{variant}.{NAMESPACE}.svc.cluster.local:8080", captured)
        assert answers["a"]["predictions"] == [1.0, 1.0]
        assert answers["b"]["predictions"] == [2.0, 2.0]

        # The example image (serving/churn), started as SageMaker starts a model's container: `serve` as its CMD.
        docker_ready(CHURN_IMAGE)
        port = free_port()
        example = serving.container("Deployment", "churn-a", ports={8080: port}).with_command(
            ["serve"], name="churn-image", image=CHURN_IMAGE, keep_entrypoint=True)
        example.env.update(MLOPS_MODEL_URI="models:/churn-serving/2", MLOPS_SERVING_PORT=str(port))
        serving.processes.append(example)  # stopped with the others
        example.start()
        example.wait_ready(timeout=300)
        assert get_json(f"http://127.0.0.1:{port}/invocations", data={"inputs": [[0.5]]})["predictions"] == [2.0]

        # The post-deploy check sends the endpoint's smokeRequest to each variant with traffic.
        job = next(r for r in serving.recording.by_type("kubernetes:batch/v1:Job") if r.name == "smoke-job")
        check = serving.container("Job", job.inputs["metadata"]["name"]).run(timeout=300, extra_args=["--only", "serving"])
        assert check.returncode == 0, check.stdout + check.stderr[-2000:]
        lines = check.stdout.strip().splitlines()
        assert [line.split()[:2] for line in lines[:-1]] == [["serving:churn/a", "ok"], ["serving:churn/b", "ok"]]
        assert '{"predictions": [1.0]}' in lines[0] and '{"predictions": [2.0]}' in lines[1]

        # SIGTERM, as a rollout sends it: each sidecar writes what it holds, then exits.
        assert all(sidecar.stop()[1] == 0 for sidecar in sidecars.values())
        lake = platform.bucket("lake")
        for variant, expected in (("a", 1.0), ("b", 2.0)):
            keys = [o["Key"] for o in platform.s3().list_objects_v2(Bucket=lake, Prefix=f"inference/churn/{variant}/").get("Contents", [])]
            assert keys and all(re.fullmatch(rf"inference/churn/{variant}/\d{{4}}/\d\d/\d\d/\d\d/[^/]+\.jsonl", k) for k in keys), keys
            records = [json.loads(line) for k in keys
                       for line in platform.s3().get_object(Bucket=lake, Key=k)["Body"].read().decode().splitlines()]
            # The direct request and the post-deploy check's, each with its response and request id.
            outputs = [json.loads(r["captureData"]["endpointOutput"]["data"])["predictions"] for r in records]
            assert sorted(outputs) == sorted([[expected, expected], [expected]]), outputs
            assert all(r["eventMetadata"]["eventId"] and r["captureData"]["endpointInput"]["encoding"] == "JSON" for r in records)
    finally:
        serving.stop_all()


def smoke(platform, env: dict | None = None) -> subprocess.CompletedProcess:
    """The post-deploy check exactly as its Job runs it: the rendered command, env and mounts."""
    pod = backing_services.smoke_container(platform.cluster)
    assert pod.argv[1:] == ["-m", "mlops_jobs.smoke", "--skip-endpoint", "churn"]  # the example's models may not exist yet
    pod.env.update(env or {})
    return pod.run(timeout=600)


@pytest.fixture(scope="module")
def scheduler(platform):
    """The scheduler, DAG processor and triggerer, whose heartbeats the health endpoint reports. The
    executor is the one stand-in: task pods need a cluster, so the scheduler runs tasks in its own container."""
    scheduler = backing_services.stand_in_scheduler(platform.cluster)
    components = [scheduler.start(), platform.cluster.container("Deployment", "airflow-dag-processor").start(),
                  platform.cluster.container("Deployment", "airflow-triggerer").start()]
    deadline = time.monotonic() + 240
    while True:
        health = get_json(platform.url("airflow-api-server", "/api/v2/monitor/health"))
        states = {part: (health.get(part) or {}).get("status") for part in ("scheduler", "dag_processor", "triggerer")}
        if set(states.values()) == {"healthy"}:
            break
        for component in components:
            assert component.running(), f"{component.name} exited:\n{component.tail()}"
        assert time.monotonic() < deadline, f"{states}\n" + "\n".join(c.tail(20) for c in components)
        time.sleep(2)
    for component in components:  # and their own rendered probes agree
        component.wait_ready(timeout=120)
    yield scheduler


def test_the_smoke_check_passes_against_the_healthy_platform(platform, scheduler):
    result = smoke(platform)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    checks = {line.split()[0]: line for line in lines[:-1]}
    assert set(checks) >= {"postgres:mlflow", "postgres:airflow", "postgres:feast", "bucket:lake", "bucket:artifacts",
                           "bucket:feature-store", "bucket:monitoring", "mlflow", "feast:registry", "feast:online", "evidently", "airflow",
                           *(("warehouse",) if config_of(platform.stack).warehouse else ())}
    assert all(line.split()[1] == "ok" for line in checks.values()), lines
    assert lines[-1] == f"{len(checks)} of {len(checks)} checks ok"
    # It cleans up: no object left in any bucket, its run deleted.
    for bucket in platform.services.buckets.values():
        assert not platform.s3().list_objects_v2(Bucket=bucket, Prefix="mlops-smoke/").get("KeyCount")
    runs = get_json(platform.url("mlflow", "/api/2.0/mlflow/runs/search"), data={"experiment_ids": ["1"], "run_view_type": "ACTIVE_ONLY"})
    assert not [r for r in runs.get("runs", []) if r["info"]["run_name"].startswith("smoke-")]


def test_a_broken_credential_fails_its_own_check_with_the_reason_and_the_rest_still_report(platform, scheduler):
    result = smoke(platform, env={"MLOPS_POSTGRES_FEAST_PASSWORD": "wrong", "MLOPS_AIRFLOW_PASSWORD": "wrong"})
    assert result.returncode == 1
    lines = {line.split()[0]: line for line in result.stdout.strip().splitlines()[:-1]}
    assert lines["postgres:feast"].split()[1] == "FAIL" and "password authentication failed" in lines["postgres:feast"]
    assert lines["airflow"].split()[1] == "FAIL" and "HTTP 401" in lines["airflow"]
    assert lines["postgres:mlflow"].split()[1] == "ok" and lines["mlflow"].split()[1] == "ok"
    assert result.stdout.strip().splitlines()[-1].endswith("failed: postgres:feast, feast:registry, feast:online, airflow")


def test_new_data_in_the_lake_reaches_the_triggerer_through_the_queue_and_queues_lake_watch_then_scoring(platform, scheduler):
    """The event trigger as it runs: a file written to incoming/ sends a message (S3 to SQS on AWS, the
    publisher to Redis on the ensemble); the triggerer's watcher, from the rendered DAGs and connection,
    makes it an asset event; the scheduler queues lake_watch, whose ingest queues churn_scoring."""
    env, secrets = backing_services.pipeline_config(platform.cluster)
    api = lambda path: get_json(platform.url("airflow-api-server", path), headers={"Authorization": f"Bearer {platform.airflow_token()}"})
    if env["MLOPS_EVENTS_KIND"] == "redis":
        import redis

        host, port = platform.cluster.addresses[f"{env['MLOPS_REDIS_HOST']}:{env['MLOPS_REDIS_PORT']}"].rsplit(":", 1)
        listener = redis.Redis(host=host, port=int(port), password=secrets["MLOPS_REDIS_PASSWORD"])
        loop.wait_for_subscriber(listener, env["MLOPS_EVENTS_QUEUE"], timeout=240)
    else:
        assert env["MLOPS_EVENTS_KIND"] == "sqs"
    written = platform.python("""
        import json, time
        from churn import pipeline
        activity, _ = pipeline.synthetic_activity(customers=7, seed=11)
        activity["customer_id"] += 20000
        pipeline.write_lake(activity, pipeline.INCOMING_PREFIX + "arrived-by-event.parquet")
        print(json.dumps({"at": time.time()}))
    """)["at"]
    run = loop.wait_for_run(api, "lake_watch", written, timeout=240)
    queued = loop.epoch(run["queued_at"])
    print(f"\nlake write -> queued lake_watch run ({env['MLOPS_EVENTS_KIND']}): {queued - written:.2f} s")
    events = [e for e in api("/api/v2/assets/events?limit=100")["asset_events"] if loop.epoch(e["timestamp"]) >= written]
    assert any(e["name"] == "lake_incoming" and e["source_dag_id"] is None for e in events), events  # from the watcher

    scoring = loop.wait_for_run(api, "churn_scoring", written, timeout=600)
    assert scoring["run_type"] == "asset_triggered"
    keys = [o["Key"] for o in platform.s3().list_objects_v2(Bucket=platform.bucket("lake"), Prefix="processed/").get("Contents", [])]
    assert "processed/churn/arrived-by-event.parquet" in keys


def test_a_variant_whose_traffic_drifted_queues_training_and_a_variant_whose_traffic_did_not_emits_nothing(platform, scheduler):
    """The monitoring job from its rendered CronJob: each variant's captures of the window against the
    training reference. Variant b got shifted traffic: its report drifts, the job emits churn_drift,
    and the scheduler queues churn_training. Variant a's traffic is like the reference: no event."""
    api = lambda path: get_json(platform.url("airflow-api-server", path), headers={"Authorization": f"Bearer {platform.airflow_token()}"})
    lake, s3 = platform.bucket("lake"), platform.s3()
    # This test's captures only: what the serving test captured is removed.
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=lake, Prefix="inference/churn/"):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=lake, Key=item["Key"])
    written = platform.python("""
        import datetime as dt, json, time
        from churn import pipeline
        from mlops_jobs.capture import CaptureWriter, capture_record, lake_writer
        rule = lambda frame: (frame["support_calls"] > 2).astype(int)  # the served model, as the reference has it
        reference, _ = pipeline.synthetic_activity(seed=1)
        reference = reference[pipeline.FEATURES].dropna()
        pipeline.write_lake(reference.assign(prediction=rule(reference)), pipeline.REFERENCE_KEY)
        now = dt.datetime.now(dt.timezone.utc)
        for variant, seed, shifted in (("a", 2, False), ("b", 3, True)):
            rows, _ = pipeline.synthetic_activity(seed=seed)
            rows = rows[pipeline.FEATURES].dropna()
            if shifted:
                rows = rows.assign(tenure_months=rows["tenure_months"] * 0.3, monthly_charges=rows["monthly_charges"] * 1.8,
                                   support_calls=rows["support_calls"] + 3)
            # The sidecar's own writer and record format, as if its pods had answered these requests.
            writer = CaptureWriter(lake_writer(), "churn", variant, batch=10000, flush_seconds=1).start()
            for start in range(0, len(rows), 25):
                part = rows.iloc[start:start + 25]
                request = {"dataframe_split": {"columns": pipeline.FEATURES, "data": part.values.tolist()}}
                response = {"predictions": rule(part).tolist()}
                writer.put(now, capture_record(f"{variant}-{start}", now, "application/json", json.dumps(request).encode(),
                                               "application/json", json.dumps(response).encode()))
            writer.stop()
        print(json.dumps({"at": time.time()}))
    """)["at"]

    job = platform.cluster.container("CronJob", "evidently-monitor")
    assert job.argv[job.argv.index("--threshold") + 1] == "0.5" and job.argv[job.argv.index("--window-hours") + 1] == "24"
    monitor = job.run(timeout=600)
    assert monitor.returncode == 0, monitor.stdout[-2000:] + monitor.stderr[-3000:]
    lines = {line.split()[1]: line for line in monitor.stdout.splitlines() if line.startswith("monitor: churn")}
    print("\n" + "\n".join(lines.values()))
    share = lambda line: float(re.search(r"drift share ([0-9.]+)", line).group(1))
    assert ": no drift;" in lines["churn/a"] and share(lines["churn/a"]) < 0.5
    assert ": drifted;" in lines["churn/b"] and share(lines["churn/b"]) >= 0.5
    assert re.fullmatch(r"monitor: churn: drifted \(b\), retraining asked: asset event \d+ on 'churn_drift'", lines["churn:"])

    # One event, for b alone; it queues the training DAG.
    events = [e for e in api("/api/v2/assets/events?limit=100&name_pattern=churn_drift")["asset_events"]
              if loop.epoch(e["timestamp"]) >= written]
    assert [[d["variant"] for d in e["extra"]["drifted"]] for e in events] == [["b"]]
    run = loop.wait_for_run(api, "churn_training", written, timeout=300)
    upstream = api(f"/api/v2/dags/churn_training/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")["asset_events"]
    assert "churn_drift" in {e["name"] for e in upstream}
    # The reports, one per variant, are in the Evidently project with their variant's tag.
    project = next(p for p in get_json(platform.url("evidently", "/api/projects")) if p["name"] == "mlops")
    snapshots = get_json(platform.url("evidently", f"/api/projects/{project['id']}/snapshots"))
    tagged = [set(s.get("tags") or []) for s in snapshots]
    assert {"captures", "churn", "a"} in tagged and {"captures", "churn", "b"} in tagged, tagged


def test_the_schedules_start_training_at_3_and_scoring_at_4_utc(platform, scheduler):
    """The scheduled triggers, run by the real scheduler: the clock is moved, not the schedule. Each
    DAG's next creation time, which the scheduler computed from its timetable, is set to now, and the
    scheduler creates the DAG's scheduled run for its next slot: 03:00 and 04:00 UTC. (While a DAG has
    as many active runs as it may, the scheduler computes the time again when one ends: so it is moved
    until the run exists.)"""
    api = lambda path: get_json(platform.url("airflow-api-server", path), headers={"Authorization": f"Bearer {platform.airflow_token()}"})
    scheduler_pod = platform.cluster.container("Deployment", "airflow-scheduler")
    since, deadline, runs = time.time(), time.monotonic() + 900, {}
    while len(runs) < 2:
        waiting = [d for d in ("churn_training", "churn_scoring") if d not in runs]
        moved = scheduler_pod.with_command(["python", "-c", textwrap.dedent(f"""
            import datetime as dt
            from airflow.models.dag import DagModel
            from airflow.utils.session import create_session
            with create_session() as session:
                for dag in session.query(DagModel).filter(DagModel.dag_id.in_({waiting!r})):
                    dag.next_dagrun_create_after = dt.datetime.now(dt.timezone.utc)
        """)], name="move the clock").run(timeout=300)
        assert moved.returncode == 0, moved.stdout[-2000:] + moved.stderr[-3000:]
        time.sleep(10)
        for dag_id in waiting:
            scheduled = [r for r in loop.runs_since(api, dag_id, since) if r["run_type"] == "scheduled"]
            if scheduled:
                runs[dag_id] = scheduled[0]
        assert time.monotonic() < deadline, f"no scheduled run of {waiting} within 900 s"
    for dag_id, hour in (("churn_training", 3), ("churn_scoring", 4)):
        slot = dt.datetime.fromisoformat(runs[dag_id]["logical_date"].replace("Z", "+00:00"))
        assert (slot.hour, slot.minute, slot.utcoffset()) == (hour, 0, dt.timedelta(0)), runs[dag_id]


def test_every_server_stops_on_sigterm_within_its_grace_period(platform, scheduler):
    """A rollout or a drain sends SIGTERM; a server that ignores it holds its pod for the whole grace
    period and is then killed. Runs last: it stops the module's servers."""
    # Not the scheduler: its executor is the stand-in, and LocalExecutor, unlike KubernetesExecutor, waits
    # for the tasks it runs itself.
    servers = [c for c in reversed(platform.cluster.processes) if c.running() and c is not scheduler]
    assert {c.name for c in servers} >= {"mlflow/mlflow", "feast/feast", "evidently/evidently", "airflow-api-server/api-server",
                                         "airflow-dag-processor/dag-processor", "airflow-triggerer/triggerer"}
    stopped = {c.name: c.stop() for c in servers}
    slow = {name: f"{seconds:.0f} s, exit {code}" for name, (seconds, code) in stopped.items() if seconds > 20 or code == 137}
    assert not slow, f"killed at the end of the grace period instead of stopping on SIGTERM: {slow}"
