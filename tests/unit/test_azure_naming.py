"""Azure's global names: derived from the stack, within each service's length and charset rules,
the same on every run, and never shared by two stacks or two subscriptions."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from components.azure.naming import key_vault_name, online_endpoint_name, server_name, storage_account_name, unique_suffix

# Pulumi stack names: letters, digits, '-', '_', '.'.
stacks = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", fullmatch=True)
# Model endpoint names as the config allows them (infra.config.ENDPOINT_NAME).
endpoints = st.from_regex(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", fullmatch=True)
subscriptions = st.uuids().map(str)


@settings(max_examples=300, deadline=None)
@given(stacks, subscriptions)
def test_every_name_fits_its_services_rules(stack, subscription):
    suffix = unique_suffix(subscription, "mlops-rg", stack)
    assert re.fullmatch(r"[a-z0-9]{8}", suffix)
    # Storage accounts: 3-24 lowercase letters and digits.
    for purpose in ("", "ml"):
        assert re.fullmatch(r"[a-z0-9]{3,24}", storage_account_name(stack, suffix, purpose))
    # Key Vault: 3-24 letters, digits and single hyphens, from a letter to a letter or digit.
    vault = key_vault_name(stack, suffix)
    assert re.fullmatch(r"[a-z][a-z0-9-]{1,22}[a-z0-9]", vault) and "--" not in vault
    # PostgreSQL servers and Redis caches: 3-63 lowercase letters, digits and hyphens, no hyphen at either end.
    for role in ("postgres", "redis"):
        name = server_name(stack, suffix, role)
        assert re.fullmatch(r"[a-z][a-z0-9-]{1,61}[a-z0-9]", name) and "--" not in name


@settings(max_examples=300, deadline=None)
@given(endpoints, stacks, subscriptions)
def test_online_endpoint_names_fit_azure_ml_and_are_unique_per_stack(endpoint, stack, subscription):
    # 3-32 letters, digits and hyphens from a letter; the scoring URI's host, so unique in the region.
    suffix = unique_suffix(subscription, "mlops-rg", stack)
    name = online_endpoint_name(endpoint, stack, suffix)
    assert re.fullmatch(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", name) and name.endswith(suffix)
    assert online_endpoint_name(endpoint, stack, suffix) == name


@given(stacks, stacks, subscriptions)
def test_two_stacks_never_share_a_name_and_one_stack_always_gets_the_same(first, second, subscription):
    a, b = unique_suffix(subscription, "rg", first), unique_suffix(subscription, "rg", second)
    assert storage_account_name(first, a) == storage_account_name(first, unique_suffix(subscription, "rg", first))
    if first.lower() != second.lower():
        assert storage_account_name(first, a) != storage_account_name(second, b)
        assert key_vault_name(first, a) != key_vault_name(second, b)


def test_the_same_stack_in_another_subscription_gets_other_names():
    one, other = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    assert storage_account_name("production", unique_suffix(one, "mlops-production", "production")) != storage_account_name(
        "production", unique_suffix(other, "mlops-production", "production"))


def test_a_long_stack_name_keeps_its_readable_start():
    assert storage_account_name("staging-pr-1234", "0123abcd") == "mlopsstagingpr120123abcd"
    assert server_name("staging-pr-1234", "0123abcd", "postgres") == "mlops-postgres-staging-pr-1234-0123abcd"
