"""The environment lifecycle against a fake Automation API backend: the calls, their order, the refusals."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import fixtures
from infra.config import stack_values
from mlops_stack import cli
from mlops_stack.lifecycle import ConfigEntry, Lifecycle, LifecycleError, PreviewSummary
from mlops_stack.offline import REPO_ROOT

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)


class FakeBackend:
    """Records every call; stacks, their config and tags live in memory. `fail` makes calls raise."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.stacks: dict[str, dict] = {}
        self.fail: dict[str, list[Exception]] = {}

    def _call(self, name: str, *args):
        self.calls.append((name, *args))
        errors = self.fail.get(name)
        if errors:
            raise errors.pop(0)

    def add(self, stack: str, tags: dict[str, str] | None = None, config: dict[str, str] | None = None):
        self.stacks[stack] = {"tags": dict(tags or {}), "config": {k: ConfigEntry(v) for k, v in (config or {}).items()}}

    def list_stacks(self):
        self._call("list_stacks")
        return list(self.stacks)

    def exists(self, stack):
        self._call("exists", stack)
        return stack in self.stacks

    def create_or_select(self, stack):
        self._call("create_or_select", stack)
        self.stacks.setdefault(stack, {"tags": {}, "config": {}})

    def get_all_config(self, stack):
        self._call("get_all_config", stack)
        return dict(self.stacks[stack]["config"])

    def set_all_config(self, stack, values):
        self._call("set_all_config", stack, dict(values))
        self.stacks[stack]["config"].update(values)

    def list_tags(self, stack):
        self._call("list_tags", stack)
        return dict(self.stacks[stack]["tags"])

    def set_tag(self, stack, key, value):
        self._call("set_tag", stack, key, value)
        self.stacks[stack]["tags"][key] = value

    def up(self, stack):
        self._call("up", stack)
        return {"environment": "staging", "services": {"mlflow": "http://mlflow.mlops.svc.cluster.local:5000"}, "pipelineDotenv": "secret"}

    def preview(self, stack, policy_packs):
        self._call("preview", stack, list(policy_packs))
        return PreviewSummary(stack=stack, changes={"create": 3, "same": 40}, output="+ 3 to create")

    def destroy(self, stack):
        self._call("destroy", stack)

    def remove(self, stack):
        self._call("remove", stack)
        del self.stacks[stack]

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def lifecycle_for(backend: FakeBackend, project: Path = fixtures.STACKS_DIR, **kwargs) -> tuple[Lifecycle, list[float], list[str]]:
    sleeps: list[float] = []
    logged: list[str] = []
    run = Lifecycle(backend, project, now=lambda: NOW, sleep=sleeps.append, log=logged.append, **kwargs)
    return run, sleeps, logged


def test_up_copies_the_staging_config_marks_the_stack_ephemeral_tags_it_then_deploys():
    backend = FakeBackend()
    run, _, logged = lifecycle_for(backend)
    public = run.up(42, owner="octo-cat", ttl_hours=48)

    assert backend.names() == ["create_or_select", "set_all_config", "set_tag", "set_tag", "set_tag", "set_tag", "up"]
    config = backend.calls[1][2]
    staging = stack_values("staging", fixtures.STACKS_DIR)
    # Every plain key of Pulumi.staging.yaml arrives, as a --path key.
    assert config["mlops:backend"] == ConfigEntry(staging["mlops:backend"])
    assert config["mlops:owner"] == ConfigEntry(staging["mlops:owner"])
    assert config["mlops:aws.region"] == ConfigEntry(staging["mlops:aws"]["region"])
    for key, value in staging.get("mlops:labels", {}).items():
        assert config[f"mlops:labels.{key}"] == ConfigEntry(value)
    assert config["mlops:ephemeral"] == ConfigEntry("true") and config["mlops:protect"] == ConfigEntry("false")
    # Owner, PR and expiry: stack tags, and labels on every resource.
    expires = "20261130T1200Z"
    assert config['mlops:labels["mlops-stack/owner"]'] == ConfigEntry("octo-cat")
    assert config['mlops:labels["mlops-stack/expires"]'] == ConfigEntry(expires)
    assert backend.stacks["staging-pr-42"]["tags"] == {
        "mlops-stack:ephemeral": "true", "mlops-stack:owner": "octo-cat", "mlops-stack:pr": "42", "mlops-stack:expires": expires,
    }
    # It prints the pipeline config outputs, never a secret one.
    assert public == {"environment": "staging", "services": {"mlflow": "http://mlflow.mlops.svc.cluster.local:5000"}}
    assert not any("secret" in line for line in logged)

    # Running it again updates the same stack.
    run.up(42, owner="octo-cat")
    assert [c[1] for c in backend.calls if c[0] == "create_or_select"] == ["staging-pr-42", "staging-pr-42"]


