"""An Azure Machine Learning workspace for managed MLflow tracking and model registry, and for managed
model endpoints, with the resources it requires, all its own: a storage account (Azure ML refuses one
with a hierarchical namespace), a Key Vault (so the workspace never reads the platform's secrets; public
like the workspace, which reaches it from Azure's network), and
Application Insights on a Log Analytics workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.identity import role_assignment_name, role_definition
from components.azure.keyvault import SecretVault, SecretVaultArgs

# Clients reach an `azureml://` tracking URI through this MLflow plugin.
MLFLOW_PLUGIN = "azureml-mlflow"
KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"


@dataclass(frozen=True)
class MachineLearningWorkspaceArgs:
    workspace_name: str
    storage_account_name: pulumi.Input[str]
    vault_name: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    zone_redundant: bool
    protect: bool
    tags: Mapping[str, str]


class MachineLearningWorkspace(pulumi.ComponentResource):
    workspace_id: pulumi.Output[str]
    workspace_name: pulumi.Output[str]
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
        vault = SecretVault(
            f"{name}-key-vault",
            SecretVaultArgs(
                vault_name=args.vault_name, resource_group=args.resource_group, location=args.location,
                tenant_id=args.tenant_id, secrets={}, purge_protection=args.protect, protect=args.protect, tags=args.tags,
            ),
            opts=child,
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
            key_vault=vault.vault_id,
            application_insights=insights.id,
            public_network_access="Enabled",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        # The workspace keeps its connections' secrets in its vault (RBAC mode: a role, not an access policy).
        azure.authorization.RoleAssignment(
            f"{name}-vault-access",
            role_assignment_name=role_assignment_name(args.workspace_name, vault.vault_id, KEY_VAULT_ADMINISTRATOR),
            principal_id=workspace.identity.apply(lambda i: i.principal_id if i else ""), principal_type="ServicePrincipal",
            role_definition_id=role_definition(args.subscription_id, KEY_VAULT_ADMINISTRATOR),
            scope=vault.vault_id, opts=child,
        )
        self.workspace_id = workspace.id
        self.workspace_name = workspace.name
        self.tracking_uri = workspace.ml_flow_tracking_uri
        self.register_outputs({"workspaceId": self.workspace_id, "workspaceName": self.workspace_name, "trackingUri": self.tracking_uri})
