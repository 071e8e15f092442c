"""Config → the values components take (components/specs.py): the one place they are mapped."""

from __future__ import annotations

from typing import Optional

from components.specs import EndpointSpec, GitCheckout, Ingress, Monitoring, ServerProfile, VariantSpec
from infra.config import GitSource, IngressConfig, MonitoringConfig, NotebookProfile, ServingEndpoint


def checkout(source: GitSource) -> GitCheckout:
    assert source.path is not None  # config resolves it: the image's path, or "." in the repository
    return GitCheckout(path=source.path, git=source.git, ref=source.ref, credentials_secret=source.credentials_secret)


def ingress(given: IngressConfig) -> Ingress:
    return Ingress(enabled=given.enabled, host=given.host, class_name=given.class_name, tls_secret=given.tls_secret)


def monitoring(given: MonitoringConfig) -> Optional[Monitoring]:
    if not given.enabled:
        return None
    return Monitoring(enabled=True, schedule=given.schedule, project=given.project, reference=given.reference, current=given.current)


def endpoint(given: ServingEndpoint) -> EndpointSpec:
    return EndpointSpec(
        name=given.name,
        variants=tuple(
            VariantSpec(name=v.name, image=v.image, model=v.model, weight=v.weight, size=v.size,
                        max_replicas=v.max_replicas, instance_type=v.instance_type)
            for v in given.variants
        ),
        await_ready=given.await_ready,
        smoke_request=given.smoke_request,
    )


def server_profiles(given: tuple[NotebookProfile, ...]) -> tuple[ServerProfile, ...]:
    return tuple(
        ServerProfile(name=p.name, description=p.description, size=p.size, gpus=p.gpus, gpu_resource=p.gpu_resource,
                      node_selector=dict(p.node_selector), tolerations=tuple(p.tolerations))
        for p in given
    )
