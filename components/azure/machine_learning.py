"""An Azure Machine Learning workspace for managed MLflow tracking and model registry, with the
resources it requires: its own storage account (Azure ML refuses one with a hierarchical namespace),
Application Insights on a Log Analytics workspace, and the platform's Key Vault."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

# Clients reach an `azureml://` tracking URI through this MLflow plugin.
MLFLOW_PLUGIN = "azureml-mlflow"


@dataclass(frozen=True)
class MachineLearningWorkspaceArgs:
    workspace_name: str
    storage_account_name: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    key_vault_id: pulumi.Input[str]
    zone_redundant: bool
    protect: bool
    tags: Mapping[str, str]


class MachineLearningWorkspace(pulumi.ComponentResource):
    workspace_id: pulumi.Output[str]
    tracking_uri: pulumi.Output[str]

    def __init__(self, name: str, args: MachineLearningWorkspaceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:MachineLearningWorkspace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        located = dict(resource_group_name=args.resource_group, location=args.location, tags=dict(args.tags))
        storage = azure.storage.StorageAccount(
            f"{name}-storage", account_name=args.storage_account_name, **located,
            kind="StorageV2", sku=azure.storage.SkuArgs(name="Standard_ZRS" if args.zone_redundant else "Standard_LRS"),
            allow_blob_public_access=False, minimum_tls_version="TLS1_2", enable_https_traffic_only=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        logs = azure.operationalinsights.Workspace(
            f"{name}-logs", **located, sku=azure.operationalinsights.WorkspaceSkuArgs(name="PerGB2018"), retention_in_days=30, opts=child,
        )
        insights = azure.applicationinsights.Component(
            f"{name}-insights", **located, kind="web", application_type="web", workspace_resource_id=logs.id, opts=child,
        )
        workspace = azure.machinelearningservices.Workspace(
            f"{name}-workspace",
            workspace_name=args.workspace_name,
            **located,
            identity=azure.machinelearningservices.ManagedServiceIdentityArgs(type="SystemAssigned"),
            sku=azure.machinelearningservices.SkuArgs(name="Basic", tier="Basic"),
            storage_account=storage.id,
            key_vault=args.key_vault_id,
            application_insights=insights.id,
            public_network_access="Enabled",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.workspace_id = workspace.id
        self.tracking_uri = workspace.ml_flow_tracking_uri
        self.register_outputs({"workspaceId": self.workspace_id, "trackingUri": self.tracking_uri})
