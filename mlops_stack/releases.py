"""Model releases: a git tag `model-<endpoint>-<variant>` names the variant it cuts, and a release or
a traffic shift becomes `pulumi config set --path` keys of the target stack.

Both are checked against the stack's own config before anything is set: the endpoint must exist, the
variant's name must be valid, and weights must add up to 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra import config
from mlops_stack import offline

TAG_PREFIX = "model-"


class ReleaseError(ValueError):
    """A tag, stack or weight that does not fit the stack's serving config; the message says what would."""


@dataclass(frozen=True)
class Release:
    endpoint: str
    variant: str


def endpoints_of(stack: str, root: Path = offline.REPO_ROOT) -> dict[str, config.ServingEndpoint]:
    """The stack's endpoints, validated: a release is only ever cut against a config that deploys."""
    return {e.name: e for e in offline.validated_config(stack, root).serving.endpoints}


def parse_tag(tag: str, endpoints: dict[str, config.ServingEndpoint]) -> Release:
    """`model-churn-b` → churn, b. Endpoint names may hold '-': the longest configured one wins."""
    if not tag.startswith(TAG_PREFIX):
        raise ReleaseError(f"tag {tag!r} is not a model release; allowed: {TAG_PREFIX}<endpoint>-<variant>, e.g. model-churn-b")
    rest = tag[len(TAG_PREFIX):]
    for endpoint in sorted(endpoints, key=len, reverse=True):
        if rest.startswith(endpoint + "-") and len(rest) > len(endpoint) + 1:
            variant = rest[len(endpoint) + 1:]
            if not config.VARIANT_NAME.matches(variant):
                raise ReleaseError(f"tag {tag!r}: variant {variant!r} is not allowed; allowed: {config.VARIANT_NAME.allowed}")
            return Release(endpoint, variant)
    known = ", ".join(sorted(endpoints)) or "none"
    raise ReleaseError(f"tag {tag!r} names no endpoint of the stack; allowed: {TAG_PREFIX}<endpoint>-<variant> with endpoint one of: {known}")


def release_keys(release: Release, image: str, endpoints: dict[str, config.ServingEndpoint]) -> dict[str, str]:
    """The config keys that point the variant at `image`. A new variant starts at weight 0: it runs,
    and gets traffic only when the weights are shifted to it."""
    variants = endpoints[release.endpoint].variants
    prefix = f"{config.NAMESPACE}:serving.endpoints.{release.endpoint}.variants"
    names = [v.name for v in variants]
    if release.variant in names:
        index = names.index(release.variant)
        keys = {f"{prefix}[{index}].image": image}
        if variants[index].model is not None:
            raise ReleaseError(
                f"{prefix}[{index}]: variant {release.variant!r} serves {variants[index].model}; "
                "allowed: a release tag for an image variant (or remove its model key first)"
            )
        return keys
    index = len(variants)
    return {f"{prefix}[{index}].name": release.variant, f"{prefix}[{index}].image": image, f"{prefix}[{index}].weight": "0"}


def weight_keys(endpoint: str, weights: str, endpoints: dict[str, config.ServingEndpoint]) -> dict[str, str]:
    """`a=0,b=100` → the weight keys of each variant; every variant must get one, and they add up to 100."""
    if endpoint not in endpoints:
        raise ReleaseError(f"endpoint {endpoint!r} is not in the stack; allowed: {', '.join(sorted(endpoints)) or 'none'}")
    names = [v.name for v in endpoints[endpoint].variants]
    given: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in weights.split(","))):
        name, _, value = part.partition("=")
        if not value.strip().isdigit():
            raise ReleaseError(f"weights: {part!r} is not allowed; allowed: <variant>=<0..100>, e.g. a=90,b=10")
        given[name.strip()] = int(value)
    if set(given) != set(names):
        raise ReleaseError(f"weights: variants {', '.join(sorted(given))} given; allowed: a weight for each of {', '.join(names)}")
    if sum(given.values()) != 100 or any(w > 100 for w in given.values()):
        raise ReleaseError(f"weights: they add up to {sum(given.values())}; allowed: weights that add up to 100")
    prefix = f"{config.NAMESPACE}:serving.endpoints.{endpoint}.variants"
    return {f"{prefix}[{names.index(name)}].weight": str(weight) for name, weight in given.items()}
