"""Hypothesis generates invalid stack configs; every one stops with clear lines naming the key, never a traceback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra import config
from infra.config import ConfigError
from mlops_stack.lifecycle import Lifecycle, LifecycleError

# Keys and a value of the wrong type, range or form for each.
BAD_VALUES = {
    ("backend",): st.sampled_from(["gcp", "AWS", "", "k8s"]) | st.integers() | st.lists(st.text(), max_size=2),
    ("environment",): st.sampled_from(["dev", "prod", "Production", ""]) | st.integers(),
    ("ephemeral",): st.sampled_from(["maybe", "yes please"]) | st.lists(st.booleans(), min_size=1, max_size=2),
    ("namespaces", "platform"): st.from_regex(r"[A-Z_ ]{1,10}", fullmatch=True) | st.text(min_size=64, max_size=70, alphabet="abc"),
    ("services", "postgres", "replicas"): st.integers(min_value=2, max_value=50) | st.integers(max_value=0) | st.just("three"),
    ("services", "postgres", "storage"): st.sampled_from(["lots", "20 GB", "-1Gi", "1.5.3Gi"]),
    ("services", "redis", "image"): st.sampled_from(["redis", "redis:latest", "docker.io/library/redis"]),
    ("services", "objectStore", "replicas"): st.sampled_from([2, 0, -4]),
    ("services", "objectStore", "server"): st.sampled_from(["ceph", "MinIO", "", "s3"]),
    ("services", "mlflow", "workers"): st.integers(max_value=0) | st.integers(min_value=65, max_value=10_000),
    ("services", "mlflow", "ingress"): st.just({"enabled": True}),
    ("services", "feast", "offlineStore"): st.sampled_from(["duckdb", "bigquery", "snowflake", ""]),
    ("services", "feast", "materializeSchedule"): st.sampled_from(["hourly", "* * *", "every 5 minutes", ""]),
    ("services", "feast", "repository"): st.just({"path": "relative/dir"}) | st.just({"git": "github.com/o/r"}),
    ("services", "evidently", "replicas"): st.integers(min_value=2, max_value=9),
    ("services", "airflow", "parallelism"): st.integers(max_value=0) | st.integers(min_value=1025, max_value=99_999),
    ("services", "airflow", "dags"): st.just({"git": "https://github.com/o/r.git", "path": "../up"}),
    ("services", "airflow", "mode"): st.sampled_from(["managed", "serverless", "IN-CLUSTER"]),
    ("services", "notebooks", "cullIdleMinutes"): st.integers(max_value=9) | st.integers(min_value=10081) | st.just("hourly"),
    ("services", "notebooks", "users"): st.lists(st.sampled_from(["Alice", "a", "bob smith", "9lives"]), min_size=1, max_size=3),
    ("services", "notebooks", "gpu"): st.just({"count": 0}) | st.just({"resource": "a b"}),
    ("labels",): st.dictionaries(st.sampled_from(["team", "cost center", "a/b/c"]), st.sampled_from(["x y", "ok", "-bad-"]), min_size=1).filter(
        lambda d: any(" " in k or k.count("/") > 1 or " " in v or v.startswith("-") for k, v in d.items())),
    ("cluster", "create"): st.just(True),
    ("services",): st.text(max_size=5) | st.lists(st.integers(), max_size=2),
    ("services", "postgres"): st.integers() | st.text(max_size=4),
    ("services", "mlflow", "resources", "memory"): st.sampled_from(["lots", "1 GiB", ""]) | st.integers(),
    ("namespaces",): st.just(["mlops"]),
    ("gitSyncImage",): st.sampled_from(["git-sync", "registry.k8s.io/git-sync/git-sync:latest"]),
}
KNOWN_PATHS = sorted(BAD_VALUES)
IDENTIFIER = st.from_regex(r"[a-z][a-zA-Z]{2,12}", fullmatch=True)


def nested(path: tuple[str, ...], value) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


@st.composite
def invalid_configs(draw):
    """One to three problems: a bad value at a known key, or an unknown key at some level."""
    values: dict = {}
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if draw(st.booleans()):
            path = draw(st.sampled_from(KNOWN_PATHS))
            values = merge(values, nested(path, draw(BAD_VALUES[path])))
        else:
            parent = draw(st.sampled_from([(), ("services",), ("services", "postgres"), ("services", "airflow"), ("cluster",), ("namespaces",)]))
            key = draw(IDENTIFIER.filter(lambda k: k not in {"backend", "environment", "ephemeral", "protect", "cluster", "namespaces",
                                                                "labels", "services", "postgres", "redis", "mlflow", "feast", "airflow",
                                                                "evidently", "mode", "image", "replicas", "resources", "storage",
                                                                "context", "kubeconfig", "create", "name", "platform", "pipelines",
                                                                "dags", "parallelism", "ingress", "workers", "objectStore", "gitSyncImage",
                                                                "storageClass"}))
            values = merge(values, nested((*parent, key), draw(st.integers() | st.text(max_size=5))))
    return values


def assert_clear(message: str) -> None:
    lines = message.splitlines()
    if len(lines) == 1:
        assert lines[0].startswith("mlops:"), message
    else:
        assert lines[0] == "invalid stack configuration:", message
        assert all(line.startswith("  mlops:") for line in lines[1:]), message
    assert "Traceback" not in message and "pydantic" not in message.lower(), message


@given(values=invalid_configs(), stack=st.sampled_from(["local", "staging", "staging-pr-7", "production"]))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_invalid_config_is_refused_with_lines_naming_the_keys(values, stack):
    with pytest.raises(ConfigError) as refused:
        config.load(stack, values)
    assert_clear(str(refused.value))


def test_the_cli_prints_the_refusal_without_a_traceback(tmp_path):
    (tmp_path / "Pulumi.local.yaml").write_text("config:\n  mlops:services:\n    mlflow:\n      workers: 0\n    feast:\n      offlineStore: duckdb\n")
    result = subprocess.run([sys.executable, "-m", "mlops_stack.cli", "render", "local", "--dir", str(tmp_path), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "mlops:services.mlflow.workers: 0 is not allowed" in result.stderr
    assert "mlops:services.feast.offlineStore: 'duckdb' is not allowed; allowed: file, postgres or warehouse" in result.stderr


class NoBackend:
    def __getattr__(self, name):
        raise AssertionError(f"the lifecycle called {name} before validating its input")


@given(pr=st.integers(max_value=0), ttl=st.integers())
@settings(max_examples=100, deadline=None)
def test_the_lifecycle_refuses_bad_input_before_touching_any_stack(pr, ttl):
    run = Lifecycle(NoBackend(), config_dir(), now=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), log=lambda _: None)
    with pytest.raises(LifecycleError) as refused:
        run.up(pr, "me", ttl)
    assert "\n" not in str(refused.value) and ("--pr:" in str(refused.value) or "--ttl-hours:" in str(refused.value))


@given(text=st.sampled_from(["config: [1, 2]", "- a\n- b", "config: ok", "{{{{", "config:\n  a: [\n"]))
@settings(max_examples=20, deadline=None)
def test_a_broken_staging_file_is_one_clear_lifecycle_error(text, tmp_path_factory):
    folder = tmp_path_factory.mktemp("project")
    (folder / "Pulumi.staging.yaml").write_text(text)
    with pytest.raises(LifecycleError) as refused:
        Lifecycle(NoBackend(), folder, log=lambda _: None)._template_config()
    assert "Pulumi.staging.yaml" in str(refused.value) and "\n" not in str(refused.value)


def config_dir():
    from mlops_stack.offline import REPO_ROOT

    return REPO_ROOT
