"""The stack files a user edits: each one renders, validates strictly and passes the policy pack.

The rest of the suite reads its own copies (tests/fixtures/stacks), so an edit here changes what a
user deploys, never what the suite expects; these tests only say the edited file still works.
"""

from __future__ import annotations

import pytest
import kubernetes_validate

from mlops_stack import offline, render
from tests.policy.test_policies import args_of, mlops_policies, violations
from tests.render.test_render import GATEWAY_API, KUBERNETES_VERSIONS, gateway_api_problems


@pytest.mark.parametrize("stack", offline.shipped_stacks())
def test_every_shipped_stack_renders_validates_and_passes_the_policy_pack(stack, tmp_path):
    recording = render.render_stack(stack, tmp_path, offline.REPO_ROOT)
    manifests = render.manifests(recording)
    assert manifests, f"Pulumi.{stack}.yaml renders no Kubernetes object"
    for version in KUBERNETES_VERSIONS:
        for manifest in manifests:
            if not manifest["apiVersion"].startswith(GATEWAY_API):
                kubernetes_validate.validate(manifest, version, strict=True)
    gateway_api = [m for m in manifests if m["apiVersion"].startswith(GATEWAY_API)]
    if gateway_api:
        assert gateway_api_problems(gateway_api) == []
    found = {(rule.name, resource.name, message) for resource in recording.resources
             for rule in mlops_policies.POLICIES for message in violations(rule.name, args_of(resource))}
    assert found == set()
