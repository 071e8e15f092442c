"""Azure Database for PostgreSQL Flexible Server with private access (VNet integration) and TLS only.

Production: zone-redundant high availability, geo-redundant backups and `protect`. Ephemeral: none of
them, so `pulumi destroy` removes it. Consumer databases and logins are created by a Job in the cluster
(components/kubernetes/database_setup.py): the server is private, so only the VNet reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.kubernetes import workload
from infra.contract import DatabaseLogin

PORT = 5432
ADMIN_USER = "mlops_admin"


@dataclass(frozen=True)
class FlexiblePostgresArgs:
    server_name: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    subnet_id: pulumi.Input[str]  # delegated to Microsoft.DBforPostgreSQL/flexibleServers
    private_zone_id: pulumi.Input[str]
    consumers: tuple[str, ...]
    version: str
    sku: str
    tier: str
    storage_gb: int
    backup_retention_days: int
    high_availability: bool  # zone-redundant standby, geo-redundant backups
    protect: bool
    tags: Mapping[str, str]


class FlexiblePostgres(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: int
    admin_user: str
    admin_password: pulumi.Output[str]
    logins: dict[str, DatabaseLogin]
    server_id: pulumi.Output[str]

    def __init__(self, name: str, args: FlexiblePostgresArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:FlexiblePostgres", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        admin_password = workload.password(f"{name}-admin-password", self, args.protect)
        passwords = {c: workload.password(f"{name}-{c}-password", self, args.protect) for c in args.consumers}
        server = azure.dbforpostgresql.Server(
            f"{name}-server",
            server_name=args.server_name,
            resource_group_name=args.resource_group,
            location=args.location,
            tags=dict(args.tags),
            version=args.version,
            sku=azure.dbforpostgresql.SkuArgs(name=args.sku, tier=args.tier),
            storage=azure.dbforpostgresql.StorageArgs(storage_size_gb=args.storage_gb, auto_grow="Enabled"),
            backup=azure.dbforpostgresql.BackupArgs(
                backup_retention_days=args.backup_retention_days,
                # Set at creation only: a region-wide outage must not take the backups with it.
                geo_redundant_backup="Enabled" if args.high_availability else "Disabled",
            ),
            high_availability=azure.dbforpostgresql.HighAvailabilityArgs(mode="ZoneRedundant" if args.high_availability else "Disabled"),
            network=azure.dbforpostgresql.NetworkArgs(
                delegated_subnet_resource_id=args.subnet_id, private_dns_zone_arm_resource_id=args.private_zone_id,
                public_network_access="Disabled",
            ),
            auth_config=azure.dbforpostgresql.AuthConfigArgs(password_auth="Enabled", active_directory_auth="Disabled"),
            administrator_login=ADMIN_USER,
            administrator_login_password=admin_password,
            create_mode="Create",
            opts=stateful,
        )
        # TLS only (already the server's default; pinned so nobody turns it off by hand unnoticed).
        azure.dbforpostgresql.Configuration(
            f"{name}-require-tls", configuration_name="require_secure_transport", value="on", source="user-override",
            server_name=server.name, resource_group_name=args.resource_group, opts=pulumi.ResourceOptions(parent=self),
        )
        self.host = server.fully_qualified_domain_name
        self.server_id = server.id
        self.port = PORT
        self.admin_user = ADMIN_USER
        self.admin_password = admin_password
        self.logins = {c: DatabaseLogin(database=c, user=c, password=p) for c, p in passwords.items()}
        self.register_outputs({"host": self.host, "port": self.port, "users": {c: c for c in args.consumers}})
