"""IAM policy documents, and the IAM role each Kubernetes service account assumes (IRSA)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

Statement = dict[str, Any]


def document(statements: Sequence[pulumi.Input[Statement]]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust(*services: str) -> str:
    """A trust policy that lets AWS services (eks, ec2, sagemaker, airflow) assume the role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}],
    })


def bucket_access(bucket_arn: pulumi.Input[str], prefix: str = "", *, write: bool) -> list[pulumi.Output[Statement]]:
    """List, read (and write and delete) the objects under `prefix` of one bucket; nothing else."""
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    if write:
        actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    listing: dict[str, Any] = {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn}
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}
    objects = pulumi.Output.concat(bucket_arn, "/", prefix, "*")
    return [
        pulumi.Output.from_input(listing),
        pulumi.Output.all(objects).apply(lambda r: {"Effect": "Allow", "Action": actions, "Resource": r[0]}),
    ]


def put_access(bucket_arn: pulumi.Input[str], prefix: str) -> pulumi.Output[Statement]:
    """Write new objects under `prefix` of one bucket: no reading, listing or deleting."""
    return pulumi.Output.concat(bucket_arn, "/", prefix, "*").apply(
        lambda objects: {"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"], "Resource": objects})


@dataclass(frozen=True)
class WorkloadRoleArgs:
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]  # without https://
    # (namespace, service account) pairs that may assume the role
    service_accounts: tuple[tuple[str, str], ...]
    statements: Sequence[pulumi.Input[Statement]]
    tags: Mapping[str, str] = field(default_factory=dict)  # e.g. s3.PRIVATE_READER_TAG


class WorkloadRole(pulumi.ComponentResource):
    """The IAM role of one service's pods, assumable only by its own service accounts' tokens."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:WorkloadRole", name, None, opts)
        subjects = [f"system:serviceaccount:{namespace}:{account}" for namespace, account in args.service_accounts]
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(lambda p: {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": p[0]},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{p[1]}:aud": "sts.amazonaws.com", f"{p[1]}:sub": subjects}},
            }],
        })
        role = aws.iam.Role(f"{name}-role", assume_role_policy=pulumi.Output.json_dumps(trust), tags=dict(args.tags) or None,
                            opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(f"{name}-policy", role=role.name, policy=document(args.statements), opts=pulumi.ResourceOptions(parent=self))
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
