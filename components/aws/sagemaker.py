"""A SageMaker managed MLflow tracking server (services.mlflow.mode: managed).

Clients use its ARN as MLFLOW_TRACKING_URI with the `sagemaker-mlflow` plugin, and need the
`sagemaker-mlflow:*` actions on it in their own role (see stacks/aws.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.iam import bucket_access, document, service_trust


@dataclass(frozen=True)
class SageMakerMlflowArgs:
    tracking_server_name: str
    artifacts_bucket_arn: pulumi.Input[str]
    artifacts_bucket: pulumi.Input[str]
    size: str  # Small, Medium or Large
    mlflow_version: str


class SageMakerMlflow(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: SageMakerMlflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:SageMakerMlflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=service_trust("sagemaker.amazonaws.com"), opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-policy", role=role.name,
            policy=document([
                *bucket_access(args.artifacts_bucket_arn, "mlflow/", write=True),
                # Registered MLflow models also appear in the SageMaker Model Registry.
                {"Effect": "Allow", "Action": ["sagemaker:AddTags", "sagemaker:CreateModelPackageGroup",
                                                "sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage",
                                                "sagemaker:DescribeModelPackageGroup"], "Resource": "*"},
            ]),
            opts=child,
        )
        server = aws.sagemaker.MlflowTrackingServer(
            f"{name}-tracking-server",
            tracking_server_name=args.tracking_server_name,
            artifact_store_uri=pulumi.Output.concat("s3://", args.artifacts_bucket, "/mlflow"),
            role_arn=role.arn,
            tracking_server_size=args.size,
            mlflow_version=args.mlflow_version,
            automatic_model_registration=True,
            # The server checks its role's access to the artifact store when it starts.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.arn = server.arn
        self.url = server.tracking_server_url
        self.register_outputs({"arn": self.arn, "url": self.url})
