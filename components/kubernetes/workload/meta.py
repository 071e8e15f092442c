"""How the platform's objects are placed, labelled and found: namespaces, labels, selectors, DNS names."""

from __future__ import annotations

from typing import Protocol

import pulumi

PART_OF = "mlops-stack"


class Placement(Protocol):
    """Where a component's objects go, and how they are kept: what Secrets and setup Jobs need."""

    namespace: pulumi.Input[str]
    labels: dict[str, str]
    protect: bool


def labels(app: str, extra: dict[str, str], component: str = "server") -> dict[str, str]:
    return {
        **extra,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(app: str, component: str = "server") -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/component": component}


def service_dns(name: str, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat(name, ".", namespace, ".svc.cluster.local")
