"""The applications in the cluster: MLflow, Feast, Evidently, Airflow and the notebooks hub, pointed at the data services.

Shared by every backend: the ensemble runs them next to its own data services; on EKS and AKS they
run against the managed ones. A service whose mode is `managed` is left to the backend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import hashlib
import json
from typing import Any, Mapping, Sequence

import pulumi

from components.kubernetes.airflow import Airflow, AirflowArgs
from components.kubernetes.evidently import Evidently, EvidentlyArgs
from components.kubernetes.feast import Feast, FeastArgs
from components.kubernetes.jupyterhub import JupyterHub, JupyterHubArgs
from components.kubernetes import jupyterhub
from components.kubernetes.mlflow import Mlflow, MlflowArgs
from components.kubernetes.network_policies import Admission
from components.kubernetes.serving import ModelEndpoint, ModelEndpointArgs, ServingGateway, ServingGatewayArgs, served_port
from infra import pipeline_config
from infra.config import ServiceMode, StackConfig
from stacks import specs
from infra.contract import FeatureStoreSettings, NotebooksInfo, PlatformEndpoints, ServiceUrls, ServingEndpointInfo, resolve


DATA_ROLES = ("postgres", "redis", "objectStore")


def public_data_services(endpoints: PlatformEndpoints) -> dict[str, pulumi.Output[Any]]:
    """The public settings of each data service, resolved once for every checksum that uses them
    (each resolve is an Output per field: the program's evaluation time grows with their number)."""
    services = {"postgres": endpoints.database, "redis": endpoints.cache, "objectStore": endpoints.object_store}
    return {role: resolve(services[role], with_secrets=False) for role in DATA_ROLES}


def data_checksum(public: Mapping[str, pulumi.Output[Any]], roles: Sequence[str] = DATA_ROLES) -> pulumi.Output[str]:
    """A hash of the public settings of the data services in `roles`: when a host, port, bucket or user
    changes, the servers that read the pipeline config roll. (Secrets are left out, so the hash is not a
    secret; a changed password is rolled out by its Secret's owner.) An application hashes only the
    services it uses, so it neither waits for nor restarts over one it does not (Airflow and Redis)."""
    return pulumi.Output.all(*(public[role] for role in roles)).apply(lambda values: hashlib.sha256(
        json.dumps({role: dataclasses.asdict(value) for role, value in zip(roles, values)}, sort_keys=True, default=str).encode()
    ).hexdigest())


# What each application must wait for: the setup Jobs that create its database, login and buckets.
NEEDS = {
    "mlflow": ("postgres", "objectStore"),
    "feast": ("postgres", "redis", "objectStore"),
    "evidently": ("objectStore",),
    "airflow": ("postgres", "objectStore"),
    "jupyterhub": ("postgres",),
}


def admissions(cfg: StackConfig) -> tuple[Admission, ...]:
    """Who reaches each application: pipelines (their namespace), Airflow's tasks and jobs, and an
    Ingress controller only where an Ingress is enabled. `kubectl port-forward` is not filtered."""
    mlflow_ingress = cfg.mlflow.ingress.enabled
    airflow_ingress = cfg.airflow.ingress.enabled
    # Model servers: the gateway's proxies run in a namespace of their own (any, to this policy).
    serving = tuple(
        Admission(endpoint.name, (served_port(specs.endpoint(endpoint)),), from_pipelines=True, from_anywhere=True)
        for endpoint in cfg.serving.endpoints
        if endpoint.mode is ServiceMode.IN_CLUSTER
    )
    return serving + (
        Admission("mlflow", (5000,), from_apps=("airflow", *(e.name for e in cfg.serving.endpoints)), from_pipelines=True, from_anywhere=mlflow_ingress),
        Admission("feast", (6566,), from_apps=("airflow",), from_pipelines=True),
        Admission("evidently", (8000,), from_apps=("evidently", "airflow"), from_pipelines=True),
        # Task pods report to the Execution API of the api-server.
        # The monitoring job (evidently's) emits the drift asset events.
        Admission("airflow", (8080,), component="api-server", from_apps=("evidently",), from_pipelines=True, from_anywhere=airflow_ingress),
    ) + _notebook_admissions(cfg)


def _notebook_admissions(cfg: StackConfig) -> tuple[Admission, ...]:
    """The hub: its proxy, and the user servers' API calls; the proxy's API: the hub. People reach the
    proxy through port-forward, or the Ingress when enabled. (The user servers' own rule is the hub's.)"""
    if not cfg.notebooks.in_cluster:
        return ()
    hub = jupyterhub.APP
    admissions = (
        Admission(hub, (jupyterhub.HUB_PORT,), component="hub", from_apps=(hub,), from_pipelines=True),
        Admission(hub, (jupyterhub.PROXY_API_PORT,), component="proxy", from_apps=(hub,), role="api"),
    )
    if cfg.notebooks.ingress.enabled:
        admissions += (Admission(hub, (jupyterhub.PROXY_PORT,), component="proxy", from_anywhere=True),)
    return admissions


@dataclass(frozen=True)
class _Apps:
    """What every application needs: the stack, where it runs, and what its pods depend on."""

    cfg: StackConfig
    endpoints: PlatformEndpoints
    opts: pulumi.ResourceOptions
    public_store: pulumi.Output[Any]  # the object store without its keys
    checksums: Mapping[str, pulumi.Output[str]]  # by app: the data services it needs, hashed
    data_services: Mapping[str, pulumi.Resource]
    identities: Mapping[str, Mapping[str, pulumi.Input[str]]]
    nodes: Sequence[pulumi.Resource]

    def common(self, app: str) -> dict:
        return dict(
            namespace=self.endpoints.kubernetes.platform_namespace,
            labels=self.cfg.labels,
            pipeline_config=pipeline_config.NAME,
            config_checksum=self.checksums[app],
            depends_on=(*self.nodes, *(self.data_services[role] for role in NEEDS[app] if role in self.data_services)),
            service_account_annotations=self.identities.get(app, {}),
        )


def build(
    cfg: StackConfig,
    endpoints: PlatformEndpoints,
    *,
    data_services: Mapping[str, pulumi.Resource],
    identities: Mapping[str, Mapping[str, pulumi.Input[str]]] | None = None,
    nodes: Sequence[pulumi.Resource] = (),
    managed: ServiceUrls = ServiceUrls(),
) -> PlatformEndpoints:
    """Add the in-cluster applications; returns the endpoints with their URLs filled in.

    `data_services` holds, by role (postgres, redis, objectStore), what must be done before an
    application uses the service: the in-cluster components, or the setup Job of a managed database.
    `identities` holds each application's service account annotations (its cloud identity), `nodes`
    what the pods need to be scheduled (a new cluster's node group), and `managed` the URLs of the
    services that run managed (e.g. SageMaker MLflow, MWAA).
    """
    endpoints = dataclasses.replace(endpoints, feature_store=FeatureStoreSettings(offline_store=cfg.feast.offline_store.value))
    # Client settings derived from the (public) endpoints: the same functions build the pipeline config.
    public = public_data_services(endpoints)
    apps = _Apps(
        cfg=cfg, endpoints=endpoints, opts=pulumi.ResourceOptions(providers=[endpoints.kubernetes.provider]),
        public_store=public["objectStore"], checksums={app: data_checksum(public, roles) for app, roles in NEEDS.items()},
        data_services=data_services, identities=identities or {}, nodes=tuple(nodes),
    )
    services = managed
    started: list[pulumi.Resource] = []
    for app, mode, add in (("mlflow", cfg.mlflow.mode, _mlflow), ("feast", cfg.feast.mode, _feast),
                           ("evidently", cfg.evidently.mode, _evidently), ("airflow", cfg.airflow.mode, _airflow)):
        if mode is ServiceMode.IN_CLUSTER:
            component, services = add(apps, services)
            started.append(component)
    notebooks = endpoints.notebooks
    if cfg.notebooks.in_cluster:
        hub = _notebooks(apps)
        started.append(hub)
        notebooks = NotebooksInfo(kind="jupyterhub", url=hub.url, users=(*cfg.notebooks.admins, *cfg.notebooks.users))
    mlflow = next((c for c in started if isinstance(c, Mlflow)), None)
    serving, serving_components = _model_endpoints(apps, data_checksum(public), mlflow)
    return dataclasses.replace(
        endpoints, services=services, serving=serving, notebooks=notebooks,
        ready=(*endpoints.ready, *data_services.values(), *nodes, *started, *serving_components),
    )


def _mlflow(apps: _Apps, services: ServiceUrls) -> tuple[Mlflow, ServiceUrls]:
    cfg = apps.cfg
    mlflow = Mlflow(
        "mlflow",
        MlflowArgs(
            **apps.common("mlflow"),
            image=cfg.mlflow.image,
            size=cfg.mlflow.size,
            database=apps.endpoints.database,
            artifacts_destination=apps.public_store.apply(pipeline_config.mlflow_artifacts),
            workers=cfg.mlflow.workers,
            ingress=specs.ingress(cfg.mlflow.ingress),
        ),
        opts=apps.opts,
    )
    return mlflow, dataclasses.replace(services, mlflow=mlflow.url)


def _feast(apps: _Apps, services: ServiceUrls) -> tuple[Feast, ServiceUrls]:
    cfg = apps.cfg
    feast = Feast(
        "feast",
        FeastArgs(
            **apps.common("feast"),
            image=cfg.feast.image,
            size=cfg.feast.size,
            repository=specs.checkout(cfg.feast.repository),
            materialize_schedule=cfg.feast.materialize_schedule,
            git_sync_image=cfg.git_sync_image,
        ),
        opts=apps.opts,
    )
    return feast, dataclasses.replace(services, feast=feast.url)


def _evidently(apps: _Apps, services: ServiceUrls) -> tuple[Evidently, ServiceUrls]:
    cfg = apps.cfg
    evidently = Evidently(
        "evidently",
        EvidentlyArgs(
            **apps.common("evidently"),
            image=cfg.evidently.image,
            size=cfg.evidently.size,
            workspace=apps.public_store.apply(lambda store: pipeline_config.bucket_url(store, store.buckets.monitoring, "evidently")),
            monitoring=specs.monitoring(cfg.evidently.monitoring),
        ),
        opts=apps.opts,
    )
    return evidently, dataclasses.replace(services, evidently=evidently.url, evidently_token=evidently.token)


def _airflow(apps: _Apps, services: ServiceUrls) -> tuple[Airflow, ServiceUrls]:
    cfg = apps.cfg
    airflow = Airflow(
        "airflow",
        AirflowArgs(
            **apps.common("airflow"),
            image=cfg.airflow.image,
            size=cfg.airflow.sizes["scheduler"],
            sizes=cfg.airflow.sizes,
            database=apps.endpoints.database,
            pipelines_namespace=apps.endpoints.kubernetes.pipelines_namespace,
            dags=specs.checkout(cfg.airflow.dags),
            parallelism=cfg.airflow.parallelism,
            api_workers=cfg.airflow.api_workers,
            git_sync_image=cfg.git_sync_image,
            remote_logging=apps.public_store.apply(pipeline_config.airflow_remote_logging),
            ingress=specs.ingress(cfg.airflow.ingress),
        ),
        opts=apps.opts,
    )
    return airflow, dataclasses.replace(services, airflow=airflow.url, airflow_user=airflow.pipelines_user,
                                        airflow_password=airflow.pipelines_password)


def _notebooks(apps: _Apps) -> JupyterHub:
    cfg, notebooks = apps.cfg, apps.cfg.notebooks
    return JupyterHub(
        "jupyterhub",
        JupyterHubArgs(
            **{**apps.common("jupyterhub"), "service_account_annotations": {}},
            image=notebooks.image,
            size=notebooks.hub_size,
            proxy_size=notebooks.proxy_size,
            database=apps.endpoints.database,
            pipelines_namespace=apps.endpoints.kubernetes.pipelines_namespace,
            # User servers are pipelines: the same cloud identity as a task pod.
            user_identity=apps.endpoints.kubernetes.pipeline_identity,
            admins=notebooks.admins, users=notebooks.users, cull_idle_seconds=notebooks.cull_idle_seconds,
            storage=notebooks.storage, storage_class=notebooks.storage_class,
            profiles=specs.server_profiles(notebooks.profiles),
            ingress=specs.ingress(notebooks.ingress),
            protect=cfg.protect,
        ),
        opts=apps.opts,
    )


def _model_endpoints(apps: _Apps, checksum: pulumi.Output[str],
                     mlflow: Mlflow | None) -> tuple[dict[str, ServingEndpointInfo], list[pulumi.Resource]]:
    """The in-cluster model endpoints behind one gateway, and what must be up before they serve."""
    cfg = apps.cfg
    served = [e for e in cfg.serving.endpoints if e.mode is ServiceMode.IN_CLUSTER]
    if not served:
        return {}, []
    namespace = apps.endpoints.kubernetes.platform_namespace
    gateway = ServingGateway(
        "serving-gateway",
        ServingGatewayArgs(
            namespace=namespace, name=cfg.serving.gateway_name, class_name=cfg.serving.gateway_class,
            install=cfg.serving.install_gateway, url=cfg.serving.gateway_url, labels=cfg.labels,
        ),
        opts=apps.opts,
    )
    serving: dict[str, ServingEndpointInfo] = {}
    components: list[pulumi.Resource] = []
    for endpoint in served:
        model_endpoint = ModelEndpoint(
            f"serving-{endpoint.name}",
            ModelEndpointArgs(
                namespace=namespace, endpoint=specs.endpoint(endpoint), gateway_name=cfg.serving.gateway_name, gateway_url=gateway.url,
                gateway=gateway.gateway, labels=cfg.labels, pipeline_config=pipeline_config.NAME, config_checksum=checksum,
                # A variant that loads an MLflow model needs the tracking server up.
                depends_on=(*apps.nodes, *([mlflow] if mlflow else [])),
                service_account_annotations=dict(apps.identities.get("serving", {})), capture_image=cfg.jobs_image,
            ),
            opts=apps.opts,
        )
        components.append(model_endpoint)
        serving[endpoint.name] = ServingEndpointInfo(
            url=model_endpoint.url, weights=model_endpoint.weights, variant_urls=model_endpoint.variant_urls,
            capture=model_endpoint.capture, capture_rate=endpoint.capture_rate,
        )
    return serving, components
