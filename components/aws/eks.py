"""An EKS cluster with a managed node group and an OIDC provider for IAM roles for service accounts;
or an existing cluster, looked up by name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.iam import service_trust

NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")


@dataclass(frozen=True)
class EksClusterArgs:
    cluster_name: str
    region: str
    subnet_ids: pulumi.Input[list[str]]
    version: str = "1.33"
    public_endpoint: bool = False
    public_access_cidrs: tuple[str, ...] = ()
    instance_types: tuple[str, ...] = ("m7i.large",)
    min_nodes: int = 2
    desired_nodes: int = 2
    max_nodes: int = 4
    # Ephemeral: the secrets key may go after the shortest waiting period.
    key_deletion_days: int = 30
    # Use this existing cluster instead of creating one.
    existing: bool = False


def kubeconfig(name: pulumi.Input[str], endpoint: pulumi.Input[str], certificate: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """A kubeconfig that gets a token from `aws eks get-token` (the AWS CLI) with the caller's credentials."""
    return pulumi.Output.all(name, endpoint, certificate).apply(lambda v: json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": v[0], "cluster": {"server": v[1], "certificate-authority-data": v[2]}}],
        "contexts": [{"name": v[0], "context": {"cluster": v[0], "user": v[0]}}],
        "current-context": v[0],
        "users": [{"name": v[0], "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", v[0], "--region", region, "--output", "json"],
        }}}],
    }))


@dataclass(frozen=True)
class _ControlPlane:
    """What the component reads of a cluster, whether created here or looked up."""
    name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    issuer_url: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate: pulumi.Output[str]
    nodes: tuple[pulumi.Resource, ...]


class EksCluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]  # the cluster security group every managed node carries
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]  # without https://
    kubeconfig: pulumi.Output[str]
    # What a workload must wait for: nodes to run on (none for an existing cluster).
    nodes: tuple[pulumi.Resource, ...]

    def __init__(self, name: str, args: EksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:EksCluster", name, None, opts)
        control_plane = self._existing(args) if args.existing else self._created(name, args)
        self.name = control_plane.name
        self.security_group_id = control_plane.security_group_id
        self.oidc_provider_arn = control_plane.oidc_provider_arn
        self.nodes = control_plane.nodes
        self.oidc_issuer = pulumi.Output.from_input(control_plane.issuer_url).apply(lambda url: url.removeprefix("https://"))
        self.kubeconfig = kubeconfig(self.name, control_plane.endpoint, control_plane.certificate, args.region)
        self.register_outputs({
            "name": self.name,
            "securityGroupId": self.security_group_id,
            "oidcProviderArn": self.oidc_provider_arn,
            "oidcIssuer": self.oidc_issuer,
        })

    def _existing(self, args: EksClusterArgs) -> _ControlPlane:
        invoke = pulumi.InvokeOptions(parent=self)
        found = aws.eks.get_cluster_output(name=args.cluster_name, region=args.region, opts=invoke)
        issuer_url = found.identities[0].oidcs[0].issuer
        provider = aws.iam.get_open_id_connect_provider_output(url=issuer_url, opts=invoke)
        return _ControlPlane(
            name=found.name, security_group_id=found.vpc_config.cluster_security_group_id, oidc_provider_arn=provider.arn,
            issuer_url=issuer_url, endpoint=found.endpoint, certificate=found.certificate_authorities[0].data, nodes=(),
        )

    def _created(self, name: str, args: EksClusterArgs) -> _ControlPlane:
        cluster = self._cluster(name, args)
        node_group = self._node_group(name, args, cluster)
        issuer_url = cluster.identities[0].oidcs[0].issuer
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc-provider", url=issuer_url, client_id_lists=["sts.amazonaws.com"], opts=pulumi.ResourceOptions(parent=self),
        )
        return _ControlPlane(
            name=cluster.name, security_group_id=cluster.vpc_config.cluster_security_group_id, oidc_provider_arn=provider.arn,
            issuer_url=issuer_url, endpoint=cluster.endpoint, certificate=cluster.certificate_authority.data, nodes=(node_group,),
        )

    def _cluster(self, name: str, args: EksClusterArgs) -> aws.eks.Cluster:
        """The control plane, its role, and the KMS key its Secrets are encrypted with."""
        child = pulumi.ResourceOptions(parent=self)
        cluster_role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=service_trust("eks.amazonaws.com"), opts=child)
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy", role=cluster_role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=child,
        )
        secrets_key = aws.kms.Key(
            f"{name}-secrets-key", description=f"Envelope encryption of Kubernetes Secrets in {args.cluster_name}",
            enable_key_rotation=True, deletion_window_in_days=args.key_deletion_days, opts=child,
        )
        return aws.eks.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            version=args.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=args.public_endpoint,
                public_access_cidrs=list(args.public_access_cidrs) or None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
            ),
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            # EKS needs the policy attached before it creates the cluster; nothing in the inputs says so.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_policy]),
        )

    def _node_group(self, name: str, args: EksClusterArgs, cluster: aws.eks.Cluster) -> aws.eks.NodeGroup:
        """The managed node group and the role its nodes join with."""
        child = pulumi.ResourceOptions(parent=self)
        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=service_trust("ec2.amazonaws.com"), opts=child)
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}", opts=child,
            )
            for policy in NODE_POLICIES
        ]
        return aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=args.subnet_ids,
            instance_types=list(args.instance_types),
            ami_type="AL2023_ARM_64_STANDARD" if _graviton(args.instance_types[0]) else "AL2023_x86_64_STANDARD",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.min_nodes, desired_size=args.desired_nodes, max_size=args.max_nodes,
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            # Nodes join only with these policies on their role; the inputs name the role, not them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=node_policies),
        )


def _graviton(instance_type: str) -> bool:
    family = instance_type.split(".", 1)[0]
    return family[-1] == "g" or family[-2:] in ("gd", "gn") or family.startswith("a1")
