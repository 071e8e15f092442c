"""Physical names of AWS resources: stable per stack, within each service's length and charset rules."""

from __future__ import annotations

import hashlib
import re


def physical_name(*parts: str, max_length: int = 63) -> str:
    """Lowercase letters, digits and '-', starting with a letter. Too long: shortened with a hash,
    so two stacks never share a name and the same stack always gets the same one."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name[:1].isalpha():
        name = "m-" + name
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_length - 9].rstrip('-')}-{digest}"