def test_the_copied_config_is_what_the_program_accepts_for_an_ephemeral_stack():
    from infra import config as stack_config

    config = Lifecycle(FakeBackend(), fixtures.STACKS_DIR)._template_config()
    nested: dict = {}
    for key, entry in config.items():
        if key.startswith("mlops:"):
            # Path keys as `pulumi config set --path` reads them: names, ["quoted keys"] and [list indices].
            parts: list = [int(i) if i else (q or n) for n, q, i in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)|\["([^"]+)"\]|\[(\d+)\]', key.removeprefix("mlops:"))]
            target: Any = nested
            for part, following in zip(parts, parts[1:]):
                empty = [] if isinstance(following, int) else {}
                if isinstance(part, int):
                    target.extend({} for _ in range(part + 1 - len(target)))
                    target[part] = target[part] or empty
                else:
                    target.setdefault(part, empty)
                target = target[part]
            if isinstance(parts[-1], int):  # a list of scalars, e.g. warehouse.readers[0]
                target.extend(None for _ in range(parts[-1] + 1 - len(target)))
            target[parts[-1]] = entry.value
    loaded = stack_config.load("staging-pr-42", {**nested, "ephemeral": True, "protect": False})
    assert loaded.ephemeral and not loaded.protect and loaded.environment.value == "staging"
    # Lists (the serving variants) come back whole, their numbers and booleans from strings.
    (churn,) = loaded.serving.endpoints
    assert [(v.name, v.weight) for v in churn.variants] == [("a", 90), ("b", 10)] and churn.await_ready is False


def test_secrets_of_the_staging_file_are_read_through_the_staging_stack(tmp_path):
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump({"config": {
        "mlops:backend": "ensemble", "mlops:services": {"postgres": {"storage": "20Gi"}}, "app:token": {"secure": "v1:abc"},
    }}))
    backend = FakeBackend()
    backend.add("staging", config={"app:token": "plain-token"})
    run, _, _ = lifecycle_for(backend, tmp_path)
    run.up(7, owner="me")
    config = backend.calls[[c[0] for c in backend.calls].index("set_all_config")][2]
    assert config["app:token"] == ConfigEntry("plain-token", secret=True)
    assert config["mlops:services.postgres.storage"] == ConfigEntry("20Gi")


def test_down_destroys_before_it_removes():
    backend = FakeBackend()
    backend.add("staging-pr-42", tags={"mlops-stack:ephemeral": "true"}, config={"mlops:ephemeral": "true"})
    run, _, _ = lifecycle_for(backend)
    assert run.down(42) == "destroyed"
    assert [c for c in backend.calls if c[0] in ("destroy", "remove")] == [("destroy", "staging-pr-42"), ("remove", "staging-pr-42")]
    assert "staging-pr-42" not in backend.stacks
    # Already gone: nothing to do, and no error.
    assert run.down(42) == "absent"


@pytest.mark.parametrize("tags,config,reason", [
    ({}, {"mlops:ephemeral": "true"}, "no tag mlops-stack:ephemeral=true"),
    ({"mlops-stack:ephemeral": "true"}, {}, "does not set mlops:ephemeral: true"),
])
def test_down_refuses_a_stack_that_is_not_ephemeral(tags, config, reason):
    backend = FakeBackend()
    backend.add("staging-pr-5", tags=tags, config=config)
    run, _, _ = lifecycle_for(backend)
    with pytest.raises(LifecycleError, match=f"refusing to destroy staging-pr-5: .*{reason}"):
        run.down(5)
    assert "destroy" not in backend.names() and "remove" not in backend.names()


def test_production_and_other_named_stacks_are_never_torn_down():
    backend = FakeBackend()
    backend.add("production", tags={"mlops-stack:ephemeral": "true"}, config={"mlops:ephemeral": "true"})
    run, _, _ = lifecycle_for(backend)
    with pytest.raises(LifecycleError, match="refusing to destroy production: its name is not staging-pr-<N>; it is production"):
        run._refuse_unless_ephemeral("production")
    with pytest.raises(LifecycleError, match="--pr: 0 is not allowed"):
        run.down(0)


