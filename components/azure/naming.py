"""Physical names of Azure resources.

Storage accounts, Key Vaults, PostgreSQL servers and Redis caches have names that are global DNS names,
so two subscriptions (or two stacks) must never derive the same one. A name is the stack's name, cut to
fit, followed by a suffix hashed from the subscription, the resource group and the stack: the same
stack always gets the same name, and no other stack can.
"""

from __future__ import annotations

import hashlib
import re

SUFFIX_LENGTH = 8


def unique_suffix(*scope: str) -> str:
    """Lowercase letters and digits, hashed from `scope` (like ARM's uniqueString)."""
    digest = hashlib.sha256("/".join(scope).lower().encode()).hexdigest()
    return digest[:SUFFIX_LENGTH]


def global_name(prefix: str, stack: str, suffix: str, *, max_length: int, hyphens: bool = True) -> str:
    """`<prefix>-<stack>-<suffix>` within `max_length`, starting with a letter.

    `hyphens=False` gives letters and digits only (storage accounts: 3-24 of them)."""
    separator = "-" if hyphens else ""
    allowed = r"[^a-z0-9-]+" if hyphens else r"[^a-z0-9]+"
    middle = re.sub(allowed, separator, stack.lower())
    middle = re.sub(r"-{2,}", "-", middle).strip("-")
    room = max_length - len(prefix) - len(suffix) - 2 * len(separator)
    middle = middle[: max(room, 0)].strip("-")
    parts = [p for p in (prefix, middle, suffix) if p]
    return separator.join(parts)


def storage_account_name(stack: str, suffix: str, purpose: str = "") -> str:
    """3-24 lowercase letters and digits, globally unique."""
    return global_name("mlops" + purpose, stack, suffix, max_length=24, hyphens=False)


def key_vault_name(stack: str, suffix: str, purpose: str = "") -> str:
    """3-24 letters, digits and single hyphens, starting with a letter, globally unique."""
    return global_name("mlops" + purpose, stack, suffix, max_length=24)


def server_name(stack: str, suffix: str, role: str) -> str:
    """3-63 lowercase letters, digits and hyphens: PostgreSQL servers and Redis caches (global DNS names)."""
    return global_name(f"mlops-{role}", stack, suffix, max_length=63)


def service_bus_namespace_name(stack: str, suffix: str) -> str:
    """6-50 letters, digits and hyphens, starting with a letter, globally unique (<name>.servicebus.windows.net)."""
    return global_name("mlops-events", stack, suffix, max_length=50)


def online_endpoint_name(endpoint: str, stack: str, suffix: str) -> str:
    """3-32 letters, digits and hyphens, starting with a letter, unique within the region (it is the scoring URI's host)."""
    return global_name(endpoint[:23].rstrip("-"), stack, suffix, max_length=32)


def compute_instance_name(user: str, stack: str, suffix: str) -> str:
    """3-24 letters, digits and hyphens, unique within the region: the user, the stack, and a hash of
    both with the stack's suffix (two users alike in their first letters still differ)."""
    return global_name(user[:8].rstrip("-"), stack, unique_suffix(suffix, user), max_length=24)
