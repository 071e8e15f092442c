"""Shared fixtures: the real program run under Pulumi's mocks, once per fixture stack (copies of the shipped ones)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from pulumi.runtime.sync_await import _sync_await

from tests import fixtures
from mlops_stack import offline
from mlops_stack.offline import Recording


@functools.lru_cache(maxsize=None)
def recording_of(stack: str, config_from: str | None = None) -> Recording:
    """The real program for `stack`, with the config of tests/fixtures/stacks/Pulumi.<config_from or stack>.yaml."""
    return offline.run(stack, fixtures.stack_config(config_from or stack))


resolved = offline.resolved


@functools.lru_cache(maxsize=None)
def config_of(stack: str):
    """The validated StackConfig of a fixture stack."""
    from infra import config

    values = fixtures.stack_config(stack)
    return config.load(stack, {k.removeprefix("mlops:"): v for k, v in values.items() if k.startswith("mlops:")})


def is_secret(output: Any) -> bool:
    return _sync_await(output.is_secret())


def backend_of(stack: str) -> str:
    return fixtures.stack_config(stack).get("mlops:backend", "ensemble")


# Stacks whose data services run in the cluster (PostgreSQL, Redis and SeaweedFS StatefulSets).
ENSEMBLE_STACKS = [s for s in fixtures.stacks() if backend_of(s) == "ensemble"]
AWS_STACKS = [s for s in fixtures.stacks() if backend_of(s) == "aws"]
AZURE_STACKS = [s for s in fixtures.stacks() if backend_of(s) == "azure"]


@pytest.fixture(params=fixtures.stacks())
def shipped(request) -> Recording:
    return recording_of(request.param)


@pytest.fixture(params=ENSEMBLE_STACKS)
def ensemble(request) -> Recording:
    return recording_of(request.param)
