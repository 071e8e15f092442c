"""Config → the values components take (components/specs.py): the one place they are mapped."""

from __future__ import annotations

from typing import Optional

from components.specs import EndpointSpec, GitCheckout, Ingress, Monitoring, ServerProfile, VariantSpec
import pulumi

from infra.config import EventQueue, Events, GitSource, IngressConfig, MonitoringConfig, NotebookProfile, ServingEndpoint
from infra.contract import LakeEvents

# The Redis pub/sub channel of the lake's events, where Redis carries them (mlops_jobs.lake_events publishes).
LAKE_EVENTS_CHANNEL = "mlops.lake-events"


def checkout(source: GitSource) -> GitCheckout:
    assert source.path is not None  # config resolves it: the image's path, or "." in the repository
    return GitCheckout(path=source.path, git=source.git, ref=source.ref, credentials_secret=source.credentials_secret)


def ingress(given: IngressConfig) -> Ingress:
    return Ingress(enabled=given.enabled, host=given.host, class_name=given.class_name, tls_secret=given.tls_secret)


def monitoring(given: MonitoringConfig) -> Optional[Monitoring]:
    if not given.enabled:
        return None
    return Monitoring(enabled=True, schedule=given.schedule, project=given.project, reference=given.reference, current=given.current,
                      threshold=given.threshold, window_hours=given.window_hours)


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
        capture_rate=given.capture_rate,
    )


def server_profiles(given: tuple[NotebookProfile, ...]) -> tuple[ServerProfile, ...]:
    return tuple(
        ServerProfile(name=p.name, description=p.description, size=p.size, gpus=p.gpus, gpu_resource=p.gpu_resource,
                      node_selector=dict(p.node_selector), tolerations=tuple(p.tolerations))
        for p in given
    )


def lake_events(given: Events, *, queue: pulumi.Input[str] = "", region: pulumi.Input[str] = "",
                namespace: pulumi.Input[str] = "") -> LakeEvents:
    """The lake's event queue as endpoints carry it; a cloud backend passes the queue it made."""
    if given.queue is EventQueue.REDIS:
        queue = LAKE_EVENTS_CHANNEL
    return LakeEvents(kind=given.queue.value, queue=queue, prefix=given.prefix, region=region, namespace=namespace)
