"""SageMaker Studio as the notebooks' managed equivalent (services.notebooks.mode: managed on aws).

A VPC-only domain in the stack's private subnets, one user profile per user, an execution role with
the pipelines' grants, and a JupyterLab lifecycle configuration that delivers the pipeline config to
every app. Its public part is in the script; the secret part is a Secrets Manager secret that only the
execution role may read, fetched when the app starts.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.aws.iam import Statement, document, service_trust
from mlops_jobs import pipeline_names

NFS_PORT = 2049  # the domain's home file system (EFS)
HOME = "/home/sagemaker-user"  # the JupyterLab user's home in Studio
CONFIG_DIR = f"{HOME}/.mlops"
# Ports a notebook opens inside the VPC: PostgreSQL (Feast's registry), Redis (the online store).
DATA_PORTS = (5432, 6379)


@dataclass(frozen=True)
class StudioNetworkArgs:
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]


class StudioNetwork(pulumi.ComponentResource):
    """The apps' security group: made before the data services, which admit it as a client."""

    def __init__(self, name: str, args: StudioNetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:StudioNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(f"{name}-security-group", vpc_id=args.vpc_id,
                                      description="SageMaker Studio apps: home EFS, data services, AWS APIs", opts=child)
        # Studio's apps and their home file system share this group (NFS); no other way in.
        aws.vpc.SecurityGroupIngressRule(f"{name}-nfs-in", security_group_id=group.id, referenced_security_group_id=group.id,
                                         ip_protocol="tcp", from_port=NFS_PORT, to_port=NFS_PORT, description="home EFS", opts=child)
        aws.vpc.SecurityGroupEgressRule(f"{name}-nfs-out", security_group_id=group.id, referenced_security_group_id=group.id,
                                        ip_protocol="tcp", from_port=NFS_PORT, to_port=NFS_PORT, description="home EFS", opts=child)
        for port in DATA_PORTS:
            aws.vpc.SecurityGroupEgressRule(f"{name}-to-vpc-{port}", security_group_id=group.id, cidr_ipv4=args.vpc_cidr,
                                            ip_protocol="tcp", from_port=port, to_port=port, description="data services", opts=child)
        # The AWS APIs (S3, SageMaker, Secrets Manager, SageMaker MLflow) over HTTPS, through the NAT.
        aws.vpc.SecurityGroupEgressRule(f"{name}-https-out", security_group_id=group.id, cidr_ipv4="0.0.0.0/0",
                                        ip_protocol="tcp", from_port=443, to_port=443, description="AWS APIs", opts=child)
        self.security_group_id = group.id
        self.register_outputs({"securityGroupId": self.security_group_id})


@dataclass(frozen=True)
class StudioDomainArgs:
    domain_name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    security_group_id: pulumi.Input[str]
    users: tuple[str, ...]
    instance_type: str
    statements: Sequence[pulumi.Input[Statement]]  # the pipelines' grants
    public_env: pulumi.Input[Mapping[str, str]]
    files: pulumi.Input[Mapping[str, str]]
    secret_env: pulumi.Input[Mapping[str, str]]  # a secret Output
    recovery_days: int  # of the secret; 0 on ephemeral stacks
    retain_homes: bool = True  # keep the users' home file system when the domain goes
    tags: Mapping[str, str] = field(default_factory=dict)


def studio_env(public_env: Mapping[str, str]) -> dict[str, str]:
    """The pipeline config's env, with its mounted files where the lifecycle script writes them."""
    return {k: v.replace(pipeline_names.CONFIG_MOUNT, CONFIG_DIR) for k, v in public_env.items()}


def lifecycle_script(public_env: Mapping[str, str], files: Mapping[str, str], secret_arn: str) -> str:
    """Writes the config under ~/.mlops, then makes kernels and terminals read it: an IPython startup
    file (a kernel's environment is the server's, set before this runs) and ~/.bashrc."""
    payload = base64.b64encode(json.dumps({"env": studio_env(public_env), "files": dict(files)}).encode()).decode()
    env_json, env_sh = f"{CONFIG_DIR}/{pipeline_names.DOTENV}.json", f"{CONFIG_DIR}/{pipeline_names.DOTENV}.sh"
    writer = "\n".join([
        "import base64, json, os, shlex",
        "import boto3",
        f"config = json.loads(base64.b64decode({payload!r}))",
        "for name, text in config['files'].items():",
        f"    open(os.path.join({CONFIG_DIR!r}, name), 'w').write(text)",
        f"secret = boto3.client('secretsmanager').get_secret_value(SecretId={secret_arn!r})['SecretString']",
        "env = {**config['env'], **json.loads(secret)}",
        f"open({env_json!r}, 'w').write(json.dumps(env))",
        f"open({env_sh!r}, 'w').write(''.join(f'export {{k}}={{shlex.quote(v)}}' + chr(10) for k, v in env.items()))",
    ])
    startup = f"import json, os; os.environ.update(json.load(open({env_json!r})))"
    return "\n".join([
        "#!/bin/bash",
        "set -euo pipefail",
        "umask 077  # the files hold the secret env",
        f"mkdir -p {CONFIG_DIR} {HOME}/.ipython/profile_default/startup",
        "python3 - <<'EOF'", writer, "EOF",
        f"echo {shlex.quote(startup)} > {HOME}/.ipython/profile_default/startup/00-mlops.py",
        f"grep -qF {env_sh} {HOME}/.bashrc 2>/dev/null || echo '. {env_sh}' >> {HOME}/.bashrc",
        "",
    ])


class StudioDomain(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: StudioDomainArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:StudioDomain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret = aws.secretsmanager.Secret(
            f"{name}-pipeline-secrets", name_prefix=f"{args.domain_name}-pipeline-config-", recovery_window_in_days=args.recovery_days,
            description="The pipeline config's secret env, for the notebooks' lifecycle configuration", tags=dict(args.tags), opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-pipeline-secrets-value", secret_id=secret.id,
            secret_string=pulumi.Output.secret(pulumi.Output.json_dumps(args.secret_env)), opts=child,
        )
        role = aws.iam.Role(f"{name}-execution-role", assume_role_policy=service_trust("sagemaker.amazonaws.com"),
                            tags=dict(args.tags), opts=child)
        aws.iam.RolePolicy(
            f"{name}-execution-policy", role=role.name,
            policy=document([
                *args.statements,
                secret.arn.apply(lambda arn: {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}),
            ]),
            opts=child,
        )
        content = pulumi.Output.all(args.public_env, args.files, secret.arn).apply(
            lambda v: base64.b64encode(lifecycle_script(v[0], v[1], v[2]).encode()).decode())
        lifecycle = aws.sagemaker.StudioLifecycleConfig(
            f"{name}-pipeline-config", studio_lifecycle_config_name=f"{args.domain_name}-pipeline-config",
            studio_lifecycle_config_app_type="JupyterLab", studio_lifecycle_config_content=content, tags=dict(args.tags), opts=child,
        )
        domain = aws.sagemaker.Domain(
            f"{name}-domain",
            domain_name=args.domain_name,
            auth_mode="IAM",
            app_network_access_type="VpcOnly",  # no internet but through the VPC's NAT
            vpc_id=args.vpc_id,
            subnet_ids=args.subnet_ids,
            default_user_settings=aws.sagemaker.DomainDefaultUserSettingsArgs(
                execution_role=role.arn,
                security_groups=[args.security_group_id],
                jupyter_lab_app_settings=aws.sagemaker.DomainDefaultUserSettingsJupyterLabAppSettingsArgs(
                    lifecycle_config_arns=[lifecycle.arn],
                    default_resource_spec=aws.sagemaker.DomainDefaultUserSettingsJupyterLabAppSettingsDefaultResourceSpecArgs(
                        instance_type=args.instance_type, lifecycle_config_arn=lifecycle.arn,
                    ),
                ),
            ),
            retention_policy=aws.sagemaker.DomainRetentionPolicyArgs(home_efs_file_system="Retain" if args.retain_homes else "Delete"),
            tags=dict(args.tags),
            opts=child,
        )
        for user in args.users:
            aws.sagemaker.UserProfile(f"{name}-{user}", domain_id=domain.id, user_profile_name=user, tags=dict(args.tags), opts=child)
        self.url = domain.url
        self.execution_role_arn = role.arn
        self.register_outputs({"url": self.url, "executionRoleArn": self.execution_role_arn})
