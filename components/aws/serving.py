"""A model endpoint on SageMaker: a Model per variant, one EndpointConfiguration whose production
variants carry the weights (`initial_variant_weight`), and the Endpoint. A new weight or image makes a
new configuration, and SageMaker moves the Endpoint onto it in place, blue/green, without downtime.
A new instance type for an autoscaled variant cannot be applied in place (SageMaker refuses while
Application Auto Scaling holds the variant): the endpoint's name carries those instance types, so such a
change makes a new endpoint, created and scaled before the old one is deleted, and its URL changes.

Each variant's instance count scales between its replicas and max_replicas on invocations per instance,
like the HorizontalPodAutoscaler of an in-cluster variant.

With a capture rate, SageMaker's data capture writes a share of the requests and responses to the
lake, under inference/<endpoint name>/<variant>/<yyyy>/<MM>/<dd>/<HH>/: the layout every backend uses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.iam import put_access, service_trust
from components.specs import EndpointSpec, VariantSpec
from mlops_jobs import pipeline_names

# Invocations per instance per minute at which another instance is added.
INVOCATIONS_PER_INSTANCE = 1000


@dataclass(frozen=True)
class SageMakerEndpointArgs:
    endpoint_name: str  # at most NAME_PREFIX_LENGTH characters; the generation is appended
    endpoint: EndpointSpec
    region: str
    lake: pulumi.Input[str] = ""  # the lake bucket's name, where captures go (with capture_rate > 0)
    lake_arn: pulumi.Input[str] = ""


# SageMaker's limit is 63 characters: the prefix, '-' and six of the generation.
NAME_PREFIX_LENGTH = 56


def generation(endpoint: EndpointSpec) -> str:
    """What an in-place update may not change: the instance type of each autoscaled variant."""
    scaled = sorted(f"{v.name}={v.instance_type}" for v in endpoint.variants if v.max_replicas > v.size.replicas)
    return hashlib.sha256(",".join(scaled).encode()).hexdigest()[:6]


def invocation_url(region: str, endpoint_name: pulumi.Input[str]) -> pulumi.Output[str]:
    """Where clients POST `/invocations` (signed with SigV4; a variant is chosen with TargetVariant)."""
    return pulumi.Output.concat("https://runtime.sagemaker.", region, ".amazonaws.com/endpoints/", endpoint_name)


# What SageMaker does as the model containers' role: pull their images, write their logs and metrics.
EXECUTION_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
     "Resource": "*"},
    {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
     "Resource": "arn:aws:logs:*:*:log-group:/aws/sagemaker/*"},
    {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
     "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}},
]}


def _production_variant(variant: VariantSpec, model: aws.sagemaker.Model) -> aws.sagemaker.EndpointConfigurationProductionVariantArgs:
    return aws.sagemaker.EndpointConfigurationProductionVariantArgs(
        variant_name=variant.name,
        model_name=model.name,
        instance_type=variant.instance_type,
        initial_instance_count=variant.size.replicas,
        initial_variant_weight=float(variant.weight),
        container_startup_health_check_timeout_in_seconds=600,
    )


def capture_percentage(rate: float) -> int:
    """SageMaker samples in whole percent: a rate above 0 captures at least 1%."""
    return max(1, round(rate * 100)) if rate > 0 else 0


def _data_capture(endpoint: EndpointSpec, lake: pulumi.Input[str]) -> Optional[aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs]:
    if endpoint.capture_rate <= 0:
        return None
    return aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
        enable_capture=True,
        initial_sampling_percentage=capture_percentage(endpoint.capture_rate),
        # SageMaker appends <endpoint name>/<variant>/<yyyy>/<MM>/<dd>/<HH>/.
        destination_s3_uri=pulumi.Output.concat("s3://", lake, "/", pipeline_names.CAPTURE_PREFIX.rstrip("/")),
        capture_options=[aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode=mode)
                         for mode in ("Input", "Output")],
        # JSON and CSV are kept as text, as the cluster's sidecar keeps them; anything else in base64.
        capture_content_type_header=aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
            json_content_types=["application/json"], csv_content_types=["text/csv"],
        ),
    )


def _invocations_target() -> aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs:
    return aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
        target_value=float(INVOCATIONS_PER_INSTANCE),
        predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
            predefined_metric_type="SageMakerVariantInvocationsPerInstance",
        ),
        scale_in_cooldown=300, scale_out_cooldown=60,
    )


class SageMakerEndpoint(pulumi.ComponentResource):
    url: pulumi.Output[str]
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    weights: dict[str, int]
    variant_urls: dict[str, pulumi.Output[str]]
    capture: pulumi.Output[str]  # the lake prefix of its captures; "" when it captures nothing

    def __init__(self, name: str, args: SageMakerEndpointArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:SageMakerEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        endpoint = args.endpoint
        role, role_policies = self._execution_role(name, args)
        models = {variant.name: self._model(name, endpoint.name, variant, role) for variant in endpoint.variants}
        configuration = aws.sagemaker.EndpointConfiguration(
            f"{name}-configuration",
            production_variants=[_production_variant(variant, models[variant.name]) for variant in endpoint.variants],
            data_capture_config=_data_capture(endpoint, args.lake),
            # The role may write captures before the endpoint starts sending them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=role_policies),
        )
        sagemaker_endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint", name=f"{args.endpoint_name[:NAME_PREFIX_LENGTH]}-{generation(endpoint)}",
            endpoint_config_name=configuration.name, opts=child,
        )
        for variant in endpoint.variants:
            if variant.max_replicas > variant.size.replicas:
                self._autoscale(name, sagemaker_endpoint, variant)
        self.name = sagemaker_endpoint.name
        self.arn = sagemaker_endpoint.arn
        self.url = invocation_url(args.region, sagemaker_endpoint.name)
        self.weights = {variant.name: variant.weight for variant in endpoint.variants}
        # One URL for all: a variant is addressed with the TargetVariant parameter (X-Amzn-SageMaker-Target-Variant).
        self.variant_urls = {variant.name: self.url for variant in endpoint.variants}
        self.capture = (sagemaker_endpoint.name.apply(pipeline_names.capture_prefix) if endpoint.capture_rate > 0
                        else pulumi.Output.from_input(""))
        self.register_outputs({"name": self.name, "url": self.url, "weights": self.weights, "capture": self.capture})

    def _execution_role(self, name: str, args: SageMakerEndpointArgs) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The role SageMaker runs the model containers as, and writes their captures as."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-execution-role", assume_role_policy=service_trust("sagemaker.amazonaws.com"), opts=child)
        policies: list[pulumi.Resource] = [
            aws.iam.RolePolicy(f"{name}-execution-policy", role=role.name, policy=json.dumps(EXECUTION_POLICY), opts=child)]
        if args.endpoint.capture_rate > 0:
            capture = put_access(args.lake_arn, pipeline_names.CAPTURE_PREFIX)
            policies.append(aws.iam.RolePolicy(
                f"{name}-capture-policy", role=role.name,
                policy=capture.apply(lambda statement: json.dumps({"Version": "2012-10-17", "Statement": [statement]})), opts=child))
        return role, policies

    def _model(self, name: str, endpoint_name: str, variant: VariantSpec, role: aws.iam.Role) -> aws.sagemaker.Model:
        return aws.sagemaker.Model(
            f"{name}-{variant.name}",
            execution_role_arn=role.arn,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                image=variant.image,
                environment={"MLOPS_ENDPOINT": endpoint_name, "MLOPS_VARIANT": variant.name},
            ),
            # The model's container may not call out: it serves what its image holds.
            enable_network_isolation=True,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _autoscale(self, name: str, sagemaker_endpoint: aws.sagemaker.Endpoint, variant: VariantSpec) -> None:
        """The variant's instance count between its replicas and max_replicas, on invocations per instance."""
        child = pulumi.ResourceOptions(parent=self)
        resource_id = pulumi.Output.concat("endpoint/", sagemaker_endpoint.name, "/variant/", variant.name)
        target = aws.appautoscaling.Target(
            f"{name}-{variant.name}-scaling",
            service_namespace="sagemaker", scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=resource_id, min_capacity=variant.size.replicas, max_capacity=variant.max_replicas,
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{name}-{variant.name}-invocations",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace, scalable_dimension=target.scalable_dimension, resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=_invocations_target(),
            opts=child,
        )
