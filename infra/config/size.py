"""Size: a workload's replicas, requests, limits and volume, and how a stack's request overrides the default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pydantic import Field

from .types import InputModel, Quantity


class ResourcesConfig(InputModel):
    """Kubernetes requests and limits for a service's main container."""

    cpu: Optional[Quantity] = Field(None, description="CPU request, e.g. 250m")
    memory: Optional[Quantity] = Field(None, description="Memory request, e.g. 512Mi")
    cpu_limit: Optional[Quantity] = Field(None, description="CPU limit, e.g. 2")
    memory_limit: Optional[Quantity] = Field(None, description="Memory limit, e.g. 2Gi")


@dataclass(frozen=True)
class Size:
    replicas: int
    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str
    storage: str = ""  # per pod; only the data services keep a volume


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
