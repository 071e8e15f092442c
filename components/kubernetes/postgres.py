"""PostgreSQL in the cluster: one StatefulSet, and one database and login per consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import workload
from components.kubernetes.workload import StatefulServiceArgs
from infra.contract import DatabaseLogin, WarehouseLogin

APP = "postgres"
PORT = 5432
UID = GID = 999  # the postgres user of the official image
ADMIN_USER = "postgres"
DATA_DIR = "/var/lib/postgresql/data"
SECRET_NAME = "postgres-credentials"


@dataclass(frozen=True)
class BackupTarget:
    """Where and how the scheduled backup goes: a bucket of an S3 endpoint, keys from a Secret."""

    schedule: str
    retention_days: int
    image: str  # runs mlops_jobs.backup (the platform image)
    endpoint: pulumi.Input[str]
    region: pulumi.Input[str]
    bucket: str
    credentials_secret: pulumi.Input[str]
    access_key_key: str
    secret_key_key: str
    prefix: str = "postgres"


@dataclass(frozen=True)
class WarehouseReaders:
    """BI readers of the warehouse database: each gets a login that may SELECT from `schema` only."""

    database: str
    schema: str
    readers: tuple[str, ...]


@dataclass(frozen=True)
class PostgresArgs(StatefulServiceArgs):
    consumers: tuple[str, ...] = ()
    backup: Optional[BackupTarget] = None
    warehouse_readers: Optional[WarehouseReaders] = None


def password_key(consumer: str) -> str:
    return f"{consumer}-password"


def consumer_password_env(consumer: str) -> str:
    return f"MLOPS_{consumer.upper()}_PASSWORD"


def _password_from_env(login: str, variable: str) -> list[str]:
    """psql lines that read a login's password into `variable`, and stop when it is not set."""
    return [
        f"\\getenv {variable} {consumer_password_env(login)}",
        f"\\if :{{?{variable}}}",
        "\\else",
        f"  DO $$ BEGIN RAISE EXCEPTION 'environment variable {consumer_password_env(login)} is not set'; END $$;",
        "\\endif",
    ]


def setup_sql(consumers: tuple[str, ...]) -> str:
    """Idempotent SQL (psql ≥ 15) that creates or updates each consumer's login and database.

    Passwords come from the environment through \\getenv, so they never appear in the script, in a
    command line or in a log. Running it again resets each password to the one in the Secret.
    """
    lines = ["\\set ON_ERROR_STOP on"]
    for consumer in consumers:
        variable = f"{consumer}_password"
        lines += [
            *_password_from_env(consumer, variable),
            f"SELECT format('CREATE ROLE %I LOGIN', '{consumer}') "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{consumer}')\\gexec",
            # No NOSUPERUSER: only a superuser may name that attribute, and CREATE ROLE made none.
            f'ALTER ROLE "{consumer}" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :\'{variable}\';',
            # A managed server's admin is no superuser: it must be a member to hand the database over.
            f'GRANT "{consumer}" TO CURRENT_USER;',
            f"SELECT format('CREATE DATABASE %I OWNER %I', '{consumer}', '{consumer}') "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{consumer}')\\gexec",
            f'ALTER DATABASE "{consumer}" OWNER TO "{consumer}";',
            # Only its owner may connect to a consumer's database.
            f'REVOKE ALL ON DATABASE "{consumer}" FROM PUBLIC;',
        ]
    return "\n".join(lines) + "\n"


