"""Real servers as local processes on free loopback ports. In CI (CI=true) a missing server fails, never skips."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def need(binary: str, *search: Path) -> str:
    found = shutil.which(binary) or next((str(d / binary) for d in search if (d / binary).exists()), None)
    if found:
        return found
    message = f"{binary} is not installed (.ci/run installs it: apt-get install postgresql redis-server)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def as_unprivileged(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; CI runs as root, so drop to the postgres user there."""
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


ADMIN_PASSWORD = "AdminPassword1"


@pytest.fixture(scope="module")
def postgres_server():
    with running_postgres() as server:
        yield server


@contextlib.contextmanager
def running_postgres(tls: bool = False):
    """A PostgreSQL server of its own on a free loopback port, removed afterwards.

    With `tls`, it behaves like a managed server with `rds.force_ssl`: a self-signed certificate,
    and TCP connections without TLS are rejected."""
    initdb = need("initdb", *POSTGRES_BIN_DIRS)
    server = need("postgres", *POSTGRES_BIN_DIRS)
    need("psql", *POSTGRES_BIN_DIRS)
    need("pg_isready", *POSTGRES_BIN_DIRS)
    # Not under pytest's tmp folder: that one is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="mlops-postgres-"))
    os.chmod(base, 0o755)
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    pwfile = base / "pwfile"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        shutil.chown(pwfile, "postgres")
    init = subprocess.run(
        as_unprivileged([initdb, "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust"]),
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr
    options = ["-c", "listen_addresses=127.0.0.1"]
    if tls:
        certificate, key = base / "server.crt", base / "server.key"
        made = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-keyout", str(key), "-out", str(certificate)],
            capture_output=True, text=True,
        )
        assert made.returncode == 0, made.stderr
        os.chmod(key, 0o600)
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostnossl all all 127.0.0.1/32 reject\n"
        )
        if os.geteuid() == 0:
            for path in (certificate, key, data / "pg_hba.conf"):
                shutil.chown(path, "postgres")
        options += ["-c", "ssl=on", "-c", f"ssl_cert_file={certificate}", "-c", f"ssl_key_file={key}"]
    port = free_port()
    process = subprocess.Popen(
        as_unprivileged([server, "-D", str(data), "-p", str(port), "-k", str(sockets), *options]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield {"host": "127.0.0.1", "port": port, "admin_password": ADMIN_PASSWORD, "sockets": str(sockets)}
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def s3_endpoint():
    """An S3 endpoint of its own (moto) on a free loopback port: its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def redis_binary():
    return need("redis-server")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key; a client trusts it through SSL_CERT_FILE,
    REQUESTS_CA_BUNDLE or (in a container) its system bundle."""
    certificate, key = folder / "tls.crt", folder / "tls.key"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        capture_output=True, text=True,
    )
    assert made.returncode == 0, made.stderr
    os.chmod(key, 0o644)  # the servers of the tests run as other users than root
    return certificate, key


@pytest.fixture
def tls_certificate(tmp_path):
    return make_certificate(tmp_path)
