"""`mlops-stack up local` and `down local`, run as a user runs them, against fakes of docker, kind,
kubectl and pulumi on PATH that record every call: the order of the calls, the refusals and the
messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import config
from mlops_stack.offline import REPO_ROOT

TOOLS = ("docker", "kind", "kubectl", "pulumi", "uv")
# Each fake records its call; FAKE_* variables choose its answers.
FAKE = """#!/bin/sh
tool=${0##*/}
echo "$tool $*" >> "$FAKE_LOG"
case "$tool $1 $2" in
  "kind get clusters") for c in $FAKE_KIND_CLUSTERS; do echo "$c"; done ;;
  "pulumi whoami "*) [ -n "$FAKE_PULUMI_LOGGED_IN" ] || { echo "error: not logged in" >&2; exit 1; } ;;
  "docker image inspect") [ -n "$FAKE_DOCKER_HAS_IMAGE" ] || exit 1 ;;
esac
[ "$tool $1" = "$FAKE_FAIL" ] && exit 1
exit 0
"""
LOCAL_STACK = """config:
  mlops:backend: ensemble
  mlops:cluster:
    context: kind-mlops
"""


@pytest.fixture
def project(tmp_path):
    """A project of the test's own: its stack files, not the shipped ones."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "Pulumi.local.yaml").write_text(LOCAL_STACK)
    return folder


def fake_tools(folder: Path, tools=TOOLS) -> Path:
    folder.mkdir(exist_ok=True)
    for tool in tools:
        path = folder / tool
        path.write_text(FAKE)
        path.chmod(0o755)
    return folder