def reader_sql(database: str, schema: str, readers: tuple[str, ...]) -> str:
    """Idempotent SQL that gives each reader (a BI tool) a login that may SELECT from `schema` of
    `database`, now and later, and nothing else. Follows setup_sql, which made `database` and its
    owner, and made the admin a member of the owner."""
    lines = [f'\\connect "{database}"', f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{database}";']
    for reader in readers:
        variable = f"{reader}_password"
        lines += [
            *_password_from_env(reader, variable),
            f"SELECT format('CREATE ROLE %I LOGIN', '{reader}') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{reader}')\\gexec",
            f'ALTER ROLE "{reader}" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :\'{variable}\';',
            # A second line of defence: its sessions cannot write even where a grant would let them.
            f'ALTER ROLE "{reader}" SET default_transaction_read_only = on;',
            f'GRANT CONNECT ON DATABASE "{database}" TO "{reader}";',
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{reader}";',
            f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{reader}";',
            f'ALTER DEFAULT PRIVILEGES FOR ROLE "{database}" IN SCHEMA "{schema}" GRANT SELECT ON TABLES TO "{reader}";',
        ]
    return "\n".join(lines) + "\n"


# Each database in PostgreSQL's custom format (pg_restore reads it), and the roles without their
# password hashes (the setup Job sets passwords again from the Secret after a restore).
DUMP_SCRIPT = """set -eu
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "/backup/$stamp"
pg_dumpall --globals-only --no-role-passwords --file "/backup/$stamp/globals.sql"
for database in $DATABASES; do
  pg_dump --format=custom --file "/backup/$stamp/$database.dump" "$database"
done
echo "dumped $DATABASES to /backup/$stamp"
"""

SETUP_SCRIPT = """#!/bin/sh
set -eu
# Wait up to five minutes for the server; the StatefulSet may still be restarting.
tries=0
until pg_isready --quiet; do
  tries=$((tries + 1))
  if [ "$tries" -ge 150 ]; then echo "postgres at $PGHOST:$PGPORT is not ready" >&2; exit 1; fi
  sleep 2
done
exec psql --no-psqlrc --quiet --file "$(dirname "$0")/consumers.sql"
"""


def setup_scripts(consumers: tuple[str, ...], readers: Optional[WarehouseReaders]) -> dict[str, str]:
    """The setup Job's files: the same on the in-cluster server and on a managed one (DatabaseSetup)."""
    sql = setup_sql(consumers)
    if readers and readers.readers:
        sql += reader_sql(readers.database, readers.schema, readers.readers)
    return {"setup.sh": SETUP_SCRIPT, "consumers.sql": sql}


def setup_password_env(secret_name: pulumi.Input[str], logins: tuple[str, ...]) -> list[k8s.core.v1.EnvVarArgs]:
    """What setup_sql and reader_sql read with \\getenv: each login's password, from its Secret key."""
    return [workload.secret_env(consumer_password_env(login), secret_name, password_key(login)) for login in logins]


def reader_passwords(parent: pulumi.Resource, name: str, readers: Optional[WarehouseReaders], protect: bool) -> dict[str, pulumi.Output[str]]:
    return {reader: workload.password(f"{name}-{reader}-password", parent, protect) for reader in (readers.readers if readers else ())}


def server_container(args: PostgresArgs, secret: k8s.core.v1.Secret) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=APP,
        image=args.image,
        ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=PORT)],
        env=[
            k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value=ADMIN_USER),
            workload.secret_env("POSTGRES_PASSWORD", secret.metadata.name, "password"),
            # A subdirectory: the volume's root holds lost+found, which initdb refuses.
            k8s.core.v1.EnvVarArgs(name="PGDATA", value=f"{DATA_DIR}/pgdata"),
        ],
        resources=workload.resources(args.size),
        security_context=workload.container_security(),
        readiness_probe=_pg_isready(period=5, failures=3),
        liveness_probe=_pg_isready(period=10, failures=6),
        startup_probe=_pg_isready(period=5, failures=60),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR),
            k8s.core.v1.VolumeMountArgs(name="run", mount_path="/var/run/postgresql"),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )


class Postgres(pulumi.ComponentResource):
    """A single PostgreSQL server with a data volume, and a login plus database for each consumer."""

    host: pulumi.Output[str]
    port: int
    logins: dict[str, DatabaseLogin]
    reader_logins: dict[str, WarehouseLogin]

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:kubernetes:Postgres", name, None, opts)
        admin_password = workload.password(f"{name}-admin-password", self, args.protect)
        consumer_passwords = {
            consumer: workload.password(f"{name}-{consumer}-password", self, args.protect) for consumer in args.consumers
        }
        readers = reader_passwords(self, name, args.warehouse_readers, args.protect)
        secret = workload.credentials_secret(
            self,
            f"{name}-credentials",
            SECRET_NAME,
            args,
            APP,
            {
                "password": admin_password,
                **{password_key(login): p for login, p in {**consumer_passwords, **readers}.items()},
            },
        )
        container = server_container(args, secret)
        account = workload.service_account(self, name, APP, args.namespace, args.labels)
        service, statefulset = workload.stateful_workload(
            self,
            name,
            APP,
            args,
            container=container,
            ports=[k8s.core.v1.ServicePortArgs(name="postgres", port=PORT, target_port="postgres")],
            security=workload.pod_security(UID, GID),
            service_account=account.metadata.name,
            volumes=[workload.scratch_volume("run"), workload.scratch_volume("tmp")],
        )
        self.host = workload.service_dns(APP, args.namespace)
        self.port = PORT
        workload.setup_job(
            self,
            name,
            APP,
            args,
            image=args.image,
            scripts=setup_scripts(args.consumers, args.warehouse_readers),
            command=["/bin/sh", "/setup/setup.sh"],
            env=[
                k8s.core.v1.EnvVarArgs(name="PGHOST", value=service.metadata.name),
                k8s.core.v1.EnvVarArgs(name="PGPORT", value=str(PORT)),
                k8s.core.v1.EnvVarArgs(name="PGUSER", value=ADMIN_USER),
                k8s.core.v1.EnvVarArgs(name="PGDATABASE", value="postgres"),
                workload.secret_env("PGPASSWORD", secret.metadata.name, "password"),
                *setup_password_env(secret.metadata.name, (*args.consumers, *readers)),
            ],
            security=workload.pod_security(UID, GID),
            service_account=account.metadata.name,
            depends_on=[statefulset],
        )
        if args.backup:
            backup_cron_job(self, name, args, args.backup, secret, service, account, statefulset)
        self.logins = {
            consumer: DatabaseLogin(database=consumer, user=consumer, password=password)
            for consumer, password in consumer_passwords.items()
        }
        self.reader_logins = {reader: WarehouseLogin(user=reader, password=password) for reader, password in readers.items()}
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "users": {c: login.user for c, login in self.logins.items()},
                "passwords": {c: login.password for c, login in self.logins.items()},
                "readers": {r: login.user for r, login in self.reader_logins.items()},
                "readerPasswords": {r: login.password for r, login in self.reader_logins.items()},
            }
        )


def _pg_isready(period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=["pg_isready", "--host", "127.0.0.1", "--port", str(PORT), "--username", ADMIN_USER]),
        period_seconds=period,
        timeout_seconds=5,
        failure_threshold=failures,
    )


def backup_cron_job(
    parent: pulumi.Resource, name: str, args: PostgresArgs, target: BackupTarget,
    secret: k8s.core.v1.Secret, service: k8s.core.v1.Service, account: k8s.core.v1.ServiceAccount,
    statefulset: k8s.apps.v1.StatefulSet,
) -> k8s.batch.v1.CronJob:
    """A CronJob: `pg_dump` (the server's own image) into a shared folder, then an upload that also
    deletes backups past their retention."""
    job_labels = workload.labels(APP, args.labels, "backup")
    dump = k8s.core.v1.ContainerArgs(
        name="dump",
        image=args.image,
        command=["/bin/sh", "-c", DUMP_SCRIPT],
        env=[
            k8s.core.v1.EnvVarArgs(name="PGHOST", value=service.metadata.name),
            k8s.core.v1.EnvVarArgs(name="PGPORT", value=str(PORT)),
            k8s.core.v1.EnvVarArgs(name="PGUSER", value=ADMIN_USER),
            k8s.core.v1.EnvVarArgs(name="PGDATABASE", value="postgres"),
            k8s.core.v1.EnvVarArgs(name="DATABASES", value=" ".join(args.consumers)),
            workload.secret_env("PGPASSWORD", secret.metadata.name, "password"),
        ],
        resources=workload.job_resources(),
        security_context=workload.container_security(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="backup", mount_path="/backup")],
    )
    upload = k8s.core.v1.ContainerArgs(
        name="upload",
        image=target.image,
        command=["python", "-m", "mlops_jobs.backup", "--source", "/backup", "--bucket", target.bucket,
                 "--prefix", target.prefix, "--retention-days", str(target.retention_days)],
        env=[
            k8s.core.v1.EnvVarArgs(name="AWS_ENDPOINT_URL_S3", value=target.endpoint),
            k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=target.region),
            workload.secret_env("AWS_ACCESS_KEY_ID", target.credentials_secret, target.access_key_key),
            workload.secret_env("AWS_SECRET_ACCESS_KEY", target.credentials_secret, target.secret_key_key),
        ],
        resources=workload.job_resources(),
        security_context=workload.container_security(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="backup", mount_path="/backup", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
    backup_volume = k8s.core.v1.VolumeArgs(name="backup", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=args.size.storage or "10Gi"))
    return workload.cron_job(
        parent, f"{name}-backup", f"{APP}-backup", args.namespace, job_labels, target.schedule,
        workload.batch_pod(
            job_labels,
            service_account=account.metadata.name,
            init_containers=[dump],
            containers=[upload],
            volumes=[backup_volume, workload.scratch_volume("tmp")],
            restart_policy="Never",
        ),
        depends_on=[statefulset],
    )
