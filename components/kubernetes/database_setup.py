"""A Job in the cluster that creates each consumer's login and database on a managed PostgreSQL.

The managed server (RDS, Azure Flexible Server) is private: only the cluster reaches it, so this
runs there, with the same idempotent SQL as the in-cluster server's setup Job, over TLS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.postgres import WarehouseReaders, password_key, reader_passwords, setup_password_env, setup_scripts
from infra.contract import DatabaseLogin, WarehouseLogin

# Named like the in-cluster server's objects (postgres-setup, ...): the same Job on every backend.
APP = "postgres"
SECRET_NAME = "postgres-admin-credentials"
UID = GID = 999  # the postgres user of the official image, whose psql runs the script


@dataclass(frozen=True)
class DatabaseSetupArgs:
    namespace: pulumi.Input[str]
    image: str  # a PostgreSQL image: psql >= 15
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    sslmode: str
    admin_user: pulumi.Input[str]
    admin_password: pulumi.Input[str]
    logins: dict[str, DatabaseLogin]
    labels: dict[str, str] = field(default_factory=dict)
    protect: bool = False
    warehouse_readers: Optional[WarehouseReaders] = None
    # What must exist first: the server itself, and nodes to run the Job on.
    depends_on: tuple[pulumi.Resource, ...] = ()


class DatabaseSetup(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabaseSetupArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:DatabaseSetup", name, None, opts)
        consumers = tuple(sorted(args.logins))
        # The readers are logins this Job creates: their passwords are made here.
        readers = reader_passwords(self, name, args.warehouse_readers, args.protect)
        passwords = {**{c: args.logins[c].password for c in consumers}, **readers}
        secret = workload.credentials_secret(
            self, f"{name}-credentials", SECRET_NAME, args, APP,
            {"password": args.admin_password, **{password_key(login): p for login, p in passwords.items()}},
        )
        account = workload.service_account(self, name, APP, args.namespace, args.labels)
        job = workload.setup_job(
            self, name, APP, args,
            image=args.image,
            scripts=setup_scripts(consumers, args.warehouse_readers),
            command=["/bin/sh", "/setup/setup.sh"],
            env=[
                k8s.core.v1.EnvVarArgs(name="PGHOST", value=args.host),
                k8s.core.v1.EnvVarArgs(name="PGPORT", value=pulumi.Output.from_input(args.port).apply(lambda p: str(int(p)))),
                k8s.core.v1.EnvVarArgs(name="PGUSER", value=args.admin_user),
                k8s.core.v1.EnvVarArgs(name="PGDATABASE", value="postgres"),
                k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value=args.sslmode),
                workload.secret_env("PGPASSWORD", secret.metadata.name, "password"),
                *setup_password_env(secret.metadata.name, tuple(passwords)),
            ],
            security=workload.pod_security(UID, GID),
            service_account=account.metadata.name,
            depends_on=list(args.depends_on),
        )
        self.job_name = job.metadata.name
        self.reader_logins = {reader: WarehouseLogin(user=reader, password=password) for reader, password in readers.items()}
        self.register_outputs({"job": self.job_name, "readers": {r: login.user for r, login in self.reader_logins.items()}})
