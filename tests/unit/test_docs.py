"""The generated reference pages are fresh, and name every key a stack file may hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import config, reference

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
