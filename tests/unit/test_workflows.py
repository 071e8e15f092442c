"""The GitHub workflows: valid against GitHub's schema, and shaped the way the team workflow needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from mlops_stack.offline import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def steps(document: dict) -> list[dict]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def test_every_workflow_validates_against_the_github_workflow_schema():
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert {Path(f).name for f in files} >= {"ci.yml", "preview.yml", "ephemeral-staging.yml", "sweep.yml", "deploy.yml", "images.yml"}
    result = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command():
    assert any(step.get("run") == "./scripts/test.sh" for step in steps(load("ci.yml")))
    assert "./scripts/test.sh" in (REPO_ROOT / "README.md").read_text()


def test_preview_comments_on_the_pr_with_the_official_action():
    preview = load("preview.yml")
    assert preview["permissions"]["pull-requests"] == "write"
    action = next(s for s in steps(preview) if s.get("uses", "").startswith("pulumi/actions@"))
    assert action["with"]["command"] == "preview" and action["with"]["comment-on-pr"] is True
    assert set(preview["jobs"]["preview"]["strategy"]["matrix"]["stack"]) == {"staging", "production"}


def test_ephemeral_staging_runs_env_up_and_down_one_run_per_pr_at_a_time():
    workflow = load("ephemeral-staging.yml")
    assert workflow["on"]["pull_request"]["types"] == ["opened", "reopened", "synchronize", "closed"]
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is False  # never stop a destroy half-way
    runs = {s["if"]: s["run"] for s in steps(workflow) if "mlops-stack env" in s.get("run", "")}
    assert runs == {
        "github.event.action != 'closed'": '.venv/bin/mlops-stack env up --pr "$PR" --owner "${{ github.event.pull_request.user.login }}"',
        "github.event.action == 'closed'": '.venv/bin/mlops-stack env down --pr "$PR"',
    }


def test_sweep_is_scheduled():
    sweep = load("sweep.yml")
    assert sweep["on"]["schedule"][0]["cron"]
    assert any("mlops-stack env sweep" in s.get("run", "") for s in steps(sweep))


def test_production_deploys_only_from_a_release_tag_behind_its_environment():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    job = deploy["jobs"]["deploy"]
    assert job["environment"] == "${{ startsWith(github.ref, 'refs/tags/v') && 'production' || 'staging' }}"
    assert job["env"]["STACK"] == job["environment"]


def test_no_workflow_holds_a_long_lived_cloud_key():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        for forbidden in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET", "client-secret"):
            assert forbidden not in text, f"{forbidden} in {path.name}"
        document = load(path.name)
        if any("aws-actions/configure-aws-credentials" in s.get("uses", "") for s in steps(document)):
            assert document["permissions"]["id-token"] == "write", path.name  # OIDC


def test_a_model_tag_builds_the_variant_points_the_stack_at_its_digest_and_deploys():
    release = load("release-model.yml")
    assert release["on"] == {"push": {"tags": ["model-*"]}}
    names = [s.get("name", s.get("uses", "")) for s in steps(release)]
    order = [names.index(n) for n in ("Build and push the variant's image", "Point the variant at the new image", "Commit the stack file")]
    assert order == sorted(order)
    point = next(s for s in steps(release) if s.get("name") == "Point the variant at the new image")["run"]
    assert "@${{ steps.build.outputs.digest }}" in point and "pulumi config set --path" in point
    # Deployed after the config points at the new image, and committed after the deploy succeeded.
    up = [i for i, s in enumerate(steps(release)) if s.get("with", {}).get("command") == "up"]
    assert len(up) == 1 and order[1] < up[0] < order[2]

    weights = load("set-model-weights.yml")
    assert set(weights["on"]["workflow_dispatch"]["inputs"]) == {"stack", "endpoint", "weights"}
    assert any("mlops-stack serving weights" in s.get("run", "") for s in steps(weights))


def test_e2e_kind_takes_a_clean_runner_through_up_the_check_an_unchanged_second_up_and_down():
    workflow = load("e2e-kind.yml")
    assert workflow["on"]["schedule"][0]["cron"] and "components/**" in workflow["on"]["pull_request"]["paths"]
    runs = [s.get("run", "") for s in steps(workflow)]
    order = [next(i for i, r in enumerate(runs) if wanted in r) for wanted in (
        "mlops-stack up local --yes", "mlops-stack smoke local", "pulumi up --stack local --yes --expect-no-changes",
        "GITHUB_STEP_SUMMARY", "mlops-stack down local --yes --delete-cluster")]
    assert order == sorted(order)
    down = next(s for s in steps(workflow) if "mlops-stack down local" in s.get("run", ""))
    assert down["if"] == "always()"  # the cluster goes even when a step failed
    assert "sha256sum --check" in "\n".join(runs)  # the kind binary is checked before it runs
