"""Pulumi component conventions, checked on the source and on what the program registers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import recording_of

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("components", "stacks", "infra") for p in (ROOT / d).rglob("*.py"))
# Calls that create a Pulumi resource: `k8s.apps.v1.StatefulSet(...)`, `random.RandomPassword(...)`, our components.
RESOURCE_MODULES = ("k8s", "random", "aws", "azure_native", "pulumi_kubernetes", "pulumi_random")


def components(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            (isinstance(b, ast.Attribute) and b.attr == "ComponentResource") or (isinstance(b, ast.Name) and b.id == "ComponentResource")
            for b in node.bases
        ):
            yield node


def creates_resource(call: ast.Call) -> bool:
    func = call.func
    root = func
    while isinstance(root, ast.Attribute):
        root = root.value
    named_class = isinstance(func, ast.Attribute) and func.attr[:1].isupper()
    return named_class and isinstance(root, ast.Name) and root.id in RESOURCE_MODULES and not func.attr.endswith("Args")


COMPONENT_CLASSES = [(path, cls) for path in SOURCES for cls in components(ast.parse(path.read_text()))]


def test_there_are_components_to_check():
    assert len(COMPONENT_CLASSES) >= 5


@pytest.mark.parametrize("path,cls", COMPONENT_CLASSES, ids=[c.name for _, c in COMPONENT_CLASSES])
def test_component_has_type_token_and_ends_with_one_register_outputs(path, cls):
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    calls = [n for n in ast.walk(init) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    registers = [c for c in calls if c.func.attr == "register_outputs"]
    assert len(registers) == 1, f"{cls.name} must call register_outputs exactly once"
    last = init.body[-1]
    assert isinstance(last, ast.Expr) and last.value is registers[0], f"{cls.name}: register_outputs must come last"
    super_init = next(c for c in calls if c.func.attr == "__init__")
    token = super_init.args[0].value
    # The module is the backend's folder (kubernetes, aws, azure); a component in a package of its own
    # (components/kubernetes/jupyterhub/) is still the backend's.
    module = path.parent.parent.name if path.name == "__init__.py" else path.parent.name
    assert token == f"mlops:{module}:{cls.name}", token


def test_no_resource_is_created_inside_apply():
    offenders = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "apply":
                for callback in node.args:
                    body = callback
                    if isinstance(callback, ast.Name):  # apply(some_function): look the function up
                        body = next(
                            (f for f in ast.walk(ast.parse(path.read_text())) if isinstance(f, ast.FunctionDef) and f.name == callback.id),
                            callback,
                        )
                    offenders += [f"{path.name}:{c.lineno}" for c in ast.walk(body) if isinstance(c, ast.Call) and creates_resource(c)]
    assert offenders == []


def test_the_apply_check_would_catch_a_resource_in_apply():
    bad = ast.parse("out.apply(lambda ns: k8s.core.v1.ConfigMap('x', metadata={'namespace': ns}))")
    call = next(n for n in ast.walk(bad) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "ConfigMap")
    assert creates_resource(call)


def test_children_are_named_after_their_component_and_parented_to_it():
    recording = recording_of("local")
    by_urn = {r.urn: r for r in recording.resources}
    for resource in recording.resources:
        parent = by_urn.get(resource.parent)
        if parent is not None:
            assert resource.name.startswith(parent.name + "-"), f"{resource.name} under {parent.name}"
        elif resource.type != "pulumi:providers:kubernetes":
            assert resource.type.startswith("mlops:"), f"{resource.type} {resource.name} has no component parent"


def test_children_follow_the_component_name_not_the_service_name():
    from components.kubernetes.postgres import Postgres, PostgresArgs
    from mlops_stack import offline
    from infra.config import DEFAULT_SIZES, Environment

    def program():
        Postgres("metadata-db", PostgresArgs(namespace="ml", image="postgres:17.6", size=DEFAULT_SIZES[Environment.LOCAL]["postgres"], consumers=("mlflow",)))

    recording = offline.run("local", {}, program)
    children = [r for r in recording.resources if r.parent.endswith("::metadata-db")]
    assert len(children) >= 7
    assert all(r.name.startswith("metadata-db-") for r in children), [r.name for r in children]
    # The Kubernetes objects keep their stable DNS names whatever the component is called.
    service = next(r for r in children if r.name == "metadata-db-service")
    assert service.inputs["metadata"]["name"] == "postgres"
