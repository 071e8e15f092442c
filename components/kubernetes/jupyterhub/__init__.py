"""JupyterHub in the cluster, from typed resources: the hub (KubeSpawner, its state in the platform's
PostgreSQL), configurable-http-proxy, and user servers spawned in the pipelines namespace with the
pipeline config and the pipelines' cloud identity (user_pod.py). The settings are those of the
official chart (z2jh) where it has one: a separate proxy, a culler service, one claim per user.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.kubernetes import workload
from components.kubernetes.jupyterhub.user_pod import (
    APP, COMPONENT, HOME, USER_PORT, USER_SERVICE_ACCOUNT, hub_settings, pod_template, user_labels,
)
from components.kubernetes.network_policies import NAME_LABEL, namespace_selector
from components.kubernetes.workload import AppArgs
from components.specs import Ingress, ServerProfile
from infra.contract import Database, Size
from mlops_jobs import pipeline_names

HUB_PORT = 8081
PROXY_PORT = 8000
PROXY_API_PORT = 8001
SERVICE_PORT = 80  # the proxy's Service: where people (port-forward, Ingress) come in
CONFIG_DIR = "/etc/jupyterhub"
CONFIG_FILE = Path(__file__).with_name("jupyterhub_config.py")
# The consumer key of its login in the platform's PostgreSQL (kept out of the pipeline config).
DATABASE = pipeline_names.HUB_DATABASE_CONSUMER
SIGN_IN_SECRET = "jupyterhub-sign-in"
HUB_SECRET = "jupyterhub"

__all__ = ["APP", "DATABASE", "JupyterHub", "JupyterHubArgs", "SIGN_IN_SECRET", "USER_SERVICE_ACCOUNT"]


@dataclass(frozen=True)
class JupyterHubArgs(AppArgs):
    database: Optional[Database] = None  # its login under the consumer key DATABASE
    pipelines_namespace: pulumi.Input[str] = ""
    proxy_size: Size = Size(1, "50m", "64Mi", "500m", "256Mi")
    # The pipelines' cloud identity (IRSA, workload identity), given to the user servers' account.
    user_identity: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    admins: tuple[str, ...] = ("admin",)
    users: tuple[str, ...] = ()
    cull_idle_seconds: int = 3600
    storage: str = "5Gi"
    storage_class: Optional[str] = None
    profiles: tuple[ServerProfile, ...] = ()
    ingress: Ingress = Ingress()
    protect: bool = False


def database_url(database: Database) -> pulumi.Output[str]:
    """SQLAlchemy URL of the hub's database (psycopg 3, as Feast's registry), as a secret."""
    login = database.logins[DATABASE]
    return pulumi.Output.secret(pulumi.Output.format(
        "postgresql+psycopg://{0}:{1}@{2}:{3}/{4}?sslmode={5}",
        login.user, login.password, database.host, database.port, login.database, database.sslmode,
    ))


class JupyterHub(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: JupyterHubArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:JupyterHub", name, None, opts)
        assert args.database is not None and args.profiles, "JupyterHubArgs.database and profiles are required"
        secrets = self._secrets(name, args)
        config = self._config_map(name, args)
        account = self._accounts(name, args)
        hub = self._hub(name, args, account, config)
        proxy_service = self._proxy(name, args, hub)
        self._user_network_policy(name, args)
        url = workload.service_url(workload.object_name_of(APP, "proxy"), args.namespace, SERVICE_PORT)
        if args.ingress.enabled:
            workload.ingress(self, name, APP, args, proxy_service, SERVICE_PORT,
                             host=args.ingress.host or "", class_name=args.ingress.class_name, tls_secret=args.ingress.tls_secret)
            url = pulumi.Output.from_input(f"{'https' if args.ingress.tls_secret else 'http'}://{args.ingress.host}/")
        self.url = url
        self.sign_in_secret = secrets.metadata.name
        self.register_outputs({"url": self.url, "signInSecret": self.sign_in_secret})

    def _secrets(self, name: str, args: JupyterHubArgs) -> k8s.core.v1.Secret:
        """The hub's own (database URL, cookie secret, proxy and API tokens) and the sign-in passwords,
        which people read; both generated, and kept across `up`s."""
        cookie = random.RandomId(f"{name}-cookie-secret", byte_length=32, opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        workload.credentials_secret(self, f"{name}-hub-secret", HUB_SECRET, args, APP, {
            "db-url": database_url(args.database),
            "cookie-secret": pulumi.Output.secret(cookie.hex),
            "proxy-token": workload.password(f"{name}-proxy-token", self, args.protect, length=48),
            "platform-token": workload.password(f"{name}-platform-token", self, args.protect, length=48),
        })
        # SharedPasswordAuthenticator wants the admin password at least 32 characters and unlike the users'.
        return workload.credentials_secret(self, f"{name}-sign-in", SIGN_IN_SECRET, args, APP, {
            "admin-password": workload.password(f"{name}-admin-password", self, args.protect, length=40),
            "user-password": workload.password(f"{name}-user-password", self, args.protect, length=24),
        })

    def _config_map(self, name: str, args: JupyterHubArgs) -> k8s.core.v1.ConfigMap:
        def files(namespaces: list[str]) -> dict[str, str]:
            platform, pipelines = namespaces
            settings = hub_settings(
                hub_connect_url=f"http://{workload.object_name_of(APP, 'hub')}.{platform}.svc.cluster.local:{HUB_PORT}",
                proxy_api_url=f"http://{workload.object_name_of(APP, 'proxy-api')}.{platform}.svc.cluster.local:{PROXY_API_PORT}",
                admins=args.admins, users=args.users, cull_idle_seconds=args.cull_idle_seconds,
                storage=args.storage, storage_class=args.storage_class, profiles=args.profiles,
            )
            template = pod_template(namespace=pipelines, image=args.image, pipeline_config=args.pipeline_config,
                                    profile=args.profiles[0], labels=args.labels)
            return {
                "jupyterhub_config.py": CONFIG_FILE.read_text(),
                "hub.yaml": yaml.safe_dump(settings, sort_keys=False),
                "user-pod.yaml": yaml.safe_dump(template, sort_keys=False),
            }

        data = pulumi.Output.all(args.namespace, args.pipelines_namespace).apply(files)
        self._config_checksum = data.apply(lambda d: hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest())
        return k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-config", namespace=args.namespace, labels=workload.labels(APP, args.labels, "hub")),
            data=data,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _accounts(self, name: str, args: JupyterHubArgs) -> k8s.core.v1.ServiceAccount:
        """The hub's account may manage pods and their claims in the pipelines namespace, and nothing
        else; the user servers' account there carries the pipelines' cloud identity."""
        child = pulumi.ResourceOptions(parent=self)
        account = workload.service_account(self, name, APP, args.namespace, args.labels)
        k8s.core.v1.ServiceAccount(
            f"{name}-user-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=USER_SERVICE_ACCOUNT, namespace=args.pipelines_namespace, labels=user_labels(args.labels),
                annotations=dict(args.user_identity) or None,
            ),
            automount_service_account_token=False,
            opts=child,
        )
        spawner = k8s.meta.v1.ObjectMetaArgs(name=f"{APP}-spawner", namespace=args.pipelines_namespace, labels=workload.labels(APP, args.labels, "hub"))
        role = k8s.rbac.v1.Role(
            f"{name}-spawner",
            metadata=spawner,
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch", "create", "delete"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["persistentvolumeclaims"], verbs=["get", "list", "watch", "create"]),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["events"], verbs=["get", "list", "watch"]),
            ],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-spawner-binding",
            metadata=spawner,
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=args.namespace)],
            opts=child,
        )
        return account

    def _hub(self, name: str, args: JupyterHubArgs, account: k8s.core.v1.ServiceAccount,
             config: k8s.core.v1.ConfigMap) -> k8s.apps.v1.Deployment:
        volumes, mounts = workload.writable_dirs("/tmp", HOME)
        volumes.append(k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config.metadata.name)))
        mounts.append(k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True))
        health = workload.http_probe("/hub/health", HUB_PORT)
        hub = k8s.core.v1.ContainerArgs(
            name="hub",
            image=args.image,
            command=["jupyterhub", f"--config={CONFIG_DIR}/jupyterhub_config.py", "--upgrade-db"],
            env=[
                k8s.core.v1.EnvVarArgs(name="JUPYTERHUB_HUB_PORT", value=str(HUB_PORT)),
                workload.secret_env("JUPYTERHUB_DB_URL", HUB_SECRET, "db-url"),
                workload.secret_env("JPY_COOKIE_SECRET", HUB_SECRET, "cookie-secret"),
                workload.secret_env("CONFIGPROXY_AUTH_TOKEN", HUB_SECRET, "proxy-token"),
                workload.secret_env("JUPYTERHUB_PLATFORM_TOKEN", HUB_SECRET, "platform-token"),
                workload.secret_env("JUPYTERHUB_ADMIN_PASSWORD", SIGN_IN_SECRET, "admin-password"),
                workload.secret_env("JUPYTERHUB_USER_PASSWORD", SIGN_IN_SECRET, "user-password"),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=HUB_PORT)],
            startup_probe=workload.startup_probe(health, seconds=300),
            readiness_probe=health,
            liveness_probe=workload.http_probe("/hub/health", HUB_PORT, period=20, failures=5),
            resources=workload.resources(args.size),
            security_context=workload.container_security(),
            volume_mounts=mounts,
            working_dir=HOME,
        )
        deployment = workload.deployment(
            self, f"{name}-hub", APP, args, component="hub", containers=[hub], volumes=volumes, replicas=1,
            service_account=account.metadata.name,
            api_access=True,  # KubeSpawner drives the Kubernetes API
            recreate=True,  # one hub per database: never two during a rollout
            annotations={"mlops-stack/hub-config-checksum": self._config_checksum},
        )
        workload.cluster_service(self, f"{name}-hub", APP, args, HUB_PORT, component="hub")
        return deployment

    def _proxy(self, name: str, args: JupyterHubArgs, hub: k8s.apps.v1.Deployment) -> k8s.core.v1.Service:
        """configurable-http-proxy: people come in on its public port; the hub sets its routes on the API port."""
        hub_url = pulumi.Output.concat("http://", workload.service_dns(workload.object_name_of(APP, "hub"), args.namespace), f":{HUB_PORT}")
        health = workload.http_probe("/_chp_healthz", PROXY_PORT)
        proxy = k8s.core.v1.ContainerArgs(
            name="proxy",
            image=args.image,
            command=["configurable-http-proxy"],
            args=[
                "--ip=", "--port", str(PROXY_PORT), "--api-ip=", "--api-port", str(PROXY_API_PORT),
                pulumi.Output.concat("--default-target=", hub_url), pulumi.Output.concat("--error-target=", hub_url, "/hub/error"),
            ],
            env=[workload.secret_env("CONFIGPROXY_AUTH_TOKEN", HUB_SECRET, "proxy-token")],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PROXY_PORT),
                   k8s.core.v1.ContainerPortArgs(name="api", container_port=PROXY_API_PORT)],
            readiness_probe=health,
            liveness_probe=workload.http_probe("/_chp_healthz", PROXY_PORT, period=20, failures=5),
            resources=workload.resources(args.proxy_size),
            security_context=workload.container_security(),
        )
        proxy_args = AppArgs(namespace=args.namespace, image=args.image, size=args.proxy_size, labels=args.labels,
                             config_checksum=args.config_checksum, depends_on=args.depends_on)
        account = workload.service_account(self, f"{name}-proxy", f"{APP}-proxy", args.namespace, args.labels)
        workload.deployment(self, f"{name}-proxy", APP, proxy_args, component="proxy", containers=[proxy], replicas=1,
                            service_account=account.metadata.name, depends_on=[hub])
        k8s.core.v1.Service(
            f"{name}-proxy-api-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=workload.object_name_of(APP, "proxy-api"), namespace=args.namespace,
                                                labels=workload.labels(APP, args.labels, "proxy")),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=workload.selector(APP, "proxy"),
                ports=[k8s.core.v1.ServicePortArgs(name="api", port=PROXY_API_PORT, target_port="api", protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return k8s.core.v1.Service(
            f"{name}-proxy-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=workload.object_name_of(APP, "proxy"), namespace=args.namespace,
                                                labels=workload.labels(APP, args.labels, "proxy")),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=workload.selector(APP, "proxy"),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http", protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _user_network_policy(self, name: str, args: JupyterHubArgs) -> None:
        """The pipelines namespace denies ingress by default: user servers admit the hub (its start
        check) and the proxy, from the platform namespace, on their one port."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-user-servers",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"allow-{APP}-{COMPONENT}", namespace=args.pipelines_namespace,
                                                labels=workload.labels("network-policy", args.labels, component="security")),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=workload.selector(APP, COMPONENT)),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=namespace_selector(args.namespace),
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={NAME_LABEL: APP}),
                    )],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=USER_PORT, protocol="TCP")],
                )],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
