"""The data services behind a stack's workloads, as real servers on loopback.

- `local` (the ensemble): PostgreSQL set up by its rendered setup Job, Redis with the generated
  password, and an S3 endpoint in place of the in-cluster object store, its buckets made by the
  object store's rendered setup Job.
- `staging` (AWS): what RDS, ElastiCache and S3 give a pod on EKS. PostgreSQL accepts TLS only and has an
  admin without superuser (the rendered setup Job creates the consumers with it); Redis accepts TLS only
  with the auth token; S3 is the same endpoint, reached as a cloud service: the pod gets IRSA's web
  identity (what EKS's pod identity webhook injects) and `AWS_ENDPOINT_URL`, the stand-in for the
  cloud's own endpoints. The servers' certificate is trusted as the clouds' public CAs are.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import yaml

from mlops_stack.offline import Recording
from tests.integration.conftest import free_port, make_certificate, running_postgres, wait_for_port
from tests.integration.containers import Container, ContainerCluster, memory_bytes
from tests.integration import loop
from tests.integration.kubelet import secret_data
from tests.integration.test_data_services import rendered_postgres_setup, run_setup, set_up_like_rds

NAMESPACE, PIPELINES = "mlops", "mlops-pipelines"
# The applications' Services and their ports, as pipelines and the post-deploy check address them.
SERVICE_PORTS = {"mlflow": 5000, "feast": 6566, "evidently": 8000, "airflow-api-server": 8080}
CONSUMERS = ("mlflow", "airflow", "feast")
ROLES = ("lake", "artifacts", "feature-store", "monitoring")


@dataclass
class BackingServices:
    s3_endpoint: str
    buckets: dict[str, str]  # role -> bucket name, as the pipeline config names them
    processes: list[subprocess.Popen] = field(default_factory=list)

    def s3(self):
        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")


def pipeline_config(cluster: ContainerCluster) -> tuple[dict[str, str], dict[str, str]]:
    """The pipeline config's variables and secrets, as every pipeline pod gets them."""
    return (cluster.object("ConfigMap", "mlops-pipeline-config", PIPELINES)["data"],
            secret_data(cluster.object("Secret", "mlops-pipeline-config", PIPELINES)))


def expose_applications(cluster: ContainerCluster) -> dict[str, int]:
    """A free loopback port for each application's Service, under its in-cluster name; returns them."""
    ports = {service: free_port() for service in SERVICE_PORTS}
    for service, port in SERVICE_PORTS.items():
        cluster.expose(f"{service}.{NAMESPACE}.svc.cluster.local:{port}", ports[service])
    return ports


def smoke_container(cluster: ContainerCluster) -> Container:
    """The post-deploy check's container exactly as its Job runs it: the rendered command, env and mounts."""
    job = next(r for r in cluster.recording.by_type("kubernetes:batch/v1:Job") if r.name == "smoke-job")
    pod = cluster.container("Job", job.inputs["metadata"]["name"])
    # A bare host name resolves in the cluster only; here the server is on loopback.
    config, _ = pipeline_config(cluster)
    postgres = cluster.addresses[f"{config['MLOPS_POSTGRES_HOST']}:{config['MLOPS_POSTGRES_PORT']}"]
    pod.env.update(MLOPS_POSTGRES_HOST="127.0.0.1", MLOPS_POSTGRES_PORT=postgres.rsplit(":", 1)[1])
    return pod


def stand_in_scheduler(cluster: ContainerCluster) -> Container:
    """The Airflow scheduler with the one stand-in: task pods need a cluster, so LocalExecutor runs each
    task in the scheduler's container. That container then holds up to `parallelism` tasks besides the
    scheduler, so its memory limit grows by as many task pods' limits (each has its own under
    KubernetesExecutor)."""
    scheduler = cluster.container("Deployment", "airflow-scheduler")
    scheduler.env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    template = yaml.safe_load(cluster.object("ConfigMap", "airflow-pod-template", NAMESPACE)["data"]["pod_template.yaml"])
    task = next(c for c in template["spec"]["containers"] if c["name"] == "base")
    flag = scheduler.options.index("--memory")
    memory = int(scheduler.options[flag + 1]) + int(scheduler.env["AIRFLOW__CORE__PARALLELISM"]) * memory_bytes(
        task["resources"]["limits"]["memory"])
    scheduler.options[flag + 1] = scheduler.options[flag + 3] = str(memory)  # --memory M --memory-swap M
    return scheduler


