"""The example's Airflow assets, shared by the DAGs that update them and the DAGs they trigger."""

import os

from airflow.sdk import Asset, AssetWatcher

from churn.pipeline import ACTIVITY_KEY, ENDPOINT, PREDICTIONS_PREFIX
from mlops_jobs import lake_events, pipeline_names

# s3://<lake>/... or abfss://<lake>@<account>.dfs.core.windows.net/...; the DAG processor has the pipeline config.
LAKE_URL = os.environ.get("MLOPS_BUCKET_LAKE_URL") or "s3://lake"


def _watchers() -> list[AssetWatcher]:
    """The triggerer's watch on the lake's queue (SQS, Service Bus or Redis), as the pipeline config names it."""
    kwargs = lake_events.watcher_kwargs()
    if kwargs is None:  # polling: lake_watch lists the prefix on its schedule instead
        return []
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    return [AssetWatcher(name="lake_incoming_queue", trigger=MessageQueueTrigger(**kwargs))]


# Updated by every message about new objects under the events prefix (incoming/).
LAKE_INCOMING = Asset(name="lake_incoming", uri=f"{LAKE_URL}/{lake_events.prefix()}", watchers=_watchers())
CUSTOMER_ACTIVITY = Asset(name="churn_customer_activity", uri=f"{LAKE_URL}/{ACTIVITY_KEY}")
CHURN_PREDICTIONS = Asset(name="churn_predictions", uri=f"{LAKE_URL}/{PREDICTIONS_PREFIX}")
# Updated by the monitoring job (mlops_jobs.monitor) when a variant's captured traffic drifts from the
# data the model was trained on.
CHURN_DRIFT = Asset(name=pipeline_names.drift_asset(ENDPOINT), uri=f"{LAKE_URL}/{pipeline_names.capture_prefix(ENDPOINT)}")
