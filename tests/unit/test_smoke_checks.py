"""Which checks the post-deploy check runs, decided by the pipeline config alone."""

from __future__ import annotations

import pytest

from mlops_jobs import smoke
from tests.conftest import recording_of, resolved


def names(monkeypatch, env: dict[str, str], **kwargs) -> list[str]:
    for key in list(__import__("os").environ):
        if key.startswith(("MLOPS_", "MLFLOW_", "AWS_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return [name for name, _ in smoke.checks(**kwargs)]


@pytest.mark.parametrize("stack", ["local", "staging"])
def test_every_service_of_the_pipeline_config_gets_a_check(monkeypatch, stack):
    config = resolved(recording_of(stack).result.complete)
    found = names(monkeypatch, {**config.env, **config.secret_env}, skip_endpoints=frozenset({"churn"}))
    assert found == ["postgres:airflow", "postgres:feast", "postgres:mlflow", "bucket:artifacts", "bucket:feature-store",
                     "bucket:lake", "bucket:monitoring", "mlflow", "feast:registry", "feast:online", "evidently", "airflow"]


def test_only_variants_with_traffic_are_checked(monkeypatch):
    config = resolved(recording_of("local").result.complete)
    env = {**config.env, **config.secret_env, "MLOPS_SERVING_CHURN_WEIGHTS": "a=100,b=0"}
    assert [n for n in names(monkeypatch, env) if n.startswith("serving:")] == ["serving:churn/a"]


def test_managed_mlflow_and_airflow_are_left_to_their_provider(monkeypatch):
    config = resolved(recording_of("local").result.complete)
    env = {**config.env, **config.secret_env, "MLOPS_MLFLOW_PLUGIN": "sagemaker-mlflow", "MLOPS_AIRFLOW_USER": ""}
    found = names(monkeypatch, env)
    assert "mlflow" not in found and "airflow" not in found and "evidently" in found


def test_a_failed_check_is_one_line_with_the_reason_and_the_exit_status_is_1(monkeypatch, capsys):
    monkeypatch.setattr(smoke, "checks", lambda *a, **k: [("ok-check", lambda: "fine"), ("bad-check", lambda: 1 / 0)])
    assert smoke.main([]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["ok-check", "ok"] and lines[0].endswith("fine")
    assert lines[1].split()[:2] == ["bad-check", "FAIL"] and lines[1].endswith("ZeroDivisionError: division by zero")
    assert lines[2] == "1 of 2 checks ok; failed: bad-check"
