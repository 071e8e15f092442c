"""Admissions: a rule that names no source would render `from: []`, which Kubernetes reads as
"allow from everywhere", so it cannot be built; every rendered rule names its sources and ports."""

from __future__ import annotations

import pytest

from components.kubernetes.network_policies import Admission
from tests.conftest import recording_of


def test_an_admission_without_sources_or_ports_cannot_be_built():
    with pytest.raises(ValueError, match="the admission to mlflow names no source"):
        Admission("mlflow", (5000,))
    with pytest.raises(ValueError, match="the admission to mlflow names no port"):
        Admission("mlflow", (), from_pipelines=True)
    assert Admission("mlflow", (5000,), from_apps=("airflow",)).from_apps == ("airflow",)


@pytest.mark.parametrize("stack", ["local", "production-onprem", "staging"])
def test_every_rendered_rule_names_its_sources_and_ports(stack):
    for policy in recording_of(stack).by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        for rule in policy.inputs["spec"].get("ingress", []):
            assert rule["from"] and rule["ports"], policy.name
