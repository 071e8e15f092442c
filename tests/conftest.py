"""Shared fixtures: the real program run under Pulumi's mocks, once per shipped stack."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from pulumi.runtime.sync_await import _sync_await

from infra import offline
from infra.offline import Recording


@functools.lru_cache(maxsize=None)
def recording_of(stack: str, config_from: str | None = None) -> Recording:
    """The real program for `stack`, with the config of Pulumi.<config_from or stack>.yaml."""
    return offline.run(stack, offline.stack_config(config_from or stack))


resolved = offline.resolved


def is_secret(output: Any) -> bool:
    return _sync_await(output.is_secret())


def backend_of(stack: str) -> str:
    return offline.stack_config(stack).get("mlops:backend", "ensemble")


# Stacks whose data services run in the cluster (PostgreSQL, Redis and SeaweedFS StatefulSets).
ENSEMBLE_STACKS = [s for s in offline.shipped_stacks() if backend_of(s) == "ensemble"]
AWS_STACKS = [s for s in offline.shipped_stacks() if backend_of(s) == "aws"]
AZURE_STACKS = [s for s in offline.shipped_stacks() if backend_of(s) == "azure"]


@pytest.fixture(params=offline.shipped_stacks())
def shipped(request) -> Recording:
    return recording_of(request.param)


@pytest.fixture(params=ENSEMBLE_STACKS)
def ensemble(request) -> Recording:
    return recording_of(request.param)
