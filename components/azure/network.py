"""The virtual network: a subnet for the AKS nodes, one delegated to PostgreSQL Flexible Server and one
for private endpoints; network security groups that admit only the cluster to the data services;
and the private DNS zones that resolve the data services to their private addresses in the VNet.
Or subnets of an existing VNet, given by their IDs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

POSTGRES_DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"
# Zones of the private endpoints, by the sub-resource (group ID) they resolve.
PRIVATE_LINK_ZONES = {
    "redisCache": "privatelink.redis.cache.windows.net",  # Azure Cache for Redis
    "redisEnterprise": "privatelink.redis.azure.net",  # Azure Managed Redis
    "blob": "privatelink.blob.core.windows.net",
    "dfs": "privatelink.dfs.core.windows.net",
    "vault": "privatelink.vaultcore.azure.net",  # Key Vault
}
# Ports the cluster reaches private endpoints on: storage and Key Vault (443), the two Redis services (6380, 10000).
ENDPOINT_PORTS = ["443", "6380", "10000"]


@dataclass(frozen=True)
class NetworkArgs:
    resource_group: pulumi.Input[str]
    location: str
    cidr: str
    # A VNet-integrated PostgreSQL server's zone must end in .postgres.database.azure.com.
    postgres_zone: str
    tags: Mapping[str, str]
    # The private endpoints' sub-resources (group IDs) whose DNS zones the VNet resolves.
    private_link_groups: tuple[str, ...] = ("redisCache", "blob", "dfs", "vault")
    existing_vnet_id: Optional[str] = None
    existing_subnet_ids: Optional[Mapping[str, str]] = None  # cluster, postgres, endpoints


def subnet_cidrs(cidr: str) -> dict[str, str]:
    """The address space in four: nodes, PostgreSQL, private endpoints, and one block left free."""
    network = ipaddress.ip_network(cidr)
    blocks = [str(b) for b in network.subnets(new_prefix=network.prefixlen + 2)]
    return {"cluster": blocks[0], "postgres": blocks[1], "endpoints": blocks[2]}


def _admit(name: str, sources: list[str], ports: list[str]) -> list[azure.network.SecurityRuleArgs]:
    """Only `sources` reach `ports`; every other address of the VNet is refused."""
    return [
        azure.network.SecurityRuleArgs(
            name=f"allow-{name}", priority=100, direction="Inbound", access="Allow", protocol="Tcp",
            source_address_prefixes=sources, source_port_range="*", destination_address_prefix="*",
            destination_port_ranges=ports,
        ),
        azure.network.SecurityRuleArgs(
            name="deny-vnet", priority=4000, direction="Inbound", access="Deny", protocol="*",
            source_address_prefix="VirtualNetwork", source_port_range="*", destination_address_prefix="*",
            destination_port_range="*",
        ),
    ]


class Network(pulumi.ComponentResource):
    vnet_id: pulumi.Output[str]
    subnet_ids: dict[str, pulumi.Output[str]]  # cluster, postgres, endpoints
    zone_ids: dict[str, pulumi.Output[str]]  # by group ID (redisCache or redisEnterprise, blob, dfs, vault) and "postgres"

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        located = dict(resource_group_name=args.resource_group, location=args.location, tags=dict(args.tags))
        if args.existing_vnet_id:
            existing = dict(args.existing_subnet_ids or {})
            self.vnet_id = pulumi.Output.from_input(args.existing_vnet_id)
            self.subnet_ids = {role: pulumi.Output.from_input(existing[role]) for role in ("cluster", "postgres", "endpoints")}
        else:
            cidrs = subnet_cidrs(args.cidr)
            postgres_guard = azure.network.NetworkSecurityGroup(
                f"{name}-postgres-nsg", **located,
                # PostgreSQL's standby replicates from inside its own subnet.
                security_rules=_admit("cluster", [cidrs["cluster"], cidrs["postgres"]], ["5432"]), opts=child,
            )
            endpoints_guard = azure.network.NetworkSecurityGroup(
                f"{name}-endpoints-nsg", **located,
                security_rules=_admit("cluster", [cidrs["cluster"]], ENDPOINT_PORTS), opts=child,
            )
            # Subnets inline: Azure serialises subnet writes on one VNet, and a single PUT never races.
            vnet = azure.network.VirtualNetwork(
                f"{name}-vnet", **located,
                address_space=azure.network.AddressSpaceArgs(address_prefixes=[args.cidr]),
                subnets=[
                    azure.network.SubnetArgs(name="cluster", address_prefix=cidrs["cluster"]),
                    azure.network.SubnetArgs(
                        name="postgres", address_prefix=cidrs["postgres"],
                        network_security_group=azure.network.NetworkSecurityGroupArgs(id=postgres_guard.id),
                        delegations=[azure.network.DelegationArgs(name="postgres", service_name=POSTGRES_DELEGATION)],
                    ),
                    azure.network.SubnetArgs(
                        name="endpoints", address_prefix=cidrs["endpoints"],
                        network_security_group=azure.network.NetworkSecurityGroupArgs(id=endpoints_guard.id),
                        # Network policies on: the NSG applies to the private endpoints too.
                        private_endpoint_network_policies="Enabled",
                    ),
                ],
                opts=child,
            )
            self.vnet_id = vnet.id
            self.subnet_ids = {role: pulumi.Output.concat(vnet.id, "/subnets/", role) for role in ("cluster", "postgres", "endpoints")}

        self.zone_ids = {}
        zones = {"postgres": args.postgres_zone, **{group: PRIVATE_LINK_ZONES[group] for group in args.private_link_groups}}
        for role, zone_name in zones.items():
            label = {"redisCache": "redis", "redisEnterprise": "managed-redis"}.get(role, role)
            zone = azure.privatedns.PrivateZone(
                f"{name}-{label}-zone", resource_group_name=args.resource_group, location="global",
                private_zone_name=zone_name, tags=dict(args.tags), opts=child,
            )
            link = azure.privatedns.VirtualNetworkLink(
                f"{name}-{label}-zone-link", resource_group_name=args.resource_group, location="global",
                private_zone_name=zone.name, virtual_network=azure.privatedns.SubResourceArgs(id=self.vnet_id),
                registration_enabled=False, tags=dict(args.tags), opts=child,
            )
            # Users of a zone wait for its link: a name resolves in the VNet only once the zone is linked.
            self.zone_ids[role] = pulumi.Output.all(zone.id, link.id).apply(lambda ids: ids[0])
        self.register_outputs({"vnetId": self.vnet_id, "subnetIds": self.subnet_ids})
