"""Key Vault in RBAC mode, holding the platform's generated secrets (database passwords, the Redis key),
so operators find them in one audited place, reached from the VNet through a private endpoint.
Production: no public network access, purge protection, 90 days of soft delete.

`pulumi up` writes the secrets through Azure Resource Manager (Microsoft.KeyVault/vaults/secrets), which
the vault's firewall does not apply to: a vault closed to the Internet is still deployable from anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.private_endpoint import private_endpoint


@dataclass(frozen=True)
class SecretVaultArgs:
    vault_name: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    tenant_id: pulumi.Input[str]
    secrets: Mapping[str, pulumi.Input[str]]  # Key Vault secret name -> secret value
    purge_protection: bool
    protect: bool
    tags: Mapping[str, str]
    public_network_access: bool = True
    # A private endpoint in this subnet, registered in the privatelink.vaultcore.azure.net zone; none if unset.
    subnet_id: Optional[pulumi.Input[str]] = None
    private_zone_id: Optional[pulumi.Input[str]] = None


class SecretVault(pulumi.ComponentResource):
    vault_id: pulumi.Output[str]
    vault_uri: pulumi.Output[str]

    def __init__(self, name: str, args: SecretVaultArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:SecretVault", name, None, opts)
        vault = azure.keyvault.Vault(
            f"{name}-vault",
            vault_name=args.vault_name,
            resource_group_name=args.resource_group,
            location=args.location,
            tags=dict(args.tags),
            properties=azure.keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=azure.keyvault.SkuArgs(family="A", name="standard"),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90 if args.purge_protection else 7,
                # Once on, purge protection cannot be turned off: set only where it is meant to stay.
                enable_purge_protection=True if args.purge_protection else None,
                public_network_access="Enabled" if args.public_network_access else "Disabled",
                network_acls=azure.keyvault.NetworkRuleSetArgs(
                    default_action="Allow" if args.public_network_access else "Deny", bypass="AzureServices",
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        for secret_name, value in sorted(args.secrets.items()):
            azure.keyvault.Secret(
                f"{name}-{secret_name}",
                secret_name=secret_name,
                vault_name=vault.name,
                resource_group_name=args.resource_group,
                properties=azure.keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(value)),
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
        if args.subnet_id is not None and args.private_zone_id is not None:
            private_endpoint(self, name, vault.id, "vault", args.resource_group, args.location, args.subnet_id, args.private_zone_id, args.tags)
        self.vault_id = vault.id
        self.vault_name = vault.name
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri or "")
        self.register_outputs({"vaultId": self.vault_id, "vaultName": self.vault_name, "vaultUri": self.vault_uri})
