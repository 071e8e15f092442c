"""A refactor moves no resource: every URN of every fixture stack is the one recorded before it.

URNs come from type tokens, resource names and parents, so a change to any of them makes Pulumi
delete and recreate the resource (a database, a bucket). A deliberate rename needs an alias
(`pulumi.Alias`) and a new recording: `python -m tests.unit.test_urns` rewrites tests/fixtures/urns.
"""

from __future__ import annotations

import pytest

from mlops_stack import offline
from tests import fixtures

# An ephemeral stack is a staging stack under another name: its URNs carry that name.
RECORDED = {**{stack: stack for stack in fixtures.stacks()}, "staging-pr-7": "staging"}


def urns_of(stack: str) -> list[str]:
    recording = offline.run(stack, fixtures.stack_config(RECORDED[stack]))
    return sorted(r.urn for r in recording.resources)


def recorded(stack: str) -> list[str]:
    return (fixtures.URNS_DIR / f"{stack}.txt").read_text().split()


@pytest.mark.parametrize("stack", sorted(RECORDED))
def test_every_urn_is_the_one_recorded(stack):
    now, before = urns_of(stack), recorded(stack)
    assert len(before) > 50
    assert {"new": sorted(set(now) - set(before)), "gone": sorted(set(before) - set(now))} == {"new": [], "gone": []}
    assert len(now) == len(set(now)), "two resources share a URN"


def test_a_renamed_resource_is_caught():
    before = recorded("local")
    renamed = [urn.replace("::airflow-scheduler-deployment", "::airflow-scheduler") for urn in before]
    assert set(renamed) != set(urns_of("local"))


if __name__ == "__main__":
    for name in sorted(RECORDED):
        (fixtures.URNS_DIR / f"{name}.txt").write_text("\n".join(urns_of(name)) + "\n")
        print(f"recorded {name}")
