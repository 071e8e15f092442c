"""A private endpoint for one sub-resource of a service, with its address registered in the private
DNS zone that the VNet resolves the service's public name through."""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_azure_native as azure


def private_endpoint(
    parent: pulumi.Resource, name: str, target_id: pulumi.Input[str], group_id: str, resource_group: pulumi.Input[str],
    location: str, subnet_id: pulumi.Input[str], zone_id: pulumi.Input[str], tags: Mapping[str, str],
) -> azure.network.PrivateEndpoint:
    child = pulumi.ResourceOptions(parent=parent)
    role = {"redisCache": "redis", "redisEnterprise": "managed-redis"}.get(group_id, group_id.lower())
    endpoint = azure.network.PrivateEndpoint(
        f"{name}-{role}-endpoint",
        resource_group_name=resource_group,
        location=location,
        tags=dict(tags),
        subnet=azure.network.SubnetArgs(id=subnet_id),
        private_link_service_connections=[azure.network.PrivateLinkServiceConnectionArgs(
            name=role, private_link_service_id=target_id, group_ids=[group_id],
        )],
        opts=child,
    )
    azure.network.PrivateDnsZoneGroup(
        f"{name}-{role}-dns",
        private_dns_zone_group_name="default",
        private_endpoint_name=endpoint.name,
        resource_group_name=resource_group,
        private_dns_zone_configs=[azure.network.PrivateDnsZoneConfigArgs(name=role, private_dns_zone_id=zone_id)],
        opts=child,
    )
    return endpoint
