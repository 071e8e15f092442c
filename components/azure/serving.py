"""A model endpoint on Azure ML: a managed online endpoint, one online deployment per variant (its
image as an environment whose inference routes are the model server's: GET /ping, POST /invocations
on :8080), and the endpoint's traffic map set from the weights.

The traffic map names deployments, so it can be written only once they exist. The endpoint is created
without it (Pulumi ignores the field from then on), and an ARM deployment that depends on every online
deployment writes the endpoint again with its traffic. It carries the endpoint's whole body, so any
change to the endpoint is followed by a write of the traffic. A removed variant has its traffic moved
before its deployment is deleted, because Pulumi deletes what left the program last.

Callers sign in with Entra ID (auth mode AADToken): no endpoint keys exist anywhere.

Where the endpoint captures, each deployment's data collector writes a share of the requests and the
responses (its collections `request` and `response`) to the lake, hourly, under
`inference/<endpoint>/<variant>/<collection>/YYYY/MM/DD/HH/`: one folder further down than the other
backends, since Azure ML rolls each collection into a data asset of its own. The endpoint's identity
writes there with a role narrowed to inference/ by a condition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure import conditions
from components.azure.identity import BLOB_DATA_CONTRIBUTOR, role_assignment_name, role_definition
from components.specs import EndpointSpec, VariantSpec
from mlops_jobs import pipeline_names

ENDPOINT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
ENDPOINT_API_VERSION = "2025-12-01"  # the provider's own API version for online endpoints
ACR_PULL = "7f951dff-4ed7-4a0b-8f41-3d1a56dd1cd1"
SERVER_PORT = 8080  # the model server contract of every backend (components.kubernetes.serving)
# Scale out above this average CPU of a variant's instances, in below a third of it.
CPU_SCALE_OUT_PERCENT = 70
# Azure ML's payload collections, reserved names: what callers sent and what the model answered.
COLLECTIONS = pipeline_names.AZURE_ML_COLLECTIONS
REQUEST_ID_HEADER = "x-request-id"  # kept with each payload, as the in-cluster sidecar keeps it


@dataclass(frozen=True)
class OnlineEndpointArgs:
    endpoint_name: pulumi.Input[str]  # global within the region: it is the scoring URI's host name
    endpoint: EndpointSpec
    workspace_name: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    subscription_id: pulumi.Input[str]
    registry_id: Optional[str]  # an ACR the deployments pull images from
    tags: Mapping[str, str]
    # The lake's storage account and container, where the captures go (when the endpoint captures).
    lake_account: pulumi.Input[str] = ""
    lake_container: pulumi.Input[str] = ""
    lake_container_id: pulumi.Input[str] = ""


def deployment_name(endpoint: str, variant: str) -> str:
    """A deployment's name: Azure ML wants 3-32 characters starting with a letter, which a bare variant name may not have."""
    return f"{endpoint}-{variant}"


def environment_version(image: str) -> str:
    """Environment versions are immutable: a new image is a new version, named after the image."""
    return hashlib.sha256(image.encode()).hexdigest()[:12]


def _probe(initial_delay: str) -> azure.machinelearningservices.ProbeSettingsArgs:
    return azure.machinelearningservices.ProbeSettingsArgs(
        initial_delay=initial_delay, period="PT10S", timeout="PT2S", failure_threshold=30, success_threshold=1,
    )


def _in_workspace(args: OnlineEndpointArgs) -> dict[str, pulumi.Input[str]]:
    return dict(resource_group_name=args.resource_group, workspace_name=args.workspace_name)


def _environment_properties(endpoint: EndpointSpec, variant: VariantSpec) -> azure.machinelearningservices.EnvironmentVersionPropertiesArgs:
    """The variant's image, with the model server's routes as the inference routes."""
    ml = azure.machinelearningservices
    return ml.EnvironmentVersionPropertiesArgs(
        image=variant.image, os_type="Linux", description=f"{endpoint.name} variant {variant.name}",
        inference_config=ml.InferenceContainerPropertiesArgs(
            liveness_route=ml.RouteArgs(path="/ping", port=SERVER_PORT),
            readiness_route=ml.RouteArgs(path="/ping", port=SERVER_PORT),
            scoring_route=ml.RouteArgs(path="/invocations", port=SERVER_PORT),
        ),
    )


