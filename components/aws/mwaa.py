"""Amazon MWAA (services.airflow.mode: managed): its DAG bucket, execution role and private networking.

Connections come from Secrets Manager under `connections_prefix`, written from the pipeline config
(AirflowConnections), so DAGs read the same `mlops_*` connections as on Airflow in the cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.aws.iam import Statement, document, service_trust
from components.aws.s3 import BucketArgs, PrivateBucket

SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"


@dataclass(frozen=True)
class MwaaArgs:
    environment_name: str
    region: str
    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]  # MWAA takes exactly two private subnets
    dag_bucket: pulumi.Input[str]
    airflow_version: str
    environment_class: str
    max_workers: int
    connections_prefix: str
    # What the tasks may do besides running: the lake, the feature store, ...
    statements: Sequence[pulumi.Input[Statement]]
    versioned_dags: bool = True
    force_destroy: bool = False
    protect: bool = False


def _execution_statements(args: MwaaArgs, dag_bucket_arn: pulumi.Output[str]) -> list[pulumi.Input[Statement]]:
    """What the environment needs to run (metrics, its DAG bucket, logs, its Celery queue, the
    connection secrets), then what the tasks may do."""
    environment_arn = pulumi.Output.concat(
        "arn:aws:airflow:", args.region, ":", args.account_id, ":environment/", args.environment_name,
    )
    log_groups = pulumi.Output.concat(
        "arn:aws:logs:", args.region, ":", args.account_id, ":log-group:airflow-", args.environment_name, "-*",
    )
    bucket_objects = pulumi.Output.concat(dag_bucket_arn, "/*")
    return [
        pulumi.Output.all(environment_arn).apply(lambda a: {"Effect": "Allow", "Action": "airflow:PublishMetrics", "Resource": a[0]}),
        pulumi.Output.all(dag_bucket_arn, bucket_objects).apply(lambda a: {
            "Effect": "Allow", "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"], "Resource": list(a),
        }),
        {"Effect": "Allow", "Action": ["s3:GetAccountPublicAccessBlock", "logs:DescribeLogGroups", "cloudwatch:PutMetricData"], "Resource": "*"},
        pulumi.Output.all(log_groups).apply(lambda a: {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
                       "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults"],
            "Resource": a[0],
        }),
        {
            "Effect": "Allow",
            "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                       "sqs:ReceiveMessage", "sqs:SendMessage"],
            "Resource": f"arn:aws:sqs:{args.region}:*:airflow-celery-*",
        },
        pulumi.Output.all(args.account_id).apply(lambda a: {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
            "NotResource": f"arn:aws:kms:*:{a[0]}:key/*",
            "Condition": {"StringLike": {"kms:ViaService": [f"sqs.{args.region}.amazonaws.com"]}},
        }),
        pulumi.Output.all(args.account_id).apply(lambda a: {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": f"arn:aws:secretsmanager:{args.region}:{a[0]}:secret:{args.connections_prefix}/*",
        }),
        *args.statements,
    ]


def _logging() -> aws.mwaa.EnvironmentLoggingConfigurationArgs:
    log = aws.mwaa.EnvironmentLoggingConfigurationDagProcessingLogsArgs  # every log type has the same shape
    return aws.mwaa.EnvironmentLoggingConfigurationArgs(
        dag_processing_logs=log(enabled=True, log_level="INFO"),
        scheduler_logs=aws.mwaa.EnvironmentLoggingConfigurationSchedulerLogsArgs(enabled=True, log_level="INFO"),
        task_logs=aws.mwaa.EnvironmentLoggingConfigurationTaskLogsArgs(enabled=True, log_level="INFO"),
        webserver_logs=aws.mwaa.EnvironmentLoggingConfigurationWebserverLogsArgs(enabled=True, log_level="WARNING"),
        worker_logs=aws.mwaa.EnvironmentLoggingConfigurationWorkerLogsArgs(enabled=True, log_level="INFO"),
    )


class Mwaa(pulumi.ComponentResource):
    url: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    dag_bucket: pulumi.Output[str]

    def __init__(self, name: str, args: MwaaArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:Mwaa", name, None, opts)
        # MWAA refuses a DAG bucket without versioning or with public access possible.
        dags = PrivateBucket(
            f"{name}-dags",
            BucketArgs(bucket=args.dag_bucket, versioning=True, force_destroy=args.force_destroy, protect=args.protect),
            opts=pulumi.ResourceOptions(parent=self),
        )
        firewall = self._security_group(name, args)
        role, policy = self._execution_role(name, args, dags)
        environment = aws.mwaa.Environment(
            f"{name}-environment",
            name=args.environment_name,
            airflow_version=args.airflow_version,
            environment_class=args.environment_class,
            min_workers=1,
            max_workers=args.max_workers,
            source_bucket_arn=dags.arn,
            dag_s3_path="dags/",
            execution_role_arn=role.arn,
            network_configuration=aws.mwaa.EnvironmentNetworkConfigurationArgs(
                security_group_ids=[firewall.id], subnet_ids=args.subnet_ids,
            ),
            webserver_access_mode="PRIVATE_ONLY",
            logging_configuration=_logging(),
            airflow_configuration_options={
                "secrets.backend": SECRETS_BACKEND,
                "secrets.backend_kwargs": json.dumps({"connections_prefix": args.connections_prefix, "variables_prefix": None}),
            },
            # MWAA validates the bucket's versioning and public access block, and assumes the role with
            # its policy, at creation; neither is visible in the inputs.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*dags.settings, policy]),
        )
        self.url = pulumi.Output.concat("https://", environment.webserver_url)
        self.security_group_id = firewall.id
        self.dag_bucket = dags.name
        self.register_outputs({"url": self.url, "securityGroupId": self.security_group_id, "dagBucket": self.dag_bucket})

    def _security_group(self, name: str, args: MwaaArgs) -> aws.ec2.SecurityGroup:
        child = pulumi.ResourceOptions(parent=self)
        firewall = aws.ec2.SecurityGroup(
            f"{name}-security-group", vpc_id=args.vpc_id, description=f"MWAA {args.environment_name}: its own components", opts=child,
        )
        # The web server, schedulers and workers talk to each other; nothing else may come in.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-itself", security_group_id=firewall.id, referenced_security_group_id=firewall.id,
            ip_protocol="-1", description="MWAA components", opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-egress", security_group_id=firewall.id, cidr_ipv4="0.0.0.0/0", ip_protocol="-1",
            description="AWS APIs, databases and package indexes", opts=child,
        )
        return firewall

    def _execution_role(self, name: str, args: MwaaArgs, dags: PrivateBucket) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-execution-role", assume_role_policy=service_trust("airflow.amazonaws.com", "airflow-env.amazonaws.com"), opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-execution-policy", role=role.name, policy=document(_execution_statements(args, dags.arn)), opts=child,
        )
        return role, policy


@dataclass(frozen=True)
class AirflowConnectionsArgs:
    prefix: str
    # Airflow connection ID -> its URI (a secret Output)
    connections: Mapping[str, pulumi.Input[str]]
    recovery_days: int  # 0: deleted at once (ephemeral stacks)


class AirflowConnections(pulumi.ComponentResource):
    """The pipeline config's Airflow connections as Secrets Manager secrets that MWAA's secrets backend reads."""

    def __init__(self, name: str, args: AirflowConnectionsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:AirflowConnections", name, None, opts)
        names = []
        for conn_id, uri in sorted(args.connections.items()):
            secret = aws.secretsmanager.Secret(
                f"{name}-{conn_id}", name=f"{args.prefix}/{conn_id}", recovery_window_in_days=args.recovery_days,
                description=f"Airflow connection {conn_id} (from the mlops pipeline config)", opts=pulumi.ResourceOptions(parent=self),
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-{conn_id}-value", secret_id=secret.id, secret_string=pulumi.Output.secret(uri),
                opts=pulumi.ResourceOptions(parent=self),
            )
            names.append(secret.name)
        self.register_outputs({"secrets": names})
