"""The VPC: public subnets (NAT, load balancers) and private subnets (nodes, databases, caches) per AZ."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class NetworkArgs:
    region: str
    cidr: str
    availability_zones: int
    # Production: a NAT gateway per AZ, so losing an AZ keeps the others' egress.
    nat_per_zone: bool
    # An existing VPC: nothing is created, its private subnets are used.
    existing_vpc_id: Optional[str] = None
    existing_private_subnet_ids: tuple[str, ...] = ()


def subnet_cidrs(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private and public subnets: the VPC split in 16; private take the first blocks, public the last."""
    network = ipaddress.ip_network(cidr)
    blocks = [str(b) for b in network.subnets(new_prefix=network.prefixlen + 4)]
    return blocks[:zones], blocks[8 : 8 + zones]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.existing_vpc_id:
            self.vpc_id = pulumi.Output.from_input(args.existing_vpc_id)
            self.private_subnet_ids = pulumi.Output.from_input(list(args.existing_private_subnet_ids))
        else:
            zones = aws.get_availability_zones_output(state="available", region=args.region, opts=pulumi.InvokeOptions(parent=self))
            vpc = aws.ec2.Vpc(
                f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                tags={"Name": name}, opts=child,
            )
            gateway = aws.ec2.InternetGateway(f"{name}-internet-gateway", vpc_id=vpc.id, opts=child)
            public_routes = aws.ec2.RouteTable(
                f"{name}-public-routes", vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)], opts=child,
            )
            private_cidrs, public_cidrs = subnet_cidrs(args.cidr, args.availability_zones)
            private_ids = []
            nat_gateways: list[aws.ec2.NatGateway] = []
            for index in range(args.availability_zones):
                zone = zones.names.apply(lambda names, i=index: _zone(names, i, args.region))
                public = aws.ec2.Subnet(
                    f"{name}-public-{index}", vpc_id=vpc.id, cidr_block=public_cidrs[index], availability_zone=zone,
                    map_public_ip_on_launch=False,
                    # Internet-facing load balancers of the AWS Load Balancer Controller go here.
                    tags={"Name": f"{name}-public-{index}", "kubernetes.io/role/elb": "1"}, opts=child,
                )
                aws.ec2.RouteTableAssociation(f"{name}-public-{index}-routes", subnet_id=public.id, route_table_id=public_routes.id, opts=child)
                if index == 0 or args.nat_per_zone:
                    address = aws.ec2.Eip(f"{name}-nat-{index}-address", domain="vpc", opts=child)
                    nat_gateways.append(aws.ec2.NatGateway(
                        f"{name}-nat-{index}", allocation_id=address.id, subnet_id=public.id, tags={"Name": f"{name}-nat-{index}"}, opts=child,
                    ))
                private = aws.ec2.Subnet(
                    f"{name}-private-{index}", vpc_id=vpc.id, cidr_block=private_cidrs[index], availability_zone=zone,
                    tags={"Name": f"{name}-private-{index}", "kubernetes.io/role/internal-elb": "1"}, opts=child,
                )
                routes = aws.ec2.RouteTable(
                    f"{name}-private-{index}-routes", vpc_id=vpc.id,
                    routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_gateways[-1].id)], opts=child,
                )
                aws.ec2.RouteTableAssociation(f"{name}-private-{index}-association", subnet_id=private.id, route_table_id=routes.id, opts=child)
                private_ids.append(private.id)
            self.vpc_id = vpc.id
            self.private_subnet_ids = pulumi.Output.all(*private_ids).apply(list)
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids})


def admitting_only(
    parent: pulumi.Resource, name: str, vpc_id: pulumi.Input[str], service: str, port: int, clients: dict[str, pulumi.Input[str]],
) -> aws.ec2.SecurityGroup:
    """A security group that admits `port` only from the members of the `clients` security groups.

    The rules are resources of their own, so the group, and the server in it, need not wait for the
    clients' groups (the cluster's exists only once EKS has been created)."""
    group = aws.ec2.SecurityGroup(
        f"{name}-security-group", vpc_id=vpc_id, description=f"{service}: {', '.join(sorted(clients))} only",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    for client, group_id in sorted(clients.items()):
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-{client}", security_group_id=group.id, referenced_security_group_id=group_id,
            ip_protocol="tcp", from_port=port, to_port=port, description=f"{service} from {client}",
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return group


def _zone(names: list[str], index: int, region: str) -> str:
    if index >= len(names):
        raise ValueError(
            f"mlops:aws.network.availabilityZones: {index + 1} or more is not allowed in {region}; allowed: at most {len(names)}"
        )
    return sorted(names)[index]
