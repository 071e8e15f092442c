"""The PostgreSQL backup CronJob as rendered: pg_dump against a real server, the upload to S3 with
retention, and a restore into a fresh PostgreSQL that finds the data.

The upload runs as a container of the platform image under its pod spec. The dump step's image is
PostgreSQL's own, which cannot be pulled here, so it runs as a local process with Debian's pg_dump,
writing into the same pod volume the upload container mounts."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import boto3
import psycopg
import psycopg.sql
import pytest

from tests.conftest import config_of, recording_of
from tests.integration.conftest import POSTGRES_BIN_DIRS, need, running_postgres
from tests.integration.containers import ContainerCluster, docker_ready, platform_image
from tests.integration.kubelet import LocalCluster
from tests.integration.test_data_services import consumer_passwords, rendered_postgres_setup, run_setup

pytestmark = pytest.mark.integration


def test_a_backup_restores_into_a_fresh_postgres_and_old_backups_expire(postgres_server, s3_endpoint):
    docker_ready(platform_image())
    recording = recording_of("local")
    work = Path(tempfile.mkdtemp(prefix="mlops-backup-"))
    cluster = LocalCluster(recording, work)
    containers = ContainerCluster(recording, work)  # the same pod folders: the upload sees the dump's files
    credentials = cluster.object("Secret", "postgres-credentials", "mlops")["stringData"]
    script, env_spec = rendered_postgres_setup(work)
    passwords = {c: credentials[f"{c}-password"] for c in consumer_passwords(env_spec)}
    assert run_setup(script, env_spec, postgres_server, passwords).returncode == 0
    # In the cluster the server is initialised with the admin password of the Secret; here too.
    with psycopg.connect(host="127.0.0.1", port=postgres_server["port"], dbname="postgres", user="postgres",
                         password=postgres_server["admin_password"], autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("ALTER ROLE postgres PASSWORD {}").format(psycopg.sql.Literal(credentials["password"])))
    with psycopg.connect(host="127.0.0.1", port=postgres_server["port"], dbname="mlflow", user="mlflow", password=passwords["mlflow"]) as conn:
        conn.execute("CREATE TABLE experiments (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO experiments VALUES (1, 'churn'), (2, 'fraud')")

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    s3.create_bucket(Bucket="backups")
    s3.put_object(Bucket="backups", Key="postgres/20200101T000000Z/mlflow.dump", Body=b"an old backup")
    cluster.expose("postgres.mlops.svc.cluster.local:5432", postgres_server["port"])
    cluster.expose("seaweedfs.mlops.svc.cluster.local:8333", int(s3_endpoint.rsplit(":", 1)[1]))
    containers.addresses = cluster.addresses

    dump = cluster.container("CronJob", "postgres-backup", "dump", init=True)
    dump.env["PATH"] = os.pathsep.join([*map(str, POSTGRES_BIN_DIRS), dump.env["PATH"]])
    # PGHOST is the Service name (port apart), which resolves inside the cluster; here it is loopback.
    assert (dump.env["PGHOST"], dump.env["PGPORT"]) == ("postgres", "5432")
    dump.env.update(PGHOST="127.0.0.1", PGPORT=str(postgres_server["port"]))
    dumped = dump.run(timeout=300)
    assert dumped.returncode == 0, dumped.stderr
    assert passwords["mlflow"] not in dumped.stdout + dumped.stderr

    upload = containers.container("CronJob", "postgres-backup", "upload")
    # The object store's key for backups, which reaches the backups bucket only; never the admin's.
    assert upload.env["AWS_ACCESS_KEY_ID"] == "mlops-backup"
    uploaded = upload.run(timeout=300)
    assert uploaded.returncode == 0, uploaded.stderr
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="backups", Prefix="postgres/")["Contents"])
    stamp = keys[0].split("/")[1]
    # One dump per consumer's database, and the roles.
    databases = config_of("local").database_consumers  # the warehouse's included; a BI reader's login has no database
    assert keys == sorted(f"postgres/{stamp}/{name}" for name in ["globals.sql", *(f"{c}.dump" for c in databases)])
    assert "deleted 1 expired files" in uploaded.stdout  # the 2020 backup is past the 7 days

    # Restore into a PostgreSQL that has never seen this data.
    restore_dir = work / "restore"
    restore_dir.mkdir()
    for name in ("globals.sql", "mlflow.dump"):
        s3.download_file("backups", f"postgres/{stamp}/{name}", str(restore_dir / name))
    globals_sql = (restore_dir / "globals.sql").read_text()
    assert "CREATE ROLE mlflow" in globals_sql and passwords["mlflow"] not in globals_sql
    psql, pg_restore = need("psql", *POSTGRES_BIN_DIRS), need("pg_restore", *POSTGRES_BIN_DIRS)
    with running_postgres() as fresh:
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(fresh["port"]), "PGUSER": "postgres", "PGPASSWORD": fresh["admin_password"]}
        subprocess.run([psql, "--quiet", "--dbname", "postgres", "--file", str(restore_dir / "globals.sql")], env=env, capture_output=True, check=True)
        subprocess.run([psql, "--dbname", "postgres", "--command", "CREATE DATABASE mlflow OWNER mlflow"], env=env, capture_output=True, check=True)
        restored = subprocess.run([pg_restore, "--dbname", "mlflow", "--no-owner", "--role", "mlflow", str(restore_dir / "mlflow.dump")],
                                  env=env, capture_output=True, text=True)
        assert restored.returncode == 0, restored.stderr
        with psycopg.connect(host="127.0.0.1", port=fresh["port"], dbname="mlflow", user="postgres", password=fresh["admin_password"]) as conn:
            assert conn.execute("SELECT id, name FROM experiments ORDER BY id").fetchall() == [(1, "churn"), (2, "fraud")]