def datastore_name(endpoint: str) -> str:
    """Datastore names take lowercase letters, digits and underscores."""
    return "lake_" + endpoint.replace("-", "_")


def capture_path(endpoint: str, variant: str, collection: str) -> str:
    return pipeline_names.variant_folder(pipeline_names.capture_prefix(endpoint), variant, collection)


def _data_collector(endpoint: EndpointSpec, data_ids: Mapping[str, pulumi.Input[str]],
                    ) -> Optional[azure.machinelearningservices.DataCollectorArgs]:
    ml = azure.machinelearningservices
    if not data_ids:
        return None
    return ml.DataCollectorArgs(
        collections={
            collection: ml.CollectionArgs(data_collection_mode="Enabled", data_id=data_id, sampling_rate=endpoint.capture_rate)
            for collection, data_id in data_ids.items()
        },
        rolling_rate="Hour",
        request_logging=ml.RequestLoggingArgs(capture_headers=[REQUEST_ID_HEADER]),
    )


def _deployment_properties(endpoint: EndpointSpec, variant: VariantSpec, environment_id: pulumi.Input[str],
                           data_ids: Optional[Mapping[str, pulumi.Input[str]]] = None,
                           ) -> azure.machinelearningservices.ManagedOnlineDeploymentArgs:
    ml = azure.machinelearningservices
    return ml.ManagedOnlineDeploymentArgs(
        endpoint_compute_type="Managed",
        instance_type=variant.instance_type,
        environment_id=environment_id,
        environment_variables={"MLOPS_ENDPOINT": endpoint.name, "MLOPS_VARIANT": variant.name,
                               "MLOPS_SERVING_PORT": str(SERVER_PORT)},
        description=f"{endpoint.name} variant {variant.name}: {variant.image}",
        liveness_probe=_probe("PT30S"),
        readiness_probe=_probe("PT10S"),
        scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
        app_insights_enabled=True,
        data_collector=_data_collector(endpoint, data_ids),
    )