def test_transient_failures_are_retried_with_backoff_and_others_are_not():
    backend = FakeBackend()
    backend.add("staging-pr-9", tags={"mlops-stack:ephemeral": "true"}, config={"mlops:ephemeral": "true"})
    backend.fail["destroy"] = [RuntimeError("error: rate exceeded (429)"), RuntimeError("connection reset by peer")]
    run, sleeps, logged = lifecycle_for(backend, first_delay=5)
    run.down(9)
    assert backend.names().count("destroy") == 3 and sleeps == [5, 10]
    assert backend.names().index("remove") > max(i for i, n in enumerate(backend.names()) if n == "destroy")

    backend.add("staging-pr-10", tags={"mlops-stack:ephemeral": "true"}, config={"mlops:ephemeral": "true"})
    backend.fail["destroy"] = [RuntimeError("error: resource is protected")]
    with pytest.raises(LifecycleError, match="destroy staging-pr-10 failed: error: resource is protected"):
        run.down(10)
    assert "staging-pr-10" in backend.stacks  # not removed after a failed destroy

    backend.fail["destroy"] = [RuntimeError("timeout")] * 4
    with pytest.raises(LifecycleError, match="failed: timeout"):
        run.down(10)


def test_sweep_tears_down_exactly_the_expired_ephemeral_stacks():
    backend = FakeBackend()
    ephemeral = {"mlops:ephemeral": "true"}
    backend.add("staging-pr-1", {"mlops-stack:ephemeral": "true", "mlops-stack:expires": "20261127T0000Z"}, ephemeral)
    backend.add("staging-pr-2", {"mlops-stack:ephemeral": "true", "mlops-stack:expires": "20261201T0000Z"}, ephemeral)
    backend.add("staging-pr-3", {"mlops-stack:ephemeral": "true"}, ephemeral)
    backend.add("staging-pr-4", {"mlops-stack:expires": "20260101T0000Z"}, {})
    backend.add("staging", {"mlops-stack:ephemeral": "true", "mlops-stack:expires": "20200101T0000Z"}, ephemeral)
    backend.add("production", {}, {})

    run, _, _ = lifecycle_for(backend)
    dry = run.sweep(dry_run=True)
    assert dry.would_destroy == ["staging-pr-1"] and "destroy" not in backend.names()

    report = run.sweep()
    assert report.destroyed == ["staging-pr-1"]
    assert report.skipped == {
        "production": "not an ephemeral stack",
        "staging": "not an ephemeral stack",
        "staging-pr-2": "expires 2026-12-01 00:00 UTC",
        "staging-pr-3": "no valid mlops-stack:expires tag",
        "staging-pr-4": "no tag mlops-stack:ephemeral=true",
    }
    assert [c for c in backend.calls if c[0] == "destroy"] == [("destroy", "staging-pr-1")]


def test_preview_runs_the_policy_pack_and_writes_markdown_and_refuses_without_it(tmp_path):
    (tmp_path / "Pulumi.staging.yaml").write_text("config: {}\n")
    backend = FakeBackend()
    run, _, _ = lifecycle_for(backend, tmp_path)
    out = tmp_path / "out" / "preview.md"
    with pytest.raises(LifecycleError, match="PulumiPolicy.yaml is missing"):
        run.preview("staging", out)
    assert not [c for c in backend.calls if c[0] == "preview"]

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    run.preview("staging", out)
    assert backend.calls[-1] == ("preview", "staging", [str(tmp_path / "policies")])
    text = out.read_text()
    assert "`pulumi preview` of `staging`: 3 change(s)" in text and "| create | 3 |" in text and "+ 3 to create" in text
    assert "Policy pack: `policies`" in text


def test_cli_reports_a_refusal_in_one_line_with_exit_code_2(capsys):
    backend = FakeBackend()
    backend.add("staging-pr-8", tags={}, config={})
    args = cli.argparse.Namespace(command="env", action="down", pr=8, dir=REPO_ROOT, secrets_provider="passphrase")
    assert cli._env(args, backend=backend) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlops-stack env down: refusing to destroy staging-pr-8:") and "\n" not in err


def test_without_the_pulumi_cli_the_command_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["env", "--dir", str(REPO_ROOT), "sweep", "--dry-run"]) == 2
    assert "install the Pulumi CLI" in capsys.readouterr().err
