"""The warehouse's SQL against a real PostgreSQL: the owner's database and a BI reader that may
SELECT from the published schema, now and later, and may write nothing. (Branch `warehouse`: the
SQL is not rendered into the setup Job yet; psql runs it here as the Job will.)"""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest

from components.kubernetes.postgres import consumer_password_env, reader_sql, setup_sql
from tests.integration.conftest import POSTGRES_BIN_DIRS, need

pytestmark = pytest.mark.integration
PASSWORDS = {"warehouse": "owner-secret-1", "feast": "feast-secret-1", "tableau": "reader-secret-1"}


def psql(server: dict, script: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PGHOST": server["host"], "PGPORT": str(server["port"]), "PGUSER": "postgres",
           "PGPASSWORD": server["admin_password"], **{consumer_password_env(n): p for n, p in PASSWORDS.items()}}
    return subprocess.run([need("psql", *POSTGRES_BIN_DIRS), "--no-psqlrc", "--quiet"], input=script, env=env,
                          capture_output=True, text=True, timeout=60)


def connect(server: dict, user: str):
    return psycopg.connect(host=server["host"], port=server["port"], dbname="warehouse", user=user,
                           password=PASSWORDS[user], autocommit=True)


def test_the_reader_selects_from_the_published_schema_and_writes_nothing(postgres_server):
    script = setup_sql(("feast", "warehouse")) + reader_sql("warehouse", "published", ("tableau",))
    for run in (1, 2):  # again, as after a changed config: nothing fails
        done = psql(postgres_server, script)
        assert done.returncode == 0, (run, done.stderr)
    with connect(postgres_server, "warehouse") as owner:
        owner.execute("CREATE TABLE published.churn (customer_id int, probability float)")  # after the grants: default privileges
        owner.execute("INSERT INTO published.churn VALUES (1, 0.4)")
        owner.execute("CREATE TABLE public.staging_area (x int)")
    with connect(postgres_server, "tableau") as reader:
        assert reader.execute("SELECT customer_id, probability FROM published.churn").fetchall() == [(1, 0.4)]
        for statement in ("INSERT INTO published.churn VALUES (2, 0.5)", "UPDATE published.churn SET probability = 1",
                          "DROP TABLE published.churn", "CREATE TABLE published.mine (x int)", "SELECT * FROM public.staging_area"):
            with pytest.raises(psycopg.Error):
                reader.execute(statement)
    # The platform's other databases stay closed to it. (The maintenance database `postgres` is open to
    # every login, as PostgreSQL ships it: to be revoked where the server allows, next on this branch.)
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(host=postgres_server["host"], port=postgres_server["port"], dbname="feast", user="tableau",
                        password=PASSWORDS["tableau"]).close()