class OnlineEndpoint(pulumi.ComponentResource):
    url: pulumi.Output[str]
    name: pulumi.Output[str]
    endpoint_id: pulumi.Output[str]
    weights: dict[str, int]
    variant_urls: dict[str, pulumi.Output[str]]
    capture: str  # the lake prefix of its captures; "" when it captures nothing

    def __init__(self, name: str, args: OnlineEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:OnlineEndpoint", name, None, opts)
        endpoint = args.endpoint
        online_endpoint = azure.machinelearningservices.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=args.endpoint_name, **_in_workspace(args), location=args.location, tags=dict(args.tags),
            identity=azure.machinelearningservices.ManagedServiceIdentityArgs(type="SystemAssigned"),
            properties=azure.machinelearningservices.OnlineEndpointPropertiesArgs(auth_mode="AADToken", public_network_access="Enabled"),
            # The traffic is written by the ARM deployment below, once the deployments exist.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["properties.traffic"]),
        )
        # What the deployments wait for: the image pull and the captures' writer role.
        prerequisites = self._registry_pull(name, args, online_endpoint)
        captured = endpoint.capture_rate > 0
        if captured:
            datastore, writer = self._capture_store(name, args, online_endpoint)
            prerequisites.append(writer)
        deployments = [
            self._deployment(name, args, variant, online_endpoint, prerequisites,
                             self._capture_assets(name, args, variant.name, datastore) if captured else {})
            for variant in endpoint.variants
        ]
        self._traffic(name, args, online_endpoint, deployments)
        self.name = online_endpoint.name
        self.endpoint_id = online_endpoint.id
        self.url = online_endpoint.properties.apply(lambda p: p.scoring_uri or "")
        self.weights = {variant.name: variant.weight for variant in endpoint.variants}
        # One URL for all: a deployment is addressed with the azureml-model-deployment header.
        self.variant_urls = {variant.name: self.url for variant in endpoint.variants}
        self.capture = pipeline_names.capture_prefix(endpoint.name) if captured else ""
        self.register_outputs({"name": self.name, "url": self.url, "weights": self.weights, "capture": self.capture})

    def _capture_store(self, name: str, args: OnlineEndpointArgs, online_endpoint: azure.machinelearningservices.OnlineEndpoint,
                       ) -> tuple[azure.machinelearningservices.Datastore, pulumi.Resource]:
        """The lake's container as a datastore (no stored credentials), and the endpoint's identity as
        a writer under inference/ only: the collector writes with it."""
        ml = azure.machinelearningservices
        datastore = ml.Datastore(
            f"{name}-capture-store",
            name=datastore_name(args.endpoint.name), **_in_workspace(args),
            properties=ml.AzureBlobDatastoreArgs(
                datastore_type="AzureBlob", account_name=args.lake_account, container_name=args.lake_container,
                credentials=ml.NoneDatastoreCredentialsArgs(credentials_type="None"),
                description=f"captured requests of {args.endpoint.name}",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        principal_id = online_endpoint.identity.apply(lambda identity: identity.principal_id if identity else "")
        writer = azure.authorization.RoleAssignment(
            f"{name}-capture-writer",
            role_assignment_name=role_assignment_name(args.endpoint_name, args.lake_container_id, BLOB_DATA_CONTRIBUTOR),
            principal_id=principal_id, principal_type="ServicePrincipal",
            role_definition_id=role_definition(args.subscription_id, BLOB_DATA_CONTRIBUTOR), scope=args.lake_container_id,
            condition=conditions.only_under(pipeline_names.CAPTURE_PREFIX), condition_version=conditions.VERSION,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return datastore, writer

    def _capture_assets(self, name: str, args: OnlineEndpointArgs, variant: str,
                        datastore: azure.machinelearningservices.Datastore) -> dict[str, pulumi.Output[str]]:
        """A uri_folder data asset per collection, the collector's destination; their IDs by collection."""
        ml = azure.machinelearningservices
        data_ids = {}
        for collection in COLLECTIONS:
            asset = deployment_name(args.endpoint.name, variant) + f"-{collection}"
            container = ml.DataContainer(
                f"{name}-{variant}-{collection}-data",
                name=asset, **_in_workspace(args),
                properties=ml.DataContainerPropertiesArgs(data_type="uri_folder", description=f"captured {collection}s of {variant}"),
                # Data assets are records Azure ML keeps (it archives them): kept when a variant retires.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            version = ml.DataVersion(
                f"{name}-{variant}-{collection}-data-version",
                name=container.name, version="1", **_in_workspace(args),
                properties=ml.UriFolderDataVersionArgs(
                    data_type="uri_folder",
                    data_uri=pulumi.Output.concat("azureml://datastores/", datastore.name, "/paths/",
                                                  capture_path(args.endpoint.name, variant, collection)),
                ),
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            data_ids[collection] = version.id
        return data_ids

    def _registry_pull(self, name: str, args: OnlineEndpointArgs,
                       online_endpoint: azure.machinelearningservices.OnlineEndpoint) -> list[pulumi.Resource]:
        """The endpoint's identity may pull from the registry: what the deployments wait for."""
        if not args.registry_id:
            return []
        principal_id = online_endpoint.identity.apply(lambda identity: identity.principal_id if identity else "")
        return [azure.authorization.RoleAssignment(
            f"{name}-acr-pull",
            role_assignment_name=role_assignment_name(args.endpoint_name, args.registry_id, ACR_PULL),
            principal_id=principal_id, principal_type="ServicePrincipal",
            role_definition_id=role_definition(args.subscription_id, ACR_PULL), scope=args.registry_id,
            opts=pulumi.ResourceOptions(parent=self),
        )]

    def _deployment(self, name: str, args: OnlineEndpointArgs, variant: VariantSpec,
                    online_endpoint: azure.machinelearningservices.OnlineEndpoint, prerequisites: list[pulumi.Resource],
                    data_ids: Mapping[str, pulumi.Input[str]]) -> azure.machinelearningservices.OnlineDeployment:
        """A variant's environment, its online deployment, and the deployment's autoscale setting."""
        ml = azure.machinelearningservices
        endpoint = args.endpoint
        deployment = deployment_name(endpoint.name, variant.name)
        environment = ml.EnvironmentVersion(
            f"{name}-{variant.name}-environment",
            name=deployment, version=environment_version(variant.image), **_in_workspace(args),
            properties=_environment_properties(endpoint, variant),
            # A version is an immutable record that a rollback may point at again: kept when superseded.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        autoscaled = variant.max_replicas > variant.size.replicas
        online_deployment = ml.OnlineDeployment(
            f"{name}-{variant.name}",
            deployment_name=deployment, endpoint_name=online_endpoint.name, **_in_workspace(args),
            location=args.location, tags=dict(args.tags),
            sku=ml.SkuArgs(name="Default", capacity=variant.size.replicas),
            properties=_deployment_properties(endpoint, variant, environment.id, data_ids),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=prerequisites,
                # The autoscale setting owns the instance count once it exists.
                ignore_changes=["sku.capacity"] if autoscaled else None,
                # Deleting the endpoint deletes its deployments, traffic or not; a lone deployment is
                # deleted only after the traffic has left it.
                deleted_with=online_endpoint,
            ),
        )
        if autoscaled:
            self._autoscale(name, variant.name, online_deployment, variant.size.replicas, variant.max_replicas, args)
        return online_deployment

    def _traffic(self, name: str, args: OnlineEndpointArgs, online_endpoint: azure.machinelearningservices.OnlineEndpoint,
                 deployments: list[azure.machinelearningservices.OnlineDeployment]) -> None:
        """The ARM deployment that writes the endpoint's traffic map once every deployment exists."""
        traffic = {deployment_name(args.endpoint.name, v.name): v.weight for v in args.endpoint.variants}
        azure.resources.Deployment(
            f"{name}-traffic",
            resource_group_name=args.resource_group,
            properties=azure.resources.DeploymentPropertiesArgs(
                mode="Incremental",
                template=_endpoint_template(args.tags, args.location, traffic),
                parameters={
                    "workspace": azure.resources.DeploymentParameterArgs(value=args.workspace_name),
                    "endpoint": azure.resources.DeploymentParameterArgs(value=online_endpoint.name),
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=deployments),
        )

    def _autoscale(self, name: str, variant: str, deployment: pulumi.Resource, minimum: int, maximum: int,
                   args: OnlineEndpointArgs) -> None:
        """Between the variant's replicas and max_replicas on the instances' CPU, as the in-cluster HPA does."""
        monitor = azure.monitor

        def rule(direction: str, operator: str, threshold: float, cooldown: str) -> azure.monitor.ScaleRuleArgs:
            return monitor.ScaleRuleArgs(
                metric_trigger=monitor.MetricTriggerArgs(
                    metric_name="CpuUtilizationPercentage", metric_resource_uri=deployment.id, operator=operator,
                    statistic="Average", threshold=threshold, time_aggregation="Average", time_grain="PT1M", time_window="PT5M",
                ),
                scale_action=monitor.ScaleActionArgs(direction=direction, type="ChangeCount", value="1", cooldown=cooldown),
            )

        monitor.AutoscaleSetting(
            f"{name}-{variant}-autoscale",
            resource_group_name=args.resource_group, location=args.location, tags=dict(args.tags),
            target_resource_uri=deployment.id, enabled=True,
            profiles=[monitor.AutoscaleProfileArgs(
                name="cpu",
                capacity=monitor.ScaleCapacityArgs(minimum=str(minimum), maximum=str(maximum), default=str(minimum)),
                rules=[
                    rule("Increase", "GreaterThan", CPU_SCALE_OUT_PERCENT, "PT5M"),
                    rule("Decrease", "LessThan", CPU_SCALE_OUT_PERCENT / 3, "PT10M"),
                ],
            )],
            opts=pulumi.ResourceOptions(parent=self),
        )


def _endpoint_template(tags: Mapping[str, str], location: str, traffic: Mapping[str, int]) -> dict:
    """An ARM template that writes the endpoint with its traffic: the same body as the OnlineEndpoint resource."""
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"workspace": {"type": "string"}, "endpoint": {"type": "string"}},
        "resources": [{
            "type": ENDPOINT_TYPE,
            "apiVersion": ENDPOINT_API_VERSION,
            "name": "[format('{0}/{1}', parameters('workspace'), parameters('endpoint'))]",
            "location": location,
            "tags": dict(tags),
            "identity": {"type": "SystemAssigned"},
            "properties": {"authMode": "AADToken", "publicNetworkAccess": "Enabled", "traffic": dict(traffic)},
        }],
    }
