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
    warehouse = ["warehouse"] if config.env["MLOPS_WAREHOUSE_KIND"] else []  # the fixtures of both have one
    assert warehouse and found == ["postgres:airflow", "postgres:feast", "postgres:mlflow", "bucket:artifacts", "bucket:feature-store",
                                   "bucket:lake", "bucket:monitoring", *warehouse, "mlflow", "feast:registry", "feast:online", "evidently",
                                   "airflow"]


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


def test_a_sagemaker_variant_is_invoked_through_sagemaker_runtime_with_its_target_variant(monkeypatch):
    import boto3
    import requests
    from moto import mock_aws

    from tests.render.test_serving import MANAGED_A, MANAGED_B, managed

    config = resolved(managed(MANAGED_A, MANAGED_B).result.complete)
    env = {**config.env, **config.secret_env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    sent: list[dict] = []
    original = boto3.client

    def recording_client(service, **kwargs):
        client = original(service, **kwargs)
        client.meta.events.register("provide-client-params.sagemaker-runtime.InvokeEndpoint", lambda params, **_: sent.append(dict(params)))
        return client

    with mock_aws():
        # moto answers invoke_endpoint with the results queued here, in order.
        requests.post("http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results", json={
            "account_id": "123456789012", "region": "eu-west-1",
            "results": [{"Body": '{"predictions": [1]}', "ContentType": "application/json", "InvokedProductionVariant": "a"},
                        {"Body": '{"predictions": [0]}', "ContentType": "application/json", "InvokedProductionVariant": "b"}],
        })
        monkeypatch.setattr(boto3, "client", recording_client)
        checks = dict((name, check) for name, check in (names_and_checks(monkeypatch, env, requests={"churn": {"inputs": [[0.5]]}})))
        assert set(k for k in checks if k.startswith("serving:")) == {"serving:churn/a", "serving:churn/b"}
        # The endpoint's name and kind come from the pipeline config, not from its URL.
        name = env["MLOPS_SERVING_CHURN_NAME"]
        assert env["MLOPS_SERVING_CHURN_KIND"] == "sagemaker" and name.startswith("mlops-production-churn-")
        assert checks["serving:churn/a"]() == f'{name}/a predicted: {{"predictions": [1]}}'
        assert checks["serving:churn/b"]() == f'{name}/b predicted: {{"predictions": [0]}}'
    assert [(p["EndpointName"], p["TargetVariant"], p["ContentType"]) for p in sent] == [
        (name, "a", "application/json"), (name, "b", "application/json")]
    assert sent[0]["Body"] == b'{"inputs": [[0.5]]}'
    # Without a smokeRequest, Pulumi's wait for InService is the check.
    without = dict(names_and_checks(monkeypatch, env))
    assert without["serving:churn/a"]() == f"{name}/a is a SageMaker variant (no smokeRequest for a prediction)"


def names_and_checks(monkeypatch, env: dict[str, str], **kwargs):
    names(monkeypatch, env)
    return smoke.checks(**kwargs)


def test_an_azure_ml_deployment_is_called_with_an_entra_token_and_its_deployment_header(monkeypatch):
    import io
    import json

    from tests.render.test_serving import AZURE_A, AZURE_B, on_azure

    config = resolved(on_azure(AZURE_A, AZURE_B).result.complete)
    env = {**config.env, **config.secret_env}
    sent = []

    def scoring_endpoint(request, timeout):
        sent.append(request)
        deployment = request.get_header("Azureml-model-deployment")
        return io.BytesIO(json.dumps({"predictions": [1 if deployment == "churn-a" else 0]}).encode())

    monkeypatch.setattr(smoke, "azure_ml_token", lambda: "entra-token")
    monkeypatch.setattr(smoke.urllib.request, "urlopen", scoring_endpoint)
    checks = dict(names_and_checks(monkeypatch, env, requests={"churn": {"inputs": [[0.5]]}}))
    assert checks["serving:churn/a"]() == 'churn-a predicted: {"predictions": [1]}'
    assert checks["serving:churn/b"]() == 'churn-b predicted: {"predictions": [0]}'
    url = env["MLOPS_SERVING_CHURN_URL"]
    assert [(r.full_url, r.get_method(), r.get_header("Authorization"), r.get_header("Azureml-model-deployment")) for r in sent] == [
        (url, "POST", "Bearer entra-token", "churn-a"), (url, "POST", "Bearer entra-token", "churn-b")]
    assert json.loads(sent[0].data) == {"inputs": [[0.5]]}
    without = dict(names_and_checks(monkeypatch, env))
    assert without["serving:churn/a"]() == "churn-a is an Azure ML deployment (no smokeRequest for a prediction)"
