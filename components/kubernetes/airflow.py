"""Airflow 3 in the cluster: API server, scheduler, DAG processor and triggerer, with the
KubernetesExecutor running every task as a pod in the pipelines namespace.

A `db migrate` Job runs before the components start. Task pods get the pipeline config (ConfigMap
and Secret) as environment, including the `AIRFLOW_CONN_*` connections, and feature_store.yaml
mounted; nobody types a connection by hand. DAGs come from the image or from git (git-sync).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.kubernetes import workload
from components.kubernetes.workload import AppArgs
from infra.config import IMAGE_DAGS, GitSource, IngressConfig, Size
from infra.contract import Database

APP = "airflow"
API_PORT = 8080
SCHEDULER_HEALTH_PORT = 8974
AIRFLOW_HOME = "/opt/airflow"
AUTH_DIR = "/etc/airflow/auth"
POD_TEMPLATE_DIR = "/etc/airflow/pod-template"
PASSWORDS_FILE = f"{AIRFLOW_HOME}/simple_auth_manager_passwords.json"
PIPELINES_USER = "pipelines"
CONFIG_DIR = "/etc/mlops"
SOURCE_ROOT = "/src"
ADMIN_USER = "admin"
SECRET_NAME = "airflow-secrets"
WORKER_SERVICE_ACCOUNT = "airflow-worker"


@dataclass(frozen=True)
class AirflowArgs(AppArgs):
    database: Optional[Database] = None  # its login under the consumer key "airflow"
    # Where task pods run; it holds its own copy of the pipeline config.
    pipelines_namespace: pulumi.Input[str] = ""
    sizes: dict[str, Size] = field(default_factory=dict)  # apiServer, scheduler, dagProcessor, triggerer, worker
    dags: GitSource = field(default_factory=GitSource)
    parallelism: int = 4
    api_workers: int = 1
    git_sync_image: str = ""
    # AIRFLOW__LOGGING__REMOTE_* settings: task logs outlive their pods in the artifacts bucket.
    remote_logging: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    ingress: IngressConfig = field(default_factory=IngressConfig)


def dags_folder(dags: GitSource) -> str:
    """The checkout's folder with git; otherwise the path in the image (config resolves a default)."""
    if dags.git:
        return posixpath.normpath(f"{SOURCE_ROOT}/current/{dags.path}")
    return dags.path or IMAGE_DAGS


def api_server_url(namespace: str) -> str:
    return f"http://{APP}-api-server.{namespace}.svc.cluster.local:{API_PORT}"


def settings(args: AirflowArgs, platform_namespace: str, pipelines_namespace: str, remote_logging: Mapping[str, str]) -> dict[str, str]:
    """Airflow's configuration as `AIRFLOW__SECTION__KEY` variables, shared by every component and task pod.
    Nothing here is secret: the database, Fernet and JWT keys come from the Secret."""
    values = {
        "AIRFLOW_HOME": AIRFLOW_HOME,
        "AIRFLOW__CORE__EXECUTOR": "KubernetesExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": dags_folder(args.dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The platform's DAGs are meant to run: scheduled and asset-triggered runs start without a click.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": str(args.parallelism),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_server_url(platform_namespace)}/execution/",
        # Pipelines (and the post-deploy check) sign in as a user that may read and trigger DAGs, not administer.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin,{PIPELINES_USER}:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": PASSWORDS_FILE,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_PRE_PING": "True",
        "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": pipelines_namespace,
        "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": f"{POD_TEMPLATE_DIR}/pod_template.yaml",
        "AIRFLOW__KUBERNETES_EXECUTOR__DELETE_WORKER_PODS": "True",
        "AIRFLOW__KUBERNETES_EXECUTOR__DELETE_WORKER_PODS_ON_FAILURE": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(SCHEDULER_HEALTH_PORT),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    }
    values.update(remote_logging)
    if args.ingress.enabled and args.ingress.host:
        scheme = "https" if args.ingress.tls_secret else "http"
        values["AIRFLOW__API__BASE_URL"] = f"{scheme}://{args.ingress.host}/"
    return values


# The servers' secrets. Task pods get none of them: they talk to the Execution API with a per-task token.
SECRET_KEYS = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sql-alchemy-conn",
    "AIRFLOW__CORE__FERNET_KEY": "fernet-key",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret",
    "AIRFLOW__API__SECRET_KEY": "api-secret-key",
}

def api_server_command(workers: int) -> list[str]:
    # The auth manager rewrites its passwords file, so it gets a writable copy of the Secret's file.
    return ["sh", "-c",
            f'install -m 600 {AUTH_DIR}/passwords.json "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" '
            f"&& exec airflow api-server --host 0.0.0.0 --port {API_PORT} --workers {workers}"]


