"""The lake's events end to end, as the test services give them: the rendered S3 notification applied to
the S3 endpoint (moto delivers S3 notifications to its SQS), Redis pub/sub on the ensemble, and the
Airflow REST API that says which runs the events queued."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import boto3

from mlops_stack.offline import Recording


def sqs(endpoint: str, region: str):
    return boto3.client("sqs", endpoint_url=endpoint, region_name=region, aws_access_key_id="test", aws_secret_access_key="test")


def set_up_lake_notifications(recording: Recording, endpoint: str) -> str:
    """The stack's queues and the lake's notification, with the rendered names and settings; returns the
    queue URL. S3 sends a test message when a notification is set: it is purged."""
    queue = recording.one("aws:sqs/queue:Queue", "lake-events-queue").inputs
    dead_letters = recording.one("aws:sqs/queue:Queue", "lake-events-dead-letters").inputs
    notification = recording.one("aws:s3/bucketNotification:BucketNotification", "lake-events-notification").inputs
    [target] = notification["queues"]
    region = target["queueArn"].split(":")[3]
    client = sqs(endpoint, region)
    client.create_queue(QueueName=dead_letters["name"], Attributes={"MessageRetentionPeriod": str(dead_letters["messageRetentionSeconds"])})
    url = client.create_queue(QueueName=queue["name"], Attributes={
        "MessageRetentionPeriod": str(queue["messageRetentionSeconds"]), "ReceiveMessageWaitTimeSeconds": str(queue["receiveWaitTimeSeconds"]),
        "VisibilityTimeout": str(queue["visibilityTimeoutSeconds"]), "RedrivePolicy": queue["redrivePolicy"],
    })["QueueUrl"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    s3.put_bucket_notification_configuration(Bucket=notification["bucket"], NotificationConfiguration={"QueueConfigurations": [{
        "Id": target["id"], "QueueArn": target["queueArn"], "Events": target["events"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": target["filterPrefix"]}]}},
    }]})
    client.purge_queue(QueueUrl=url)
    return url


def runs_since(api: Callable[[str], Any], dag_id: str, since: float) -> list[dict]:
    """The DAG's runs queued after `since` (epoch seconds), oldest first."""
    runs = api(f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
    return sorted((r for r in runs if epoch(r["queued_at"] or r["run_after"]) >= since), key=lambda r: r["queued_at"] or r["run_after"])


def wait_for_run(api: Callable[[str], Any], dag_id: str, since: float, *, timeout: float, run_type: str = "asset_triggered") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        runs = [r for r in runs_since(api, dag_id, since) if r["run_type"] == run_type]
        if runs:
            return runs[0]
        assert time.monotonic() < deadline, f"no {run_type} run of {dag_id} within {timeout:.0f} s"
        time.sleep(0.5)


def wait_for_subscriber(client, channel: str, *, timeout: float) -> None:
    """Redis pub/sub delivers only to who listens now: wait until the triggerer's watcher subscribed."""
    deadline = time.monotonic() + timeout
    while dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) < 1:
        assert time.monotonic() < deadline, f"nobody subscribed to {channel} within {timeout:.0f} s"
        time.sleep(0.5)


def epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def event_record(message: str) -> dict:
    return json.loads(message)["Records"][0]
