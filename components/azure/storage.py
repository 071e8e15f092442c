"""The storage account (ADLS Gen2: hierarchical namespace) and its containers: lake, artifacts,
feature store and monitoring. Entra ID only (shared keys off), no anonymous access, TLS 1.2, and
reached from the cluster through private endpoints for its blob and dfs APIs.

Blobs under a prefix may expire: a lifecycle rule deletes them some days after their last change.

Production: soft delete of blobs and containers, and `protect`. Azure does not version blobs in an
account with a hierarchical namespace; a flat account (hierarchical_namespace=False) is versioned too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.private_endpoint import private_endpoint

RETENTION_DAYS = 30


@dataclass(frozen=True)
class DataLakeArgs:
    account_name: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    containers: Mapping[str, str]  # role -> container name
    subnet_id: pulumi.Input[str]  # of the private endpoints
    private_zone_ids: Mapping[str, pulumi.Input[str]]  # by group ID: blob, dfs
    hierarchical_namespace: bool
    public_network_access: bool
    zone_redundant: bool
    soft_delete: bool
    protect: bool
    tags: Mapping[str, str]
    # "<container>/<prefix>" (Azure's prefixMatch) -> days its blobs are kept after their last change
    expirations: Mapping[str, int] = field(default_factory=dict)


class DataLake(pulumi.ComponentResource):
    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]
    containers: dict[str, pulumi.Output[str]]  # role -> name
    container_ids: dict[str, pulumi.Output[str]]  # role -> resource ID (the scope of role assignments)

    def __init__(self, name: str, args: DataLakeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:DataLake", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        account = azure.storage.StorageAccount(
            f"{name}-account",
            account_name=args.account_name,
            resource_group_name=args.resource_group,
            location=args.location,
            tags=dict(args.tags),
            kind="StorageV2",
            sku=azure.storage.SkuArgs(name="Standard_ZRS" if args.zone_redundant else "Standard_LRS"),
            access_tier="Hot",
            is_hns_enabled=args.hierarchical_namespace,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            public_network_access="Enabled" if args.public_network_access else "Disabled",
            network_rule_set=azure.storage.NetworkRuleSetArgs(
                default_action="Allow" if args.public_network_access else "Deny", bypass="AzureServices",
            ),
            opts=stateful,
        )
        if args.soft_delete:
            azure.storage.BlobServiceProperties(
                f"{name}-data-protection",
                account_name=account.name,
                resource_group_name=args.resource_group,
                blob_services_name="default",
                delete_retention_policy=azure.storage.DeleteRetentionPolicyArgs(enabled=True, days=RETENTION_DAYS),
                container_delete_retention_policy=azure.storage.DeleteRetentionPolicyArgs(enabled=True, days=RETENTION_DAYS),
                is_versioning_enabled=None if args.hierarchical_namespace else True,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.containers, self.container_ids = {}, {}
        for role, container_name in args.containers.items():
            container = azure.storage.BlobContainer(
                f"{name}-{container_name}",
                container_name=container_name,
                account_name=account.name,
                resource_group_name=args.resource_group,
                public_access="None",
                opts=stateful,
            )
            self.containers[role] = container.name
            self.container_ids[role] = container.id
        if args.expirations:
            self._expirations(name, args, account)
        for group_id in ("blob", "dfs"):
            private_endpoint(self, name, account.id, group_id, args.resource_group, args.location, args.subnet_id, args.private_zone_ids[group_id], args.tags)
        self.account_name = account.name
        self.account_id = account.id
        self.blob_endpoint = account.primary_endpoints.apply(lambda e: e.blob.rstrip("/"))
        self.register_outputs({"accountName": self.account_name, "containers": self.containers})

    def _expirations(self, name: str, args: DataLakeArgs, account: azure.storage.StorageAccount) -> None:
        storage = azure.storage
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            account_name=account.name, resource_group_name=args.resource_group, management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(rules=[
                storage.ManagementPolicyRuleArgs(
                    name="expire-" + path.strip("/").replace("/", "-"), enabled=True, type="Lifecycle",
                    definition=storage.ManagementPolicyDefinitionArgs(
                        filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob", "appendBlob"], prefix_match=[path]),
                        actions=storage.ManagementPolicyActionArgs(
                            base_blob=storage.ManagementPolicyBaseBlobArgs(
                                delete=storage.DateAfterModificationArgs(days_after_modification_greater_than=days)),
                            # A flat account keeps versions: they go with the blob.
                            version=None if args.hierarchical_namespace else storage.ManagementPolicyVersionArgs(
                                delete=storage.DateAfterCreationArgs(days_after_creation_greater_than=days)),
                        ),
                    ),
                )
                for path, days in sorted(args.expirations.items())
            ]),
            opts=pulumi.ResourceOptions(parent=self),
        )
