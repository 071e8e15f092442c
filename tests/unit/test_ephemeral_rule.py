"""One rule for an ephemeral stack's name, staging-pr-<N>: the program (unprotected, freely
destroyable), the lifecycle (which sweeps and destroys it) and the policy pack agree on every name."""

from __future__ import annotations

import sys

import pytest

from infra import config
from mlops_stack import lifecycle
from mlops_stack.offline import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "policies"))
import mlops_policies  # noqa: E402  (the pack runs without the infra package)

EPHEMERAL = ["staging-pr-1", "staging-pr-42", "staging-pr-1000"]
NOT_EPHEMERAL = ["staging-pr-0", "staging-pr-007", "staging-pr-", "staging-pr-4a", "staging-pr-1-x", "production-pr-1",
                 "staging", "Staging-pr-1", "xstaging-pr-1"]


@pytest.mark.parametrize("stack", EPHEMERAL + NOT_EPHEMERAL)
def test_the_program_the_lifecycle_and_the_policy_pack_agree(stack):
    expected = stack in EPHEMERAL
    assert bool(config.EPHEMERAL_STACK.match(stack)) is expected
    assert bool(lifecycle.EPHEMERAL_STACK.match(stack)) is expected
    assert bool(mlops_policies.EPHEMERAL.match(stack)) is expected
    assert config.EPHEMERAL_STACK.pattern == mlops_policies.EPHEMERAL.pattern


def test_a_pr_stack_is_ephemeral_and_a_stack_named_like_one_but_not_one_is_refused():
    assert config.load("staging-pr-42", {}).ephemeral is True
    # staging-pr-007 would be unprotected to the program yet never swept; now it names no environment.
    with pytest.raises(config.ConfigError, match="environment"):
        config.load("staging-pr-007", {})