COMMANDS = {
    "migrate": ["airflow", "db", "migrate"],
    "scheduler": ["airflow", "scheduler"],
    "dagProcessor": ["airflow", "dag-processor"],
    "triggerer": ["airflow", "triggerer"],
}


def job_check(job_type: str) -> list[str]:
    return ["airflow", "jobs", "check", "--job-type", job_type, "--local", "--limit", "1"]


def pod_template(args: AirflowArgs, image: str, pipeline_config: str, settings_map: str) -> dict:
    """The KubernetesExecutor's template for task pods (the container must be named `base`)."""
    size = args.sizes["worker"]
    volumes: list[dict] = [
        {"name": "pipeline-config", "configMap": {"name": pipeline_config, "items": [
            {"key": k, "path": k} for k in ("feature_store.yaml", "pipeline.yaml", "dvc.config")]}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    mounts = [
        {"name": "pipeline-config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "home", "mountPath": AIRFLOW_HOME},
    ]
    init = []
    if args.dags.git:
        volumes.append({"name": "source", "emptyDir": {"sizeLimit": "1Gi"}})
        mounts.append({"name": "source", "mountPath": SOURCE_ROOT, "readOnly": True})
        sync = workload.git_sync_container(args.git_sync_image, args.dags, root=SOURCE_ROOT, one_time=True)
        init.append(_plain(sync))
    container = {
        "name": "base",
        "image": image,
        "envFrom": [{"configMapRef": {"name": settings_map}},
                    {"configMapRef": {"name": pipeline_config}}, {"secretRef": {"name": pipeline_config}}],
        "env": [{"name": "FEAST_FS_YAML_FILE_PATH", "value": f"{CONFIG_DIR}/feature_store.yaml"}],
        "resources": {"requests": {"cpu": size.cpu, "memory": size.memory},
                      "limits": {"cpu": size.cpu_limit, "memory": size.memory_limit}},
        "securityContext": _plain(workload.container_security()),
        "volumeMounts": mounts,
    }
    spec = {
        "serviceAccountName": WORKER_SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": _plain(workload.pod_security(workload.PLATFORM_UID, workload.PLATFORM_GID)),
        "containers": [container],
        "volumes": volumes,
    }
    if init:
        spec["initContainers"] = init
    labels = workload.labels(APP, args.labels, "worker")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": labels}, "spec": spec}


def _plain(value):
    """An `…Args` object as the camelCase dict Kubernetes reads (for the pod template file)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "__dict__") and type(value).__module__.startswith("pulumi_kubernetes"):
        out = {}
        for key, item in vars(value).items():
            if item is None or key.startswith("__"):
                continue
            name = key.lstrip("_").rstrip("_")
            camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
            out[camel] = _plain(item)
        return out
    return value


class Airflow(pulumi.ComponentResource):
    url: pulumi.Output[str]
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: AirflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:Airflow", name, None, opts)
        assert args.database is not None, "AirflowArgs.database is required"
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace

        admin_password = workload.password(f"{name}-admin-password", self, protect=False)
        pipelines_password = workload.password(f"{name}-pipelines-password", self, protect=False)
        jwt_secret = workload.password(f"{name}-jwt-secret", self, protect=False, length=48)
        api_secret_key = workload.password(f"{name}-api-secret-key", self, protect=False, length=48)
        fernet = random.RandomId(f"{name}-fernet-key", byte_length=32, opts=child)
        # A Fernet key is 32 bytes in URL-safe base64 with its padding.
        fernet_key = pulumi.Output.secret(fernet.b64_url.apply(lambda key: key + "=" * (-len(key) % 4)))
        secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET_NAME, namespace=ns, labels=workload.labels(APP, args.labels)),
            type="Opaque",
            string_data={
                "sql-alchemy-conn": workload.database_url(args.database, APP),
                "fernet-key": fernet_key,
                "jwt-secret": jwt_secret,
                "api-secret-key": api_secret_key,
            },
            opts=child,
        )
        admin = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-admin", namespace=ns, labels=workload.labels(APP, args.labels)),
            type="Opaque",
            string_data={
                "username": ADMIN_USER,
                "password": admin_password,
                "passwords.json": pulumi.Output.secret(pulumi.Output.all(admin_password, pipelines_password).apply(
                    lambda p: json.dumps({ADMIN_USER: p[0], PIPELINES_USER: p[1]})
                )),
            },
            opts=child,
        )

        env_settings = pulumi.Output.all(ns, args.pipelines_namespace, args.remote_logging).apply(
            lambda v: settings(args, v[0], v[1], v[2])
        )
        settings_map = k8s.core.v1.ConfigMap(
            f"{name}-settings",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-settings", namespace=ns, labels=workload.labels(APP, args.labels)),
            data=env_settings,
            opts=child,
        )
        # Task pods run in the pipelines namespace, so the settings are placed there too.
        worker_settings = k8s.core.v1.ConfigMap(
            f"{name}-worker-settings",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{APP}-settings", namespace=args.pipelines_namespace, labels=workload.labels(APP, args.labels, "worker")
            ),
            data=env_settings,
            opts=child,
        )
        template = pod_template(args, args.image, args.pipeline_config, f"{APP}-settings")
        template_map = k8s.core.v1.ConfigMap(
            f"{name}-pod-template",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-pod-template", namespace=ns, labels=workload.labels(APP, args.labels)),
            data={"pod_template.yaml": yaml.safe_dump(template, sort_keys=False)},
            opts=child,
        )

        # RBAC: the scheduler launches and watches task pods; the API server reads their logs.
        # Both accounts share the service's cloud identity: logs, and the tasks' own buckets.
        identity = dict(args.service_account_annotations) or None
        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=APP, namespace=ns, labels=workload.labels(APP, args.labels), annotations=identity,
            ),
            automount_service_account_token=False,
            opts=child,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-worker-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=WORKER_SERVICE_ACCOUNT, namespace=args.pipelines_namespace, labels=workload.labels(APP, args.labels, "worker"),
                annotations=identity,
            ),
            automount_service_account_token=False,
            opts=child,
        )
        role = k8s.rbac.v1.Role(
            f"{name}-pod-launcher",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-pod-launcher", namespace=args.pipelines_namespace,
                                                labels=workload.labels(APP, args.labels)),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"],
                                           verbs=["create", "list", "get", "patch", "watch", "delete"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods/log"], verbs=["get"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods/exec"], verbs=["create", "get"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["events"], verbs=["list"]),
            ],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-pod-launcher-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-pod-launcher", namespace=args.pipelines_namespace,
                                                labels=workload.labels(APP, args.labels)),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=ns)],
            opts=child,
        )

        secret_env = [workload.secret_env(var, secret.metadata.name, key) for var, key in SECRET_KEYS.items()]
        env_from = [
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=settings_map.metadata.name)),
            *workload.pipeline_env_from(args.pipeline_config),
        ]
        config_volume = workload.pipeline_files_volume(args.pipeline_config)
        home = k8s.core.v1.VolumeArgs(name="home", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi"))
        tmp = k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi"))
        base_mounts = [
            k8s.core.v1.VolumeMountArgs(name="home", mount_path=AIRFLOW_HOME),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name=config_volume.name, mount_path=CONFIG_DIR, read_only=True),
        ]
        base_volumes = [home, tmp, config_volume]
        checksum = pulumi.Output.all(args.config_checksum, env_settings).apply(
            lambda v: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()
        )
        component_args = AppArgs(
            namespace=ns, image=args.image, size=args.sizes["scheduler"], labels=args.labels,
            pipeline_config=args.pipeline_config, config_checksum=checksum, depends_on=args.depends_on,
        )

        def container(role: str, command: list[str], size: Size, *, mounts=(), ports=None, probes=None) -> k8s.core.v1.ContainerArgs:
            probes = probes or {}
            return k8s.core.v1.ContainerArgs(
                name=role.replace("Processor", "-processor").lower(),
                image=args.image,
                command=command,
                env=secret_env,
                env_from=env_from,
                ports=ports,
                resources=workload.resources(size),
                security_context=workload.container_security(),
                volume_mounts=[*base_mounts, *mounts],
                **probes,
            )

        migrate_labels = workload.labels(APP, args.labels, "migrate")
        migrate = workload.run_once_job(
            self, f"{name}-migrate", f"{APP}-migrate", ns, migrate_labels,
            # A new image (a new Airflow version) runs the migration again.
            workload.batch_pod(
                migrate_labels,
                service_account=account.metadata.name,
                containers=[container("migrate", COMMANDS["migrate"], args.sizes["scheduler"])],
                volumes=base_volumes,
                annotations={"mlops-stack/image": args.image},
            ),
            depends_on=list(args.depends_on),
            deadline_seconds=1200,
        )

        # The API server: REST API, UI, and the Execution API that task pods report to.
        api_health = workload.http_probe("/api/v2/monitor/health", API_PORT)
        api_size = args.sizes["apiServer"]
        auth_volume = k8s.core.v1.VolumeArgs(
            name="auth",
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=admin.metadata.name, items=[k8s.core.v1.KeyToPathArgs(key="passwords.json", path="passwords.json")]
            ),
        )
        api_args = AppArgs(**{**component_args.__dict__, "size": api_size})
        workload.deployment(
            self, f"{name}-api-server", APP, api_args, component="api-server",
            service_account=account.metadata.name,
            api_access=True,  # reads the logs of running task pods
            containers=[container(
                "api-server", api_server_command(args.api_workers), api_size,
                mounts=[k8s.core.v1.VolumeMountArgs(name="auth", mount_path=AUTH_DIR, read_only=True)],
                ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=API_PORT)],
                probes=dict(startup_probe=workload.startup_probe(api_health, 300), readiness_probe=api_health,
                            liveness_probe=workload.http_probe("/api/v2/monitor/health", API_PORT, period=20, failures=5)),
            )],
            volumes=[*base_volumes, auth_volume],
            depends_on=[migrate],
        )
        api_service = workload.cluster_service(self, f"{name}-api-server", APP, api_args, API_PORT, component="api-server")
        if args.ingress.enabled:
            workload.ingress(self, name, APP, api_args, api_service, API_PORT, host=args.ingress.host or "",
                             class_name=args.ingress.class_name, tls_secret=args.ingress.tls_secret)

        template_volume = k8s.core.v1.VolumeArgs(
            name="pod-template", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=template_map.metadata.name)
        )
        scheduler_health = workload.http_probe("/health", SCHEDULER_HEALTH_PORT, period=30)
        scheduler_args = AppArgs(**{**component_args.__dict__, "size": args.sizes["scheduler"]})
        workload.deployment(
            self, f"{name}-scheduler", APP, scheduler_args, component="scheduler",
            service_account=account.metadata.name,
            api_access=True,  # the KubernetesExecutor launches and watches task pods
            containers=[container(
                "scheduler", COMMANDS["scheduler"], args.sizes["scheduler"],
                mounts=[k8s.core.v1.VolumeMountArgs(name="pod-template", mount_path=POD_TEMPLATE_DIR, read_only=True)],
                ports=[k8s.core.v1.ContainerPortArgs(name="health", container_port=SCHEDULER_HEALTH_PORT)],
                probes=dict(startup_probe=workload.startup_probe(scheduler_health, 300), liveness_probe=scheduler_health,
                            # Ready = heartbeating: a rollout waits for the new scheduler before it stops the old one.
                            readiness_probe=workload.http_probe("/health", SCHEDULER_HEALTH_PORT, period=15)),
            )],
            volumes=[*base_volumes, template_volume],
            depends_on=[migrate],
        )

        processor_args = AppArgs(**{**component_args.__dict__, "size": args.sizes["dagProcessor"]})
        sidecars, source_volumes, source_mounts = [], [], []
        if args.dags.git:
            source_volumes.append(k8s.core.v1.VolumeArgs(name="source", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")))
            source_mounts.append(k8s.core.v1.VolumeMountArgs(name="source", mount_path=SOURCE_ROOT, read_only=True))
            sync = workload.git_sync_container(args.git_sync_image, args.dags, root=SOURCE_ROOT, one_time=False)
            # A native sidecar (an init container that keeps running) pulls new commits every minute.
            sidecars.append(k8s.core.v1.ContainerArgs(**{**sync.__dict__, "restart_policy": "Always"}))
        workload.deployment(
            self, f"{name}-dag-processor", APP, processor_args, component="dag-processor",
            service_account=account.metadata.name,
            init_containers=sidecars or None,
            containers=[container(
                "dagProcessor", COMMANDS["dagProcessor"], args.sizes["dagProcessor"], mounts=source_mounts,
                probes=dict(liveness_probe=workload.exec_probe(job_check("DagProcessorJob"), period=60, timeout=45),
                            readiness_probe=workload.exec_probe(job_check("DagProcessorJob"), period=60, timeout=45, failures=1)),
            )],
            volumes=[*base_volumes, *source_volumes],
            depends_on=[migrate],
        )

        triggerer_args = AppArgs(**{**component_args.__dict__, "size": args.sizes["triggerer"]})
        workload.deployment(
            self, f"{name}-triggerer", APP, triggerer_args, component="triggerer",
            service_account=account.metadata.name,
            containers=[container(
                "triggerer", COMMANDS["triggerer"], args.sizes["triggerer"],
                probes=dict(liveness_probe=workload.exec_probe(job_check("TriggererJob"), period=60, timeout=45),
                            readiness_probe=workload.exec_probe(job_check("TriggererJob"), period=60, timeout=45, failures=1)),
            )],
            volumes=[*base_volumes],
            depends_on=[migrate],
        )

        self.url = workload.service_url(f"{APP}-api-server", ns, API_PORT)
        self.admin_password = admin_password
        self.pipelines_user = PIPELINES_USER
        self.pipelines_password = pipelines_password
        self.register_outputs({"url": self.url, "adminPassword": self.admin_password, "pipelinesUser": PIPELINES_USER})
