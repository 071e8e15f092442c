"""Model releases and traffic shifts: from a tag or a weight list to the stack config keys, checked first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra import config
from mlops_stack import offline, releases
from mlops_stack.releases import Release, ReleaseError

ENDPOINTS_CONFIG = {
    "churn": {"variants": [{"name": "a", "image": "ghcr.io/o/churn:model-a", "weight": 90},
                           {"name": "b", "image": "ghcr.io/o/churn:model-b", "weight": 10}]},
    "churn-v2": {"variants": [{"name": "x", "model": "models:/churn/4", "weight": 100}]},
}
ENDPOINTS = {e.name: e for e in config.load("local", {"serving": {"endpoints": ENDPOINTS_CONFIG}}).serving.endpoints}


def test_a_tag_names_the_endpoint_and_variant_the_longest_endpoint_first():
    assert releases.parse_tag("model-churn-b", ENDPOINTS) == Release("churn", "b")
    assert releases.parse_tag("model-churn-v2-c", ENDPOINTS) == Release("churn-v2", "c")
    assert releases.parse_tag("model-churn-canary-2", ENDPOINTS) == Release("churn", "canary-2")


@pytest.mark.parametrize("tag,message", [
    ("v1.2.0", "is not a model release; allowed: model-<endpoint>-<variant>"),
    ("model-fraud-a", "names no endpoint of the stack; allowed: model-<endpoint>-<variant> with endpoint one of: churn, churn-v2"),
    ("model-churn-B_1", "variant 'B_1' is not allowed"),
])
def test_a_bad_tag_is_refused_with_what_would_do(tag, message):
    with pytest.raises(ReleaseError, match=message):
        releases.parse_tag(tag, ENDPOINTS)


def test_releasing_an_existing_variant_changes_only_its_image_and_a_new_one_starts_without_traffic():
    image = "ghcr.io/o/churn@sha256:" + "a" * 64
    assert releases.release_keys(Release("churn", "b"), image, ENDPOINTS) == {"mlops:serving.endpoints.churn.variants[1].image": image}
    assert releases.release_keys(Release("churn", "c"), image, ENDPOINTS) == {
        "mlops:serving.endpoints.churn.variants[2].name": "c",
        "mlops:serving.endpoints.churn.variants[2].image": image,
        "mlops:serving.endpoints.churn.variants[2].weight": "0",
    }
    with pytest.raises(ReleaseError, match="serves models:/churn/4"):
        releases.release_keys(Release("churn-v2", "x"), image, ENDPOINTS)


def test_the_keys_of_a_new_variant_make_a_valid_config():
    """Applied the way `pulumi config set --path` would, the result passes the stack's validation."""
    keys = releases.release_keys(Release("churn", "c"), "ghcr.io/o/churn:model-c", ENDPOINTS)
    variants = [dict(v) for v in ENDPOINTS_CONFIG["churn"]["variants"]] + [{}]
    for key, value in keys.items():
        variants[2][key.rsplit(".", 1)[1]] = int(value) if value.isdigit() else value
    cfg = config.load("local", {"serving": {"endpoints": {"churn": {"variants": variants}}}})
    assert [(v.name, v.weight) for v in cfg.serving.endpoints[0].variants] == [("a", 90), ("b", 10), ("c", 0)]


def test_weights_cover_every_variant_and_add_up_to_100():
    assert releases.weight_keys("churn", "a=0, b=100", ENDPOINTS) == {
        "mlops:serving.endpoints.churn.variants[0].weight": "0", "mlops:serving.endpoints.churn.variants[1].weight": "100",
    }
    for weights, message in (("a=50,b=40", "add up to 90"), ("a=100", "a weight for each of a, b"), ("a=x,b=1", "<variant>=<0..100>")):
        with pytest.raises(ReleaseError, match=message):
            releases.weight_keys("churn", weights, ENDPOINTS)
    with pytest.raises(ReleaseError, match="endpoint 'fraud' is not in the stack; allowed: churn, churn-v2"):
        releases.weight_keys("fraud", "a=100", ENDPOINTS)


def test_the_cli_prints_the_keys_or_one_line_of_error():
    cli = [sys.executable, "-m", "mlops_stack.cli", "serving"]
    ok = subprocess.run([*cli, "weights", "churn", "a=0,b=100", "--stack", "local"], capture_output=True, text=True, cwd=offline.REPO_ROOT)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["mlops:serving.endpoints.churn.variants[0].weight\t0", "mlops:serving.endpoints.churn.variants[1].weight\t100"]
    bad = subprocess.run([*cli, "release", "model-fraud-a", "--stack", "local", "--image", "x:1"], capture_output=True, text=True, cwd=offline.REPO_ROOT)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
