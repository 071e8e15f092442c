"""The GitHub workflows: valid against GitHub's schema, and shaped the way the team workflow needs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from mlops_stack.offline import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
LIST_STACKS = "./scripts/ci-stacks.sh"


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


def list_stacks(directory: Path, files: dict[str, str]) -> dict[str, list[str]]:
    """The listing step's script run in `directory` holding `files`: its outputs, as GitHub reads them."""
    for name, text in files.items():
        (directory / name).write_text(text)
    output = directory / "github-output"
    output.write_text("")
    environment = {k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"} | {"GITHUB_OUTPUT": str(output)}
    result = subprocess.run([str(REPO_ROOT / LIST_STACKS)], cwd=directory, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return {key: json.loads(value) for key, value in (line.split("=", 1) for line in output.read_text().splitlines())}


def stacks_job(document: dict) -> dict:
    job = document["jobs"]["stacks"]
    step = next(s for s in job["steps"] if s.get("id") == "list")
    assert step["run"] == LIST_STACKS
    return job


def test_the_stack_list_is_every_stack_file_but_the_ephemeral_and_the_laptop_ones(tmp_path):
    outputs = list_stacks(tmp_path, {
        "Pulumi.yaml": "name: x\nruntime: python\n",
        "Pulumi.a.yaml": "config:\n  mlops:backend: aws\n",
        "Pulumi.production-x.yaml": "config:\n  mlops:backend: azure\n",
        "Pulumi.production.yaml": "config: {}\n",
        # Production by its config, whatever its name.
        "Pulumi.eu.yaml": "config:\n  mlops:environment: \"production\" # the EU region\n",
        # Ephemeral (ephemeral-staging.yml), and laptop clusters (e2e-kind.yml): none of these.
        "Pulumi.staging-pr-7.yaml": "config: {}\n",
        "Pulumi.local.yaml": "config: {}\n",
        "Pulumi.laptop.yaml": "config:\n  mlops:environment: local\n",
        # Not the ephemeral rule's name (a leading zero): a stack like any other.
        "Pulumi.staging-pr-07.yaml": "config: {}\n",
    })
    assert outputs == {
        "stacks": ["a", "eu", "production", "production-x", "staging-pr-07"],
        "production": ["eu", "production", "production-x"],
        "nonproduction": ["a", "staging-pr-07"],
    }


def test_the_stack_list_of_a_folder_without_stack_files_is_empty(tmp_path):
    assert list_stacks(tmp_path, {"Pulumi.yaml": "name: x\n"}) == {"stacks": [], "production": [], "nonproduction": []}


def test_the_stack_list_refuses_a_file_name_that_is_no_stack_name(tmp_path):
    (tmp_path / "Pulumi.a b.yaml").write_text("config: {}\n")
    result = subprocess.run([str(REPO_ROOT / LIST_STACKS)], cwd=tmp_path, capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"})
    assert result.returncode != 0 and "not a Pulumi stack name" in result.stderr


def test_preview_previews_every_listed_stack_on_the_production_runner_for_production_ones():
    preview = load("preview.yml")
    stacks = stacks_job(preview)
    assert stacks["outputs"] == {"stacks": "${{ steps.list.outputs.stacks }}", "production": "${{ steps.list.outputs.production }}"}
    job = preview["jobs"]["preview"]
    assert job["needs"] == "stacks" and job["if"] == "needs.stacks.outputs.stacks != '[]'"
    assert job["strategy"]["matrix"] == {"stack": "${{ fromJSON(needs.stacks.outputs.stacks) }}"}
    assert job["strategy"]["fail-fast"] is False
    assert job["runs-on"].startswith("${{ contains(fromJSON(needs.stacks.outputs.production), matrix.stack) && vars.PRODUCTION_RUNNER")


def test_no_workflow_hard_codes_a_stack_list_or_a_stack_name_check():
    for path in WORKFLOWS.glob("*.yml"):
        document = load(path.name)
        for name, job in document["jobs"].items():
            matrix = job.get("strategy", {}).get("matrix", {})
            if "stack" in matrix:  # from the listing job's output, never a literal list
                stack = matrix["stack"]
                assert isinstance(stack, str) and re.fullmatch(r"\$\{\{ fromJSON\(needs\.stacks\.outputs\.\w+\) \}\}", stack), (path.name, name, stack)
                stacks_job(document)
        # A stack's treatment (runner, environment) comes from the list, not from comparing its name.
        assert not re.search(r"stack\s*==\s*'", path.read_text()), path.name


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


def test_production_stacks_deploy_only_from_a_release_tag_each_behind_the_production_environment():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    stacks = stacks_job(deploy)
    tag = "startsWith(github.ref, 'refs/tags/v')"
    # A tag deploys the production stacks, main the others: never both.
    assert stacks["outputs"] == {"deploy": f"${{{{ {tag} && steps.list.outputs.production || steps.list.outputs.nonproduction }}}}"}
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "stacks" and job["if"] == "needs.stacks.outputs.deploy != '[]'"
    assert job["strategy"] == {"fail-fast": False, "matrix": {"stack": "${{ fromJSON(needs.stacks.outputs.deploy) }}"}}
    assert job["environment"] == f"${{{{ {tag} && 'production' || matrix.stack }}}}"
    assert job["env"]["STACK"] == "${{ matrix.stack }}"
    assert job["concurrency"] == {"group": "deploy-${{ matrix.stack }}", "cancel-in-progress": False}
    up = next(s for s in steps(deploy) if s.get("uses", "").startswith("pulumi/actions@"))
    assert up["with"]["command"] == "up" and up["with"]["stack-name"] == "${{ env.STACK }}"


def test_a_model_release_or_weight_shift_on_a_production_stack_waits_for_the_production_approval():
    for name, job_name, stack in (("set-model-weights.yml", "weights", "inputs.stack"),
                                  ("release-model.yml", "release", "vars.MODEL_RELEASE_STACK || 'staging'")):
        document = load(name)
        stacks_job(document)
        job = document["jobs"][job_name]
        assert job["needs"] == "stacks"
        assert job["environment"] == f"${{{{ contains(fromJSON(needs.stacks.outputs.production), {stack}) && 'production' || {stack} }}}}"


def uv_pin() -> str:
    pin = (REPO_ROOT / "scripts" / "uv-version").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", pin), pin
    return pin


def test_every_workflow_installs_the_program_with_uv_at_its_pin_from_the_lock():
    uv_pin()
    installs = 0
    for path in WORKFLOWS.glob("*.yml"):
        for step in steps(load(path.name)):
            run = step.get("run", "")
            assert "pip install -q -e" not in run and "-m venv .venv" not in run, path.name
            if "uv sync" in run:
                installs += 1
                assert 'python -m pip install --quiet "uv==$(cat scripts/uv-version)"' in run, path.name
                assert "uv sync --locked" in run, path.name
    assert installs >= 7


def test_the_test_script_pulumi_and_the_platform_image_install_with_uv_from_locks():
    test_sh = (REPO_ROOT / "scripts" / "test.sh").read_text()
    assert "uv sync --quiet --locked --extra test" in test_sh and "pip install" not in test_sh
    assert "--require-hashes scan/requirements.lock" in test_sh
    assert 'version="$(tr -d \'[:space:]\' <"$root/scripts/uv-version")"' in (REPO_ROOT / "scripts" / "uv").read_text()
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"] == {"toolchain": "uv", "virtualenv": ".venv"}
    assert (REPO_ROOT / "uv.lock").is_file()
    dockerfile = (REPO_ROOT / "images" / "platform" / "Dockerfile").read_text()
    assert "COPY scripts/uv-version images/platform/requirements.lock /tmp/platform/" in dockerfile
    assert '"uv==$(cat /tmp/platform/uv-version)"' in dockerfile
    assert "--require-hashes --no-deps --compile-bytecode --requirement /tmp/platform/requirements.lock" in dockerfile
    for lock in ("scan/requirements.lock", "images/platform/requirements.lock"):
        pins = [line for line in (REPO_ROOT / lock).read_text().splitlines() if line and not line[0].isspace() and not line.startswith("#")]
        assert pins and all(re.fullmatch(r"[A-Za-z0-9._-]+(\[[a-z0-9,_-]+\])?==\S+ \\", line) for line in pins), lock


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
