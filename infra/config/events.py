"""events: how new data in the lake reaches Airflow (a queue that an AssetWatcher watches, or polling),
its defaults per backend, and its checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from pydantic import Field

from .choices import Backend
from .errors import Problems
from .types import InputModel, Pattern


class EventQueue(str, Enum):
    REDIS = "redis"  # pub/sub on the platform's Redis; mlops_jobs.lake_events publishes
    SQS = "sqs"  # S3 event notifications to an SQS queue (aws)
    SERVICE_BUS = "service-bus"  # Event Grid on the storage account to a Service Bus queue (azure)
    POLLING = "polling"  # no queue: lake_watch lists the prefix on a schedule


# The lake's own notifications where the cloud has them; the platform's Redis where it does not.
DEFAULT_QUEUE = {Backend.ENSEMBLE: EventQueue.REDIS, Backend.AWS: EventQueue.SQS, Backend.AZURE: EventQueue.SERVICE_BUS}
# Which queue each backend can feed from its lake.
ALLOWED_QUEUES = {
    Backend.ENSEMBLE: (EventQueue.REDIS, EventQueue.POLLING),
    Backend.AWS: (EventQueue.SQS, EventQueue.REDIS, EventQueue.POLLING),
    Backend.AZURE: (EventQueue.SERVICE_BUS, EventQueue.REDIS, EventQueue.POLLING),
}
LAKE_PREFIX = Pattern(r"^([A-Za-z0-9!_.*'()-]+/)+$", "a key prefix of the lake ending in '/', without a leading '/', e.g. incoming/")
LakePrefix = LAKE_PREFIX.type


class EventsConfig(InputModel):
    """New objects under `prefix` of the lake become messages on a queue; Airflow's triggerer watches it."""

    queue: Optional[EventQueue] = Field(
        None, description="redis, sqs (aws), service-bus (azure) or polling; default sqs on aws, service-bus on azure, redis on the ensemble")
    prefix: LakePrefix = Field("incoming/", description="Where new data lands in the lake bucket; only objects under it send messages")
    max_deliveries: int = Field(5, ge=1, le=1000, description="Deliveries of a message before it moves to the dead-letter queue (sqs, service-bus)")
    retention_days: int = Field(4, ge=1, le=14, description="Days an unread message is kept (sqs, service-bus)")


@dataclass(frozen=True)
class Events:
    queue: EventQueue
    prefix: str
    max_deliveries: int
    retention_days: int

    @property
    def watched(self) -> bool:
        return self.queue is not EventQueue.POLLING


def resolve(raw: EventsConfig, backend: Backend, problems: Problems) -> Events:
    queue = raw.queue or DEFAULT_QUEUE[backend]
    allowed = ALLOWED_QUEUES[backend]
    if queue not in allowed:
        problems.not_allowed("services.events.queue", queue.value,
                             f"{', '.join(q.value for q in allowed)} with backend {backend.value!r}")
    return Events(queue=queue, prefix=raw.prefix, max_deliveries=raw.max_deliveries, retention_days=raw.retention_days)
