"""The rendered commands, scripts and config of PostgreSQL and Redis, run against the real servers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest
import redis

from components.kubernetes import postgres as postgres_component
from components.kubernetes import redis as redis_component
from mlops_stack import offline
from tests.conftest import config_of, recording_of
from tests.integration.conftest import POSTGRES_BIN_DIRS, as_unprivileged, free_port, running_postgres, wait_for_port

pytestmark = pytest.mark.integration


def rendered_postgres_setup(tmp_path: Path) -> tuple[Path, list[dict]]:
    """The setup Job's scripts (from its ConfigMap) and its container env, as rendered for the local stack."""
    recording = recording_of("local")
    scripts = recording.one("kubernetes:core/v1:ConfigMap", "postgres-setup-scripts").inputs["data"]
    for name, content in scripts.items():
        (tmp_path / name).write_text(content)
    job = recording.one("kubernetes:batch/v1:Job", "postgres-setup").inputs
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "/setup/setup.sh"]
    return tmp_path / "setup.sh", container["env"]


def consumer_passwords(env_spec: list[dict]) -> dict[str, str]:
    """A password for every consumer the rendered Job asks for (its `<consumer>-password` keys)."""
    consumers = [item["valueFrom"]["secretKeyRef"]["key"].removesuffix("-password") for item in env_spec
                 if "valueFrom" in item and item["valueFrom"]["secretKeyRef"]["key"] != "password"]
    return {consumer: f"{consumer.capitalize()}Pw{index}" for index, consumer in enumerate(consumers, 1)}


def run_setup(script: Path, env_spec: list[dict], server: dict, passwords: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"PATH": os.pathsep.join([*map(str, POSTGRES_BIN_DIRS), os.environ["PATH"]])}
    for item in env_spec:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            key = item["valueFrom"]["secretKeyRef"]["key"]
            env[item["name"]] = server["admin_password"] if key == "password" else passwords[key.removesuffix("-password")]
    # The Service name resolves inside the cluster; here the server is on loopback.
    env.update(PGHOST=server["host"], PGPORT=str(server["port"]))
    return subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True, timeout=120)


def connect(server: dict, database: str, user: str, password: str) -> psycopg.Connection:
    return psycopg.connect(host=server["host"], port=server["port"], dbname=database, user=user, password=password, connect_timeout=5)


def test_setup_job_creates_one_database_and_login_per_consumer(postgres_server, tmp_path):
    script, env_spec = rendered_postgres_setup(tmp_path)
    passwords = consumer_passwords(env_spec)
    cfg = config_of("local")
    assert set(passwords) == {*cfg.database_consumers, *cfg.warehouse.readers}  # readers: tests/integration/test_warehouse.py
    result = run_setup(script, env_spec, postgres_server, passwords)
    assert result.returncode == 0, result.stderr
    assert not any(password in result.stdout + result.stderr for password in passwords.values())

    for consumer in cfg.database_consumers:
        password = passwords[consumer]
        with connect(postgres_server, consumer, consumer, password) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS probe (id int)")
            conn.execute("INSERT INTO probe VALUES (1)")
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (consumer, consumer)
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)

    # A consumer cannot open another consumer's database.
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connect(postgres_server, "feast", "mlflow", passwords["mlflow"])

    # Running it again (a replaced Job) is harmless, and applies a rotated password.
    rotated = {**passwords, "mlflow": "MlflowRotated9"}
    again = run_setup(script, env_spec, postgres_server, rotated)
    assert again.returncode == 0, again.stderr
    with connect(postgres_server, "mlflow", "mlflow", "MlflowRotated9") as conn:
        assert conn.execute("SELECT count(*) FROM probe").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(postgres_server, "mlflow", "mlflow", passwords["mlflow"])


