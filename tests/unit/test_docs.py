"""The generated reference pages are fresh, and name every key a stack file may hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import config
from mlops_stack import reference

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"


@pytest.mark.parametrize("filename", sorted(reference.PAGES))
def test_the_generated_page_is_fresh(filename):
    assert (DOCS / filename).read_text() == reference.PAGES[filename](), "run: mlops-stack docs"


def test_the_configuration_page_names_every_key_of_the_schema():
    page = (DOCS / "configuration.md").read_text()
    schema = config.json_schema()
    keys = set(schema["properties"]["config"]["properties"])
    keys |= {key for definition in schema["$defs"].values() for key in definition.get("properties", {})}
    missing = sorted(k for k in keys if f"`{k.removeprefix('mlops:')}`" not in page)
    assert missing == []


def test_a_pattern_key_is_documented_in_the_words_its_error_uses():
    page = (DOCS / "configuration.md").read_text()
    with pytest.raises(config.ConfigError) as refused:
        config.load("local", {"services": {"postgres": {"storage": "20 GB"}}})
    allowed = str(refused.value).split("allowed: ", 1)[1]
    assert f"| `storage` | {allowed} |" in page


def _documented(key: str, names) -> bool:
    for documented in names.KEYS:
        for option in documented.name.split(", "):
            head, _, rest = option.partition("<")
            tail = rest.partition(">")[2]
            if option.endswith("*") and key.startswith(option[:-1]):
                return True
            if key == option or (rest and key.startswith(head) and key.endswith(tail) and len(key) > len(head + tail)):
                return True
    return False


def test_every_key_every_fixture_stack_publishes_is_documented():
    from mlops_jobs import pipeline_names as names
    from tests import fixtures
    from tests.conftest import recording_of
    from tests.integration.kubelet import plain

    undocumented = set()
    for stack in fixtures.stacks():
        recording = recording_of(stack)
        published = recording.one("kubernetes:core/v1:ConfigMap", "pipeline-config-configmap").inputs["data"]
        secret = plain(recording.one("kubernetes:core/v1:Secret", "pipeline-config-secret").inputs["stringData"])
        keys = (set(published) | set(secret)) - set(names.FILES) - {names.DOTENV}
        assert len(keys) > 20
        undocumented |= {k for k in keys if not _documented(k, names)}
    assert undocumented == set()


def test_an_undocumented_key_is_caught():
    from mlops_jobs import pipeline_names as names

    assert _documented("MLOPS_BUCKET_LAKE_URL", names) and _documented("MLOPS_SERVING_CHURN_B_URL", names)
    assert not _documented("MLOPS_SOMETHING_NEW", names)


def test_every_relative_link_in_the_docs_resolves_and_none_points_outside_the_repository():
    import re

    root = DOCS.parents[1]
    pages = [root / "README.md", root / "CHANGELOG.md", *sorted((root / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists() or root not in path.parents:
                broken.append(f"{page.relative_to(root)}: {target}")
    assert len(pages) > 10 and broken == []


def test_the_readme_stays_short():
    assert len((DOCS.parents[1] / "README.md").read_bytes()) <= 12_000