def _start(stack: contextlib.ExitStack, command: list[str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    stack.callback(lambda: (process.terminate(), process.wait(timeout=30)))
    wait_for_port(port, process)
    return process


@contextlib.contextmanager
def running(stack_name: str, recording: Recording, cluster: ContainerCluster, work: Path, redis_binary: str):
    """Starts the stack's data services and exposes them to the cluster under the names its pods use."""
    env, secrets = pipeline_config(cluster)
    cloud = stack_name != "local"
    with contextlib.ExitStack() as stack:
        # PostgreSQL, with each consumer's database and login made by the rendered setup Job.
        server = stack.enter_context(running_postgres(tls=cloud))
        # Every consumer's login, the notebooks hub's too (which the pipeline config leaves out).
        credentials = secret_data(cluster.object("Secret", "postgres-admin-credentials" if cloud else "postgres-credentials", NAMESPACE))
        passwords = {key.removesuffix("-password"): value for key, value in credentials.items() if key != "password"}
        assert all(passwords[c] == secrets[f"MLOPS_POSTGRES_{c.upper()}_PASSWORD"] for c in CONSUMERS)
        if cloud:
            setup, _ = set_up_like_rds(server, work, stack_name, passwords)
        else:
            script, env_spec = rendered_postgres_setup(work)
            setup = run_setup(script, env_spec, server, passwords)
        assert setup.returncode == 0, setup.stderr
        cluster.expose(f"{env['MLOPS_POSTGRES_HOST']}:{env['MLOPS_POSTGRES_PORT']}", server["port"])

        redis_port = free_port()
        listen = ["--port", str(redis_port), "--bind", "127.0.0.1"]
        if cloud:
            certificate, key = make_certificate(work)
            cluster.trust(certificate)
            listen = ["--port", "0", "--tls-port", str(redis_port), "--bind", "127.0.0.1", "--tls-cert-file", str(certificate),
                      "--tls-key-file", str(key), "--tls-ca-cert-file", str(certificate), "--tls-auth-clients", "no"]
        _start(stack, [redis_binary, *listen, "--requirepass", secrets["MLOPS_REDIS_PASSWORD"], "--save", "", "--dir", str(work)], redis_port)
        cluster.expose(f"{env['MLOPS_REDIS_HOST']}:{env['MLOPS_REDIS_PORT']}", redis_port)

        s3_port = free_port()
        _start(stack, [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], s3_port)
        endpoint = f"http://127.0.0.1:{s3_port}"
        if cloud:
            cluster.cloud_env["AWS_ENDPOINT_URL"] = endpoint
        else:
            in_cluster = urllib.parse.urlsplit(env["AWS_ENDPOINT_URL_S3"]).netloc
            cluster.expose(in_cluster, s3_port)
        services = BackingServices(endpoint, {role: env[f"MLOPS_BUCKET_{role.upper().replace('-', '_')}"] for role in ROLES})
        if cloud:  # the stack's S3 buckets, and the lake's notifications to its SQS queue
            client = services.s3()
            for bucket in services.buckets.values():  # in the stack's region, as the program creates them
                client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env["AWS_REGION"]})
            if env["MLOPS_EVENTS_KIND"] == "sqs":
                assert loop.set_up_lake_notifications(recording, endpoint).endswith("/" + env["MLOPS_EVENTS_QUEUE"].rsplit("/", 1)[1])
        else:  # the object store's rendered setup Job, in its container
            setup = cluster.container("Job", "seaweedfs-setup").run(timeout=300)
            assert setup.returncode == 0, setup.stdout + setup.stderr[-3000:]
        yield services
