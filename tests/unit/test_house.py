"""The house rules a reader relies on: imports run down the floors only, and no module or function
grows past what one reads in a sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("infra", "mlops_jobs", "components", "stacks", "mlops_stack")
# What each floor may not import: nothing runs back up, and the image's jobs stand alone.
FORBIDDEN = {
    "infra": ("components", "stacks", "mlops_stack"),
    "mlops_jobs": ("infra", "components", "stacks", "mlops_stack"),
    "components": ("stacks", "mlops_stack"),
    "stacks": ("mlops_stack",),
}
# Sibling backends know nothing of each other.
SIBLINGS = {
    "components.aws": ("components.azure",),
    "components.azure": ("components.aws",),
    "stacks.aws": ("stacks.azure", "stacks.ensemble"),
    "stacks.azure": ("stacks.aws", "stacks.ensemble"),
    "stacks.ensemble": ("stacks.aws", "stacks.azure", "stacks.managed_cluster"),
}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_imports_run_down_the_floors_and_never_between_sibling_backends():
    wrong = []
    for path in modules():
        name = dotted(path)
        rules = [*FORBIDDEN.get(name.split(".")[0], ())]
        rules += [banned for owner, banned_list in SIBLINGS.items() if _under(name, owner) for banned in banned_list]
        wrong += [f"{name} imports {found}" for found in sorted(imports(path)) for banned in rules if _under(found, banned)]
    assert wrong == []


def test_the_layer_check_catches_an_import_up(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from stacks import aws\nimport mlops_stack.cli\n")
    assert {"stacks", "stacks.aws", "mlops_stack.cli"} <= imports(module)


@pytest.mark.parametrize("limit", [MAX_MODULE_LINES])
def test_no_module_is_longer_than_500_lines(limit):
    long = {dotted(p): n for p in modules() if (n := p.read_text().count("\n")) > limit}
    assert long == {}


def test_no_function_is_longer_than_80_lines():
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{dotted(path)}.{node.name}"] = length
    assert long == {}
