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
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.kubernetes import workload
from components.kubernetes.workload import AppArgs
from components.specs import GitCheckout, Ingress
from infra.contract import Size
from infra.contract import Database
from mlops_jobs import pipeline_names

APP = "airflow"
API_PORT = 8080
SCHEDULER_HEALTH_PORT = 8974
AIRFLOW_HOME = "/opt/airflow"
AUTH_DIR = "/etc/airflow/auth"
POD_TEMPLATE_DIR = "/etc/airflow/pod-template"
PASSWORDS_FILE = f"{AIRFLOW_HOME}/simple_auth_manager_passwords.json"
PIPELINES_USER = "pipelines"
CONFIG_DIR = pipeline_names.CONFIG_MOUNT
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
    dags: GitCheckout = GitCheckout(path="")
    parallelism: int = 4
    api_workers: int = 1
    git_sync_image: str = ""
    # AIRFLOW__LOGGING__REMOTE_* settings: task logs outlive their pods in the artifacts bucket.
    remote_logging: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    ingress: Ingress = Ingress()


def dags_folder(dags: GitCheckout) -> str:
    """The checkout's folder with git; otherwise the path in the image."""
    if dags.git:
        return posixpath.normpath(f"{SOURCE_ROOT}/current/{dags.path}")
    return dags.path


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
        # Pipelines (and the post-deploy check, and the monitoring job) sign in as a user that may read
        # and trigger DAGs and emit asset events (role op), not administer.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin,{PIPELINES_USER}:op",
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
    """The KubernetesExecutor's template for task pods (the container must be named `base`), as the
    plain data of its file."""
    volumes: list[dict] = [
        {"name": "pipeline-config", "configMap": {"name": pipeline_config, "items": [
            {"key": k, "path": k} for k in workload.PIPELINE_FILES]}},
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
        init.append(workload.git_sync_spec(args.git_sync_image, args.dags, root=SOURCE_ROOT, one_time=True))
    container = {
        "name": "base",
        "image": image,
        "envFrom": [{"configMapRef": {"name": settings_map}},
                    {"configMapRef": {"name": pipeline_config}}, {"secretRef": {"name": pipeline_config}}],
        "env": [{"name": "FEAST_FS_YAML_FILE_PATH", "value": f"{CONFIG_DIR}/{pipeline_names.FEATURE_STORE_YAML}"}],
        "resources": workload.quantities(args.sizes["worker"]),
        "securityContext": workload.container_security_spec(),
        "volumeMounts": mounts,
    }
    spec = {
        "serviceAccountName": WORKER_SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": workload.pod_security_spec(workload.PLATFORM_UID, workload.PLATFORM_GID),
        "containers": [container],
        "volumes": volumes,
    }
    if init:
        spec["initContainers"] = init
    labels = workload.labels(APP, args.labels, "worker")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": labels}, "spec": spec}


def fernet_key(generated: random.RandomId) -> pulumi.Output[str]:
    """A Fernet key is 32 bytes in URL-safe base64 with its padding."""
    return pulumi.Output.secret(generated.b64_url.apply(lambda key: key + "=" * (-len(key) % 4)))


@dataclass(frozen=True)
class ComponentKit:
    """What Airflow's components (the migration, API server, scheduler, DAG processor, triggerer) share:
    the image, the keys and settings as environment, the home, tmp and pipeline config volumes, the
    service account, and the `db migrate` Job they start after."""

    parent: pulumi.Resource
    name: str
    args: AirflowArgs
    # The pods roll when the pipeline config or the settings change.
    app_args: AppArgs
    service_account: pulumi.Input[str]
    secret_env: list[k8s.core.v1.EnvVarArgs]
    env_from: list[k8s.core.v1.EnvFromSourceArgs]
    volumes: list[k8s.core.v1.VolumeArgs]
    mounts: list[k8s.core.v1.VolumeMountArgs]
    migrate: Optional[k8s.batch.v1.Job] = None

    def container(self, role: str, command: list[str], size: Size, *, mounts=(), ports=None, probes=None) -> k8s.core.v1.ContainerArgs:
        return k8s.core.v1.ContainerArgs(
            name=role.replace("Processor", "-processor").lower(),
            image=self.args.image,
            command=command,
            env=self.secret_env,
            env_from=self.env_from,
            ports=ports,
            resources=workload.resources(size),
            security_context=workload.container_security(),
            volume_mounts=[*self.mounts, *mounts],
            **(probes or {}),
        )

    def deployment(self, component: str, size: Size, container: k8s.core.v1.ContainerArgs, *, volumes=(),
                   init_containers=None, api_access: bool = False) -> k8s.apps.v1.Deployment:
        """The component's Deployment (`<name>-<component>`), once the migration has run."""
        return workload.deployment(
            self.parent, f"{self.name}-{component}", APP, replace(self.app_args, size=size), component=component,
            service_account=self.service_account,
            api_access=api_access,
            init_containers=init_containers,
            containers=[container],
            volumes=[*self.volumes, *volumes],
            depends_on=[self.migrate],
        )


def component_kit(parent: pulumi.Resource, name: str, args: AirflowArgs, secret: k8s.core.v1.Secret,
                  settings_map: k8s.core.v1.ConfigMap, env_settings: pulumi.Output[dict],
                  account: k8s.core.v1.ServiceAccount) -> ComponentKit:
    config_volume = workload.pipeline_files_volume(args.pipeline_config)
    checksum = pulumi.Output.all(args.config_checksum, env_settings).apply(
        lambda v: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()
    )
    return ComponentKit(
        parent=parent, name=name, args=args,
        app_args=AppArgs(
            namespace=args.namespace, image=args.image, size=args.sizes["scheduler"], labels=args.labels,
            pipeline_config=args.pipeline_config, config_checksum=checksum, depends_on=args.depends_on,
        ),
        service_account=account.metadata.name,
        secret_env=[workload.secret_env(var, secret.metadata.name, key) for var, key in SECRET_KEYS.items()],
        env_from=[
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=settings_map.metadata.name)),
            *workload.pipeline_env_from(args.pipeline_config),
        ],
        volumes=[workload.empty_dir("home"), workload.empty_dir("tmp"), config_volume],
        mounts=[
            k8s.core.v1.VolumeMountArgs(name="home", mount_path=AIRFLOW_HOME),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name=config_volume.name, mount_path=CONFIG_DIR, read_only=True),
        ],
    )


