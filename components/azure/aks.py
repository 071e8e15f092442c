"""An AKS cluster with workload identity (OIDC issuer), Entra ID authentication with Azure RBAC, a
system node pool and an autoscaled user node pool for the workloads; or an existing cluster, by name.

The control plane runs as a user-assigned identity that holds Network Contributor on the VNet before
the cluster exists: AKS needs it to manage load balancers in a subnet it does not own.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure
import yaml

from components.azure.identity import role_assignment_name, role_definition

# The Entra ID application of AKS's API server: the audience of every token kubelogin requests.
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
# Pod and service ranges of the overlay network; outside the VNet's address space.
POD_CIDR = "192.168.0.0/16"
SERVICE_CIDR = "172.16.0.0/16"
DNS_SERVICE_IP = "172.16.0.10"
SYSTEM_POOL = "system"
USER_POOL = "workloads"


@dataclass(frozen=True)
class AksClusterArgs:
    cluster_name: str
    resource_group: pulumi.Input[str]
    location: str
    subscription_id: pulumi.Input[str]
    tags: Mapping[str, str]
    vnet_id: pulumi.Input[str] = ""
    subnet_id: pulumi.Input[str] = ""
    deployer_object_id: pulumi.Input[str] = ""  # gets cluster admin through Azure RBAC
    version: str = "1.33"
    public_endpoint: bool = True
    authorized_ip_ranges: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    system_vm_size: str = "Standard_D2s_v5"
    system_nodes: int = 1
    vm_size: str = "Standard_D4s_v5"
    min_nodes: int = 1
    max_nodes: int = 3
    paid_tier: bool = False  # the Standard tier's uptime SLA
    # Use this existing cluster instead of creating one.
    existing: bool = False


def kubeconfig(name: str, credentials: pulumi.Input[str]) -> pulumi.Output[str]:
    """A kubeconfig that gets an Entra ID token from kubelogin with the Azure CLI's login, built from
    the server and CA of the cluster's own (base64) kubeconfig."""
    def build(encoded: str) -> str:
        cluster = yaml.safe_load(base64.b64decode(encoded))["clusters"][0]["cluster"]
        return json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": cluster["server"], "certificate-authority-data": cluster["certificate-authority-data"]}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "kubelogin",
                "args": ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_APP_ID],
                "interactiveMode": "Never",
            }}}],
        })
    return pulumi.Output.from_input(credentials).apply(build)


def _system_pool(args: AksClusterArgs) -> azure.containerservice.ManagedClusterAgentPoolProfileArgs:
    return azure.containerservice.ManagedClusterAgentPoolProfileArgs(
        name=SYSTEM_POOL, mode="System", vm_size=args.system_vm_size, count=args.system_nodes,
        os_type="Linux", os_sku="AzureLinux", type="VirtualMachineScaleSets",
        vnet_subnet_id=args.subnet_id, availability_zones=list(args.zones) or None,
        # Only cluster add-ons run here; the platform runs on the user pool.
        node_taints=["CriticalAddonsOnly=true:NoSchedule"],
    )


def _network_profile() -> azure.containerservice.ContainerServiceNetworkProfileArgs:
    # Cilium enforces the platform's NetworkPolicies.
    return azure.containerservice.ContainerServiceNetworkProfileArgs(
        network_plugin="azure", network_plugin_mode="overlay", network_dataplane="cilium", network_policy="cilium",
        pod_cidr=POD_CIDR, service_cidr=SERVICE_CIDR, dns_service_ip=DNS_SERVICE_IP, outbound_type="loadBalancer",
    )


class AksCluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]  # https://..., the issuer of service account tokens
    kubeconfig: pulumi.Output[str]
    # What a workload must wait for: nodes to run on (none for an existing cluster).
    nodes: tuple[pulumi.Resource, ...]

    def __init__(self, name: str, args: AksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:AksCluster", name, None, opts)
        access: list[pulumi.Resource] = []
        if args.existing:
            found = azure.containerservice.get_managed_cluster_output(
                resource_group_name=args.resource_group, resource_name=args.cluster_name, opts=pulumi.InvokeOptions(parent=self),
            )
            self.name = found.name
            self.oidc_issuer = found.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else "")
            self.nodes = ()
        else:
            cluster = self._cluster(name, args)
            self.name = cluster.name
            self.oidc_issuer = cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else "")
            self.nodes = (self._user_pool(name, args, cluster),)
            if args.deployer_object_id:
                access.append(self._deployer_admin(name, args, cluster))
        self.kubeconfig = self._granted_kubeconfig(args, access)
        self.register_outputs({"name": self.name, "oidcIssuer": self.oidc_issuer})

    def _cluster(self, name: str, args: AksClusterArgs) -> azure.containerservice.ManagedCluster:
        """The cluster with its system pool, and the control plane's identity with its access to the VNet."""
        child = pulumi.ResourceOptions(parent=self)
        control_plane = azure.managedidentity.UserAssignedIdentity(
            f"{name}-control-plane-identity", resource_group_name=args.resource_group, location=args.location, tags=dict(args.tags), opts=child,
        )
        network_access = azure.authorization.RoleAssignment(
            f"{name}-network-access",
            role_assignment_name=role_assignment_name(args.cluster_name, "control-plane", args.vnet_id, NETWORK_CONTRIBUTOR),
            principal_id=control_plane.principal_id, principal_type="ServicePrincipal",
            role_definition_id=role_definition(args.subscription_id, NETWORK_CONTRIBUTOR),
            scope=args.vnet_id, opts=child,
        )
        return azure.containerservice.ManagedCluster(
            f"{name}-cluster",
            resource_name_=args.cluster_name,
            resource_group_name=args.resource_group,
            location=args.location,
            tags=dict(args.tags),
            dns_prefix=args.cluster_name,
            kubernetes_version=args.version,
            sku=azure.containerservice.ManagedClusterSKUArgs(name="Base", tier="Standard" if args.paid_tier else "Free"),
            identity=azure.containerservice.ManagedClusterIdentityArgs(
                type="UserAssigned", user_assigned_identities=[control_plane.id],
            ),
            # Entra ID sign-in only, and Kubernetes permissions from Azure role assignments.
            aad_profile=azure.containerservice.ManagedClusterAADProfileArgs(managed=True, enable_azure_rbac=True),
            disable_local_accounts=True,
            enable_rbac=True,
            oidc_issuer_profile=azure.containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=azure.containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=azure.containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
            ),
            api_server_access_profile=azure.containerservice.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=not args.public_endpoint,
                authorized_ip_ranges=list(args.authorized_ip_ranges) or None,
            ),
            network_profile=_network_profile(),
            auto_upgrade_profile=azure.containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel="patch", node_os_upgrade_channel="NodeImage",
            ),
            agent_pool_profiles=[_system_pool(args)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[network_access]),
        )

    def _user_pool(self, name: str, args: AksClusterArgs, cluster: azure.containerservice.ManagedCluster) -> azure.containerservice.AgentPool:
        """The autoscaled pool the workloads run on."""
        return azure.containerservice.AgentPool(
            f"{name}-nodes",
            agent_pool_name=USER_POOL,
            resource_group_name=args.resource_group,
            resource_name_=cluster.name,
            mode="User", vm_size=args.vm_size, os_type="Linux", os_sku="AzureLinux", type="VirtualMachineScaleSets",
            enable_auto_scaling=True, min_count=args.min_nodes, max_count=args.max_nodes, count=args.min_nodes,
            vnet_subnet_id=args.subnet_id, availability_zones=list(args.zones) or None, orchestrator_version=args.version,
            tags=dict(args.tags),
            # The autoscaler owns the node count.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),
        )

    def _deployer_admin(self, name: str, args: AksClusterArgs, cluster: azure.containerservice.ManagedCluster) -> pulumi.Resource:
        # Whoever runs `pulumi up` administers the cluster (Azure RBAC), so the Kubernetes provider can.
        return azure.authorization.RoleAssignment(
            f"{name}-deployer-admin",
            role_assignment_name=role_assignment_name(args.cluster_name, "deployer", cluster.id, RBAC_CLUSTER_ADMIN),
            principal_id=args.deployer_object_id,
            role_definition_id=role_definition(args.subscription_id, RBAC_CLUSTER_ADMIN),
            scope=cluster.id, opts=pulumi.ResourceOptions(parent=self),
        )

    def _granted_kubeconfig(self, args: AksClusterArgs, access: list[pulumi.Resource]) -> pulumi.Output[str]:
        credentials = azure.containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group, resource_name=self.name, opts=pulumi.InvokeOptions(parent=self),
        )
        # The provider may call the API only once the deployer's role is assigned.
        granted = pulumi.Output.all(credentials.kubeconfigs[0].value, *(r.id for r in access)).apply(lambda v: v[0])
        return pulumi.Output.secret(kubeconfig(args.cluster_name, granted))
