"""checkov over every rendered stack: no failed check except the documented skips in scan/skips.yaml."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_stack import offline, render
from mlops_stack.offline import REPO_ROOT

SKIPS = yaml.safe_load((REPO_ROOT / "scan" / "skips.yaml").read_text())


def checkov() -> str:
    venv = Path(os.environ.get("MLOPS_SCAN_VENV", REPO_ROOT / ".venv-scan"))
    binary = venv / "bin" / "checkov"
    if not binary.exists():
        message = f"{binary} is missing: ./scripts/test.sh builds it from scan/requirements.txt"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(binary)


def skipped(check: str, resource: str) -> bool:
    return any(s["check"] == check and (s["resources"] == "*" or resource in s["resources"]) for s in SKIPS)


@pytest.fixture(scope="module")
def failures(tmp_path_factory) -> dict[str, set[tuple[str, str]]]:
    tool = checkov()
    found = {}
    for stack in offline.shipped_stacks():
        out = tmp_path_factory.mktemp(stack)
        render.render_stack(stack, out)
        result = subprocess.run(
            [tool, "-d", str(out / "manifests"), "--framework", "kubernetes", "--skip-download", "--compact", "--quiet", "-o", "json"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        )
        report = json.loads(result.stdout)
        report = report[0] if isinstance(report, list) else report
        assert report["summary"]["parsing_errors"] == 0 and report["summary"]["resource_count"] >= 50
        found[stack] = {(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]}
    return found


def test_no_failed_check_is_unexplained(failures):
    unexplained = {stack: sorted(f for f in found if not skipped(*f)) for stack, found in failures.items()}
    assert unexplained == {stack: [] for stack in failures}


def test_every_skip_has_a_reason_and_is_still_needed(failures):
    seen = {f for found in failures.values() for f in found}
    for skip in SKIPS:
        assert len(skip["reason"]) > 40, skip["check"]
        matching = {r for c, r in seen if c == skip["check"]}
        assert matching, f"{skip['check']} no longer fails; remove it from scan/skips.yaml"
        if skip["resources"] != "*":
            assert set(skip["resources"]) == matching, (skip["check"], sorted(matching))
