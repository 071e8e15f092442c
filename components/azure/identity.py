"""Workload identity: one user-assigned managed identity per service, trusted for exactly its
Kubernetes service accounts, with Azure roles scoped to its own storage containers. No keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_azure_native as azure

from components.azure import conditions

# The audience Azure AD expects in a federated service account token.
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
AZUREML_DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
# The service account annotation of Azure Workload Identity's webhook (pods opt in with a label:
# infra.config.BACKEND_LABELS).
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"


def role_definition(subscription_id: pulumi.Input[str], role_id: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_id)


def role_assignment_name(*key: pulumi.Input[str]) -> pulumi.Output[str]:
    """Role assignments are named by a GUID: a stable one keeps `pulumi up` idempotent. The key holds
    the scope's resource ID, so no two subscriptions or stacks derive the same name."""
    return pulumi.Output.all(*key).apply(lambda parts: str(uuid.uuid5(uuid.NAMESPACE_URL, "mlops-stack/" + "/".join(parts))))


@dataclass(frozen=True)
class Grant:
    """An Azure role on one scope (a container, a workspace)."""

    scope: pulumi.Input[str]
    role_id: str
    label: str  # stable and unique within the identity: names the assignment
    condition: Optional[str] = None  # an ABAC condition (components.azure.conditions) narrowing the role


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    identity_name: str
    resource_group: pulumi.Input[str]
    location: str
    subscription_id: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    # (namespace, service account) pairs whose tokens this identity accepts
    service_accounts: tuple[tuple[str, str], ...]
    grants: Sequence[Grant]
    tags: Mapping[str, str]


class WorkloadIdentity(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:WorkloadIdentity", name, None, opts)
        identity = azure.managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_name_=args.identity_name, resource_group_name=args.resource_group,
            location=args.location, tags=dict(args.tags), opts=pulumi.ResourceOptions(parent=self),
        )
        previous: list[pulumi.Resource] = []
        for namespace, account in args.service_accounts:
            # Azure refuses concurrent writes of federated credentials on one identity: one at a time.
            credential = azure.managedidentity.FederatedIdentityCredential(
                f"{name}-{namespace}-{account}",
                federated_identity_credential_resource_name=f"{namespace}-{account}",
                resource_name_=identity.name, resource_group_name=args.resource_group,
                issuer=args.oidc_issuer, subject=f"system:serviceaccount:{namespace}:{account}", audiences=[TOKEN_AUDIENCE],
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            previous = [credential]
        for grant in args.grants:
            azure.authorization.RoleAssignment(
                f"{name}-{grant.label}",
                role_assignment_name=role_assignment_name(args.identity_name, grant.scope, grant.role_id),
                principal_id=identity.principal_id, principal_type="ServicePrincipal",
                role_definition_id=role_definition(args.subscription_id, grant.role_id),
                condition=grant.condition, condition_version=conditions.VERSION if grant.condition else None,
                scope=grant.scope, opts=pulumi.ResourceOptions(parent=self),
            )
        self.client_id = identity.client_id
        self.principal_id = identity.principal_id
        self.identity_id = identity.id  # what a VM or compute instance is assigned
        self.register_outputs({"clientId": self.client_id, "principalId": self.principal_id, "identityId": self.identity_id})