def mlops_stack(tmp_path, project, *args, tools=TOOLS, **fake) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = tmp_path / "calls.log"
    log.write_text("")
    env = {"PATH": str(fake_tools(tmp_path / f"bin-{len(tools)}", tools)), "FAKE_LOG": str(log), "HOME": str(tmp_path),
           "PYTHONPATH": str(REPO_ROOT), "PULUMI_CONFIG_PASSPHRASE": "correct horse", **fake}
    env = {k: v for k, v in env.items() if v is not None}
    done = subprocess.run([sys.executable, "-m", "mlops_stack.cli", *args, "--dir", str(project)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    return done, [line.replace(str(project), "<project>") for line in log.read_text().splitlines()]


def test_up_on_a_fresh_machine_creates_the_cluster_builds_and_loads_the_image_logs_in_and_deploys(tmp_path, project):
    done, calls = mlops_stack(tmp_path, project, "up", "local", "--yes")
    assert done.returncode == 0, done.stderr
    image = config.PLATFORM_IMAGE
    assert calls == [
        "kind get clusters",
        "kind create cluster --name mlops --config <project>/kind/cluster.yaml --wait 180s",
        f"docker build -f <project>/images/platform/Dockerfile -t {image} <project>",
        f"kind load docker-image {image} --name mlops",
        # local runs the notebooks hub: its image, on the platform image just built
        f"docker build -f <project>/images/notebook/Dockerfile --build-arg PLATFORM_IMAGE={image} -t {config.NOTEBOOK_IMAGE} <project>",
        f"kind load docker-image {config.NOTEBOOK_IMAGE} --name mlops",
        "pulumi whoami",
        "pulumi login --local",
        "pulumi stack select local --create --cwd <project>",
        "pulumi up --stack local --cwd <project> --yes",
    ]
    # How to reach each UI, by the Services the stack creates.
    assert "kubectl --context kind-mlops -n mlops port-forward svc/mlflow 5000:5000  ->  http://localhost:5000/" in done.stdout
    assert "svc/airflow-api-server 8080:8080" in done.stdout and "svc/seaweedfs 8333:8333" in done.stdout
    assert "svc/jupyterhub-proxy 8000:80  ->  http://localhost:8000/" in done.stdout


def test_up_again_with_a_given_image_keeps_the_cluster_and_the_login_and_points_the_stack_at_the_image(tmp_path, project):
    done, calls = mlops_stack(tmp_path, project, "up", "local", "--image", "my/platform:dev",
                              FAKE_KIND_CLUSTERS="other mlops", FAKE_PULUMI_LOGGED_IN="1", FAKE_DOCKER_HAS_IMAGE="1")
    assert done.returncode == 0, done.stderr
    assert calls[:6] == [
        "kind get clusters", "docker image inspect my/platform:dev", "kind load docker-image my/platform:dev --name mlops",
        # the notebook image is built on the given platform image, so the notebooks' clients match
        f"docker build -f <project>/images/notebook/Dockerfile --build-arg PLATFORM_IMAGE=my/platform:dev -t {config.NOTEBOOK_IMAGE} <project>",
        f"kind load docker-image {config.NOTEBOOK_IMAGE} --name mlops", "pulumi whoami",
    ]
    assert calls[6] == "pulumi stack select local --create --cwd <project>"
    assert calls[7:11] == [f"pulumi config set --path mlops:services.{s}.image my/platform:dev --stack local --cwd <project>"
                           for s in ("mlflow", "feast", "evidently", "airflow")]
    assert calls[11:] == ["pulumi up --stack local --cwd <project>"]  # Pulumi asks before it changes anything
    assert "kind cluster mlops: exists" in done.stdout


def test_missing_tools_are_named_one_line_each_with_how_to_install_them_and_nothing_runs(tmp_path, project):
    done, calls = mlops_stack(tmp_path, project, "up", "local", tools=("docker", "kubectl"))
    assert done.returncode == 2 and calls == []
    assert done.stderr.splitlines() == [
        "mlops-stack up local: kind is not installed: install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
        "mlops-stack up local: pulumi is not installed: install the Pulumi CLI: https://www.pulumi.com/docs/install/",
        'mlops-stack up local: uv is not installed: put uv on PATH: export PATH="$(./scripts/uv --bin-dir):$PATH" (the version in scripts/uv-version)',
    ]


def test_without_a_passphrase_or_a_terminal_up_refuses_before_it_creates_anything(tmp_path, project):
    done, calls = mlops_stack(tmp_path, project, "up", "local", PULUMI_CONFIG_PASSPHRASE=None)
    assert done.returncode == 2 and calls == []
    assert "PULUMI_CONFIG_PASSPHRASE is not set and there is no terminal to ask for it" in done.stderr
    # A passphrase file is as good, and a set backend is kept as it is.
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse\n")
    done, calls = mlops_stack(tmp_path, project, "up", "local", PULUMI_CONFIG_PASSPHRASE=None,
                              PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase), PULUMI_BACKEND_URL="s3://state", FAKE_KIND_CLUSTERS="mlops")
    assert done.returncode == 0, done.stderr
    assert not [c for c in calls if c.startswith(("pulumi whoami", "pulumi login"))]


@pytest.mark.parametrize("stack_file, message", [
    ("config:\n  mlops:backend: ensemble\n  mlops:cluster:\n    context: docker-desktop\n",
     "mlops:cluster.context is 'docker-desktop'; `up` creates kind clusters only: allowed: kind-<name>"),
    ("config:\n  mlops:backend: aws\n  mlops:owner: ml\n  mlops:cluster:\n    context: kind-mlops\n",
     "mlops:backend is 'aws'; `up` runs the ensemble on kind: allowed: ensemble"),
    ("config:\n  mlops:bakend: ensemble\n", "mlops:bakend: unknown key"),
])
def test_a_stack_up_cannot_run_is_refused_with_the_key_and_what_is_allowed(tmp_path, project, stack_file, message):
    (project / "Pulumi.local.yaml").write_text(stack_file)
    done, calls = mlops_stack(tmp_path, project, "up", "local")
    assert done.returncode == 2 and calls == []
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_image_that_is_not_in_docker_is_refused(tmp_path, project):
    done, calls = mlops_stack(tmp_path, project, "up", "local", "--image", "my/platform:dev", FAKE_KIND_CLUSTERS="mlops")
    assert done.returncode == 2
    assert "--image my/platform:dev: no such image in Docker; build or pull it first" in done.stderr
    assert not [c for c in calls if c.startswith(("kind load", "pulumi"))]


def test_a_failed_step_stops_up_with_the_command_and_its_exit_code(tmp_path, project):
    done, calls = mlops_stack(tmp_path, project, "up", "local", FAKE_KIND_CLUSTERS="mlops", FAKE_PULUMI_LOGGED_IN="1", FAKE_FAIL="pulumi up")
    assert done.returncode == 2
    assert "`pulumi up --stack local --cwd" in done.stderr and "failed with exit code 1" in done.stderr
    assert calls[-1].startswith("pulumi up") and "port-forward" not in done.stdout


def test_down_destroys_the_stack_and_keeps_the_cluster_unless_asked(tmp_path, project):
    done, calls = mlops_stack(tmp_path, project, "down", "local", FAKE_PULUMI_LOGGED_IN="1")
    assert done.returncode == 0, done.stderr
    assert calls == ["pulumi whoami", "pulumi destroy --stack local --cwd <project>"]
    assert "kind cluster mlops kept (--delete-cluster deletes it)" in done.stdout
    done, calls = mlops_stack(tmp_path, project, "down", "local", "--delete-cluster", "--yes", FAKE_PULUMI_LOGGED_IN="1")
    assert calls == ["pulumi whoami", "pulumi destroy --stack local --cwd <project> --yes", "kind delete cluster --name mlops"]


def test_down_refuses_a_stack_that_protects_its_data_and_keeps_the_cluster_when_destroy_fails(tmp_path, project):
    (project / "Pulumi.local.yaml").write_text(LOCAL_STACK + "  mlops:protect: true\n")
    done, calls = mlops_stack(tmp_path, project, "down", "local", "--delete-cluster")
    assert done.returncode == 2 and calls == []
    assert "local protects its data (mlops:protect is true); `down` destroys only unprotected stacks" in done.stderr

    (project / "Pulumi.local.yaml").write_text(LOCAL_STACK)
    done, calls = mlops_stack(tmp_path, project, "down", "local", "--delete-cluster", FAKE_PULUMI_LOGGED_IN="1", FAKE_FAIL="pulumi destroy")
    assert done.returncode == 2 and not [c for c in calls if c.startswith("kind delete")]


def test_the_kind_config_is_one_node_of_kinds_schema():
    import yaml

    cluster = yaml.safe_load((REPO_ROOT / "kind" / "cluster.yaml").read_text())
    assert (cluster["kind"], cluster["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert [node["role"] for node in cluster["nodes"]] == ["control-plane"]
    assert os.path.exists(REPO_ROOT / "images" / "platform" / "Dockerfile")