class Airflow(pulumi.ComponentResource):
    url: pulumi.Output[str]
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: AirflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:Airflow", name, None, opts)
        assert args.database is not None, "AirflowArgs.database is required"
        secret, admin, admin_password, pipelines_password = self._secrets(name, args)
        env_settings, settings_map = self._settings(name, args)
        template_map = self._task_pod_template(name, args)
        account = self._accounts(name, args)
        kit = component_kit(self, name, args, secret, settings_map, env_settings, account)
        kit = replace(kit, migrate=self._migrate(kit))
        self._api_server(kit, admin)
        self._scheduler(kit, template_map)
        self._dag_processor(kit)
        self._triggerer(kit)

        self.url = workload.service_url(f"{APP}-api-server", args.namespace, API_PORT)
        self.admin_password = admin_password
        self.pipelines_user = PIPELINES_USER
        self.pipelines_password = pipelines_password
        self.register_outputs({"url": self.url, "adminPassword": self.admin_password, "pipelinesUser": PIPELINES_USER})

    def _secrets(self, name: str, args: AirflowArgs):
        """The servers' keys (SECRET_KEYS), and the users' passwords for the auth manager."""
        child = pulumi.ResourceOptions(parent=self)
        admin_password = workload.password(f"{name}-admin-password", self, protect=False)
        pipelines_password = workload.password(f"{name}-pipelines-password", self, protect=False)
        jwt_secret = workload.password(f"{name}-jwt-secret", self, protect=False, length=48)
        api_secret_key = workload.password(f"{name}-api-secret-key", self, protect=False, length=48)
        fernet = random.RandomId(f"{name}-fernet-key", byte_length=32, opts=child)
        secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET_NAME, namespace=args.namespace, labels=workload.labels(APP, args.labels)),
            type="Opaque",
            string_data={
                "sql-alchemy-conn": workload.database_url(args.database, APP),
                "fernet-key": fernet_key(fernet),
                "jwt-secret": jwt_secret,
                "api-secret-key": api_secret_key,
            },
            opts=child,
        )
        admin = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-admin", namespace=args.namespace, labels=workload.labels(APP, args.labels)),
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
        return secret, admin, admin_password, pipelines_password

    def _settings(self, name: str, args: AirflowArgs) -> tuple[pulumi.Output[dict], k8s.core.v1.ConfigMap]:
        """The settings ConfigMap; task pods run in the pipelines namespace, so it is placed there too."""
        env_settings = pulumi.Output.all(args.namespace, args.pipelines_namespace, args.remote_logging).apply(
            lambda v: settings(args, v[0], v[1], v[2])
        )
        settings_map = k8s.core.v1.ConfigMap(
            f"{name}-settings",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-settings", namespace=args.namespace, labels=workload.labels(APP, args.labels)),
            data=env_settings,
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.core.v1.ConfigMap(
            f"{name}-worker-settings",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{APP}-settings", namespace=args.pipelines_namespace, labels=workload.labels(APP, args.labels, "worker")
            ),
            data=env_settings,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return env_settings, settings_map

    def _task_pod_template(self, name: str, args: AirflowArgs) -> k8s.core.v1.ConfigMap:
        template = pod_template(args, args.image, args.pipeline_config, f"{APP}-settings")
        return k8s.core.v1.ConfigMap(
            f"{name}-pod-template",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{APP}-pod-template", namespace=args.namespace, labels=workload.labels(APP, args.labels)
            ),
            data={"pod_template.yaml": yaml.safe_dump(template, sort_keys=False)},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _accounts(self, name: str, args: AirflowArgs) -> k8s.core.v1.ServiceAccount:
        """RBAC: the scheduler launches and watches task pods; the API server reads their logs.
        Both accounts share the service's cloud identity: logs, and the tasks' own buckets."""
        child = pulumi.ResourceOptions(parent=self)
        identity = dict(args.service_account_annotations) or None
        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=APP, namespace=args.namespace, labels=workload.labels(APP, args.labels), annotations=identity,
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
        launcher = k8s.meta.v1.ObjectMetaArgs(
            name=f"{APP}-pod-launcher", namespace=args.pipelines_namespace, labels=workload.labels(APP, args.labels)
        )
        role = k8s.rbac.v1.Role(
            f"{name}-pod-launcher",
            metadata=launcher,
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
            metadata=launcher,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=args.namespace)],
            opts=child,
        )
        return account

    def _migrate(self, kit: ComponentKit) -> k8s.batch.v1.Job:
        args = kit.args
        migrate_labels = workload.labels(APP, args.labels, "migrate")
        return workload.run_once_job(
            self, f"{kit.name}-migrate", f"{APP}-migrate", args.namespace, migrate_labels,
            # A new image (a new Airflow version) runs the migration again.
            workload.batch_pod(
                migrate_labels,
                service_account=kit.service_account,
                containers=[kit.container("migrate", COMMANDS["migrate"], args.sizes["scheduler"])],
                volumes=kit.volumes,
                annotations={"mlops-stack/image": args.image},
            ),
            depends_on=list(args.depends_on),
            deadline_seconds=1200,
        )

    def _api_server(self, kit: ComponentKit, admin: k8s.core.v1.Secret) -> None:
        """REST API, UI, and the Execution API that task pods report to; behind an Ingress if enabled."""
        args = kit.args
        health = workload.http_probe("/api/v2/monitor/health", API_PORT)
        auth_volume = k8s.core.v1.VolumeArgs(
            name="auth",
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=admin.metadata.name, items=[k8s.core.v1.KeyToPathArgs(key="passwords.json", path="passwords.json")]
            ),
        )
        kit.deployment(
            "api-server", args.sizes["apiServer"],
            kit.container(
                "api-server", api_server_command(args.api_workers), args.sizes["apiServer"],
                mounts=[k8s.core.v1.VolumeMountArgs(name="auth", mount_path=AUTH_DIR, read_only=True)],
                ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=API_PORT)],
                probes=dict(startup_probe=workload.startup_probe(health, 300), readiness_probe=health,
                            liveness_probe=workload.http_probe("/api/v2/monitor/health", API_PORT, period=20, failures=5)),
            ),
            volumes=[auth_volume],
            api_access=True,  # reads the logs of running task pods
        )
        service = workload.cluster_service(self, f"{kit.name}-api-server", APP, kit.app_args, API_PORT, component="api-server")
        if args.ingress.enabled:
            workload.ingress(self, kit.name, APP, kit.app_args, service, API_PORT, host=args.ingress.host or "",
                             class_name=args.ingress.class_name, tls_secret=args.ingress.tls_secret)

    def _scheduler(self, kit: ComponentKit, template_map: k8s.core.v1.ConfigMap) -> None:
        """The scheduler, whose KubernetesExecutor launches task pods from the pod template."""
        size = kit.args.sizes["scheduler"]
        health = workload.http_probe("/health", SCHEDULER_HEALTH_PORT, period=30)
        template_volume = k8s.core.v1.VolumeArgs(
            name="pod-template", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=template_map.metadata.name)
        )
        kit.deployment(
            "scheduler", size,
            kit.container(
                "scheduler", COMMANDS["scheduler"], size,
                mounts=[k8s.core.v1.VolumeMountArgs(name="pod-template", mount_path=POD_TEMPLATE_DIR, read_only=True)],
                ports=[k8s.core.v1.ContainerPortArgs(name="health", container_port=SCHEDULER_HEALTH_PORT)],
                probes=dict(startup_probe=workload.startup_probe(health, 300), liveness_probe=health,
                            # Ready = heartbeating: a rollout waits for the new scheduler before it stops the old one.
                            readiness_probe=workload.http_probe("/health", SCHEDULER_HEALTH_PORT, period=15)),
            ),
            volumes=[template_volume],
            api_access=True,  # the KubernetesExecutor launches and watches task pods
        )

    def _dag_processor(self, kit: ComponentKit) -> None:
        """Parses the DAGs: from the image, or from git through a git-sync sidecar."""
        args = kit.args
        size = args.sizes["dagProcessor"]
        sidecars, volumes, mounts = [], [], []
        if args.dags.git:
            volumes.append(workload.empty_dir("source"))
            mounts.append(k8s.core.v1.VolumeMountArgs(name="source", mount_path=SOURCE_ROOT, read_only=True))
            # A native sidecar (an init container that keeps running) pulls new commits every minute.
            sidecars.append(workload.git_sync_container(
                args.git_sync_image, args.dags, root=SOURCE_ROOT, one_time=False, restart_policy="Always"
            ))
        check = job_check("DagProcessorJob")
        kit.deployment(
            "dag-processor", size,
            kit.container(
                "dagProcessor", COMMANDS["dagProcessor"], size, mounts=mounts,
                probes=dict(liveness_probe=workload.exec_probe(check, period=60, timeout=45),
                            readiness_probe=workload.exec_probe(check, period=60, timeout=45, failures=1)),
            ),
            volumes=volumes,
            init_containers=sidecars or None,
        )

    def _triggerer(self, kit: ComponentKit) -> None:
        size = kit.args.sizes["triggerer"]
        check = job_check("TriggererJob")
        kit.deployment(
            "triggerer", size,
            kit.container(
                "triggerer", COMMANDS["triggerer"], size,
                probes=dict(liveness_probe=workload.exec_probe(check, period=60, timeout=45),
                            readiness_probe=workload.exec_probe(check, period=60, timeout=45, failures=1)),
            ),
        )
