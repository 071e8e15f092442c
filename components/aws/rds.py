"""RDS for PostgreSQL in private subnets: encrypted, TLS only, reachable only from the cluster.

Production: Multi-AZ, deletion protection, a final snapshot and `protect`. Ephemeral: none of them,
so `pulumi destroy` removes it. Consumer databases and logins are created by a Job in the cluster
(components/kubernetes/database_setup.py): the server is private, so only the cluster reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.network import admitting_only
from components.kubernetes import workload
from infra.contract import DatabaseLogin

PORT = 5432
ADMIN_USER = "mlops_admin"


@dataclass(frozen=True)
class RdsPostgresArgs:
    identifier: str
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    # The only security groups whose members may connect, by who they are: the cluster's (and MWAA's).
    clients: dict[str, pulumi.Input[str]]
    consumers: tuple[str, ...]
    instance_class: str
    allocated_storage: int
    max_allocated_storage: int
    engine_version: str
    backup_retention_days: int
    multi_az: bool
    deletion_protection: bool
    final_snapshot: bool
    protect: bool


class RdsPostgres(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: int
    admin_user: str
    admin_password: pulumi.Output[str]
    logins: dict[str, DatabaseLogin]

    def __init__(self, name: str, args: RdsPostgresArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:RdsPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child)
        firewall = admitting_only(self, name, args.vpc_id, f"PostgreSQL {args.identifier}", PORT, args.clients)
        major = args.engine_version.split(".")[0]
        parameters = aws.rds.ParameterGroup(
            f"{name}-parameters", family=f"postgres{major}",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")], opts=child,
        )
        # Letters and digits (workload.password): RDS refuses "/", "@", quotes and spaces in passwords.
        admin_password = workload.password(f"{name}-admin-password", self, args.protect)
        passwords = {c: workload.password(f"{name}-{c}-password", self, args.protect) for c in args.consumers}
        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=args.identifier,
            engine="postgres",
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage,
            max_allocated_storage=args.max_allocated_storage,
            storage_type="gp3",
            storage_encrypted=True,
            publicly_accessible=False,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[firewall.id],
            parameter_group_name=parameters.name,
            username=ADMIN_USER,
            password=admin_password,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=not args.final_snapshot,
            final_snapshot_identifier=f"{args.identifier}-final" if args.final_snapshot else None,
            delete_automated_backups=not args.final_snapshot,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            performance_insights_enabled=args.multi_az,
            # Outside production a change applies now, not in the next maintenance window.
            apply_immediately=not args.deletion_protection,
            opts=stateful,
        )
        self.host = instance.address
        self.port = PORT
        self.admin_user = ADMIN_USER
        self.admin_password = admin_password
        self.logins = {c: DatabaseLogin(database=c, user=c, password=p) for c, p in passwords.items()}
        self.register_outputs({"host": self.host, "port": self.port, "users": {c: c for c in args.consumers}})