def set_up_like_rds(server: dict, tmp_path: Path, stack: str = "staging",
                    passwords: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """An admin login like RDS's master user or Flexible Server's administrator (CREATEROLE, CREATEDB,
    no superuser), then the cloud stack's rendered setup Job run with it; the result and the consumers' passwords."""
    recording = recording_of(stack)
    scripts = recording.one("kubernetes:core/v1:ConfigMap", "postgres-setup-scripts").inputs["data"]
    for name, content in scripts.items():
        (tmp_path / name).write_text(content)
    env_spec = recording.one("kubernetes:batch/v1:Job", "postgres-setup").inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    admin = next(e["value"] for e in env_spec if e["name"] == "PGUSER")
    psql = next(str(d / "psql") for d in POSTGRES_BIN_DIRS if (d / "psql").exists())
    created = subprocess.run(
        as_unprivileged([psql, "-h", server["sockets"], "-p", str(server["port"]), "-U", "postgres", "-d", "postgres", "-c",
                         f"CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB PASSWORD '{server['admin_password']}'"]),
        capture_output=True, text=True,
    )
    assert created.returncode == 0, created.stderr
    passwords = passwords or consumer_passwords(env_spec)
    cfg = config_of(stack)
    assert set(passwords) == {*cfg.database_consumers, *(cfg.warehouse.readers if cfg.warehouse else ())}
    return run_setup(tmp_path / "setup.sh", env_spec, server, passwords), passwords


@pytest.mark.parametrize("stack", ["staging", "production-azure"])
def test_on_the_clouds_the_setup_job_creates_the_databases_as_a_non_superuser_admin_over_tls(tmp_path, stack):
    """RDS and Flexible Server give no superuser: their admin login may create roles and databases, and
    TLS is required (rds.force_ssl, require_secure_transport). Each cloud stack's rendered Job must work
    against exactly that."""
    with running_postgres(tls=True) as server:
        result, passwords = set_up_like_rds(server, tmp_path, stack)
        assert result.returncode == 0, result.stderr
        for consumer in config_of(stack).database_consumers:
            password = passwords[consumer]
            with psycopg.connect(host=server["host"], port=server["port"], dbname=consumer, user=consumer, password=password,
                                 sslmode="require", connect_timeout=5) as conn:
                assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
                assert conn.execute("SELECT datdba::regrole::text FROM pg_database WHERE datname = current_database()").fetchone() == (consumer,)
        with pytest.raises(psycopg.OperationalError, match="no encryption|rejects connection"):
            psycopg.connect(host=server["host"], port=server["port"], dbname="feast", user="feast", password=passwords["feast"], sslmode="disable")


def test_setup_fails_loudly_when_a_password_is_missing(postgres_server, tmp_path):
    script, env_spec = rendered_postgres_setup(tmp_path)
    env_spec = [e for e in env_spec if e["name"] != postgres_component.consumer_password_env("feast")]
    passwords = {consumer: password for consumer, password in consumer_passwords(env_spec).items() if consumer != "feast"}
    result = run_setup(script, env_spec, postgres_server, passwords)
    assert result.returncode != 0
    assert "MLOPS_FEAST_PASSWORD is not set" in result.stderr


def test_redis_runs_with_the_rendered_arguments_and_password(redis_binary, tmp_path):
    recording = recording_of("local")
    secret = recording.one("kubernetes:core/v1:Secret", "redis-credentials").inputs["stringData"]
    assert offline.is_secret_value(secret)
    secret = secret["value"]
    container = recording.one("kubernetes:apps/v1:StatefulSet", "redis-statefulset").inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["redis-server"]
    args = list(container["args"])
    assert args[0] == redis_component.AUTH_CONF and "requirepass" not in " ".join(args)

    (tmp_path / "auth.conf").write_text(secret["auth.conf"])
    port = free_port()
    args[0] = str(tmp_path / "auth.conf")
    args[args.index("--port") + 1] = str(port)
    args[args.index("--dir") + 1] = str(tmp_path)
    process = subprocess.Popen([redis_binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        client = redis.Redis(host="127.0.0.1", port=port, password=secret["password"])
        client.set("feast:probe", "1")
        assert client.get("feast:probe") == b"1"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).get("feast:probe")
        # The readiness probe, as rendered, succeeds with the password from REDISCLI_AUTH.
        probe = container["readinessProbe"]["exec"]["command"]
        probe = [part.replace("-p 6379", f"-p {port}") for part in probe]
        ok = subprocess.run(probe, env={**os.environ, "REDISCLI_AUTH": secret["password"]}, capture_output=True)
        assert ok.returncode == 0
        denied = subprocess.run(probe, env={**os.environ, "REDISCLI_AUTH": "wrong"}, capture_output=True)
        assert denied.returncode != 0
    finally:
        process.terminate()
        process.wait(timeout=30)
