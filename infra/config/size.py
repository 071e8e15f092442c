"""How a stack's requested resources override an environment's default Size (infra.contract)."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from infra.contract import Size

from .types import InputModel, Quantity


class ResourcesConfig(InputModel):
    """Kubernetes requests and limits for a service's main container."""

    cpu: Optional[Quantity] = Field(None, description="CPU request, e.g. 250m")
    memory: Optional[Quantity] = Field(None, description="Memory request, e.g. 512Mi")
    cpu_limit: Optional[Quantity] = Field(None, description="CPU limit, e.g. 2")
    memory_limit: Optional[Quantity] = Field(None, description="Memory limit, e.g. 2Gi")


def sized(default: Size, replicas: Optional[int], requested: Optional[ResourcesConfig], storage: Optional[str] = None) -> Size:
    """A size with what the stack asks for over the environment's default."""
    requested = requested or ResourcesConfig()
    return Size(
        replicas=replicas or default.replicas,
        cpu=requested.cpu or default.cpu,
        memory=requested.memory or default.memory,
        cpu_limit=requested.cpu_limit or default.cpu_limit,
        memory_limit=requested.memory_limit or default.memory_limit,
        storage=storage or default.storage,
    )
