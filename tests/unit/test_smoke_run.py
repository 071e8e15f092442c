"""`mlops-stack smoke STACK` against a fake Kubernetes API: the rendered Job, a name of its own, the log, the status."""

from __future__ import annotations

import argparse
import io
from datetime import datetime, timezone
from types import SimpleNamespace as NS

from tests import fixtures
from mlops_stack import cli, offline, smoke_run


class FakeApi:
    def __init__(self, outcome: str, log: list[bytes]):
        self.outcome, self.log, self.created = outcome, log, []
        self.polls = 0

    # BatchV1Api
    def create_namespaced_job(self, namespace, body):
        self.created.append((namespace, body))

    def read_namespaced_job_status(self, name, namespace):
        return NS(status=NS(succeeded=1 if self.outcome == "ok" else None, failed=1 if self.outcome == "fail" else None))

    # CoreV1Api
    def list_namespaced_pod(self, namespace, label_selector):
        self.polls += 1
        if self.polls < 2:  # not scheduled yet
            return NS(items=[])
        return NS(items=[NS(metadata=NS(name="mlops-smoke-manual-1-abcde"), status=NS(phase="Running"))])

    def read_namespaced_pod_log(self, name, namespace, follow, _preload_content):
        return NS(stream=lambda: iter(self.log))


def test_the_job_is_the_rendered_check_under_a_name_of_its_own():
    manifest = smoke_run.job_manifest("local", now=datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc))
    rendered = offline.run("local", fixtures.stack_config("local")).one("kubernetes:batch/v1:Job", "smoke-job").inputs
    assert manifest["metadata"]["name"] == "mlops-smoke-manual-20261128120000"
    assert manifest["metadata"]["namespace"] == "mlops-pipelines"
    assert manifest["spec"]["template"]["spec"]["containers"][0]["command"] == rendered["spec"]["template"]["spec"]["containers"][0]["command"]


def test_the_log_is_streamed_and_the_exit_status_is_the_checks():
    manifest = smoke_run.job_manifest("local")
    for outcome, status in (("ok", 0), ("fail", 1)):
        api, out = FakeApi(outcome, [b"postgres:mlflow  ok  0.10s  mlflow@mlflow\n", b"12 of 12 checks ok\n"]), io.StringIO()
        assert smoke_run.run(manifest, api, api, out, sleep=lambda s: None) == status
        assert api.created == [("mlops-pipelines", manifest)]
        assert "postgres:mlflow  ok" in out.getvalue() and out.getvalue().startswith(f"job mlops-pipelines/{manifest['metadata']['name']} created")


def test_a_stack_without_the_check_says_how_to_get_it(tmp_path, capsys):
    (tmp_path / "Pulumi.quiet.yaml").write_text("config:\n  mlops:environment: local\n  mlops:smoke:\n    enabled: false\n")
    args = argparse.Namespace(stack="quiet", dir=tmp_path, kubeconfig=None, context=None)
    assert cli._smoke(args, api=(None, None)) == 2
    assert capsys.readouterr().err == "mlops-stack smoke quiet: stack quiet has no smoke check: set mlops:smoke.enabled to true (the default)\n"
