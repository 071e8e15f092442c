"""mlops_jobs.lake_events: what the watcher is given on each queue, and what the publisher sends."""

from __future__ import annotations

import json

import pytest

from mlops_jobs import lake_events
from mlops_jobs import pipeline_names as names


def env(kind: str, queue: str = "q", **extra: str) -> dict[str, str]:
    return {names.EVENTS_KIND: kind, names.EVENTS_QUEUE: queue, names.EVENTS_CONN_ID: names.EVENTS_CONNECTION,
            names.EVENTS_PREFIX: "incoming/", **extra}


def test_each_queue_gives_its_providers_trigger_the_queue_and_the_connection():
    assert lake_events.watcher_kwargs(env("redis", "mlops.lake-events")) == {
        "scheme": "redis+pubsub", "channels": ["mlops.lake-events"], "redis_conn_id": "mlops_events", "poll_interval": 1.0}
    sqs = lake_events.watcher_kwargs(env("sqs", "https://sqs.eu-west-1.amazonaws.com/1/q", **{names.EVENTS_REGION: "eu-west-1"}))
    assert sqs["scheme"] == "sqs" and sqs["sqs_queue"].endswith("/q") and sqs["aws_conn_id"] == "mlops_events"
    assert sqs["region_name"] == "eu-west-1" and sqs["wait_time_seconds"] == 20  # long polling: an idle queue costs little
    bus = lake_events.watcher_kwargs(env("service-bus", "lake-events"))
    assert bus["scheme"] == "azure+servicebus" and bus["queues"] == ["lake-events"] and bus["azure_service_bus_conn_id"] == "mlops_events"
    assert lake_events.watcher_kwargs(env("polling", "")) is None
    assert lake_events.watcher_kwargs({}) is None  # outside a pipeline pod: nothing to watch


def test_a_bad_kind_or_a_missing_queue_is_one_clear_error():
    with pytest.raises(RuntimeError, match="MLOPS_EVENTS_KIND is 'kafka'; supported: redis, sqs, service-bus, polling"):
        lake_events.watcher_kwargs(env("kafka"))
    with pytest.raises(RuntimeError, match="MLOPS_EVENTS_QUEUE or MLOPS_EVENTS_CONN_ID is empty"):
        lake_events.watcher_kwargs(env("sqs", ""))


class Recorder:
    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def publish(self, channel, message):
        self.sent.append((channel, json.loads(message)))


def test_the_publisher_announces_keys_under_the_prefix_on_redis_only(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(lake_events, "_redis", lambda: recorder)
    for key, value in {**env("redis", "mlops.lake-events"), names.bucket_key("lake"): "lake"}.items():
        monkeypatch.setenv(key, value)
    assert lake_events.publish(["incoming/churn/a.parquet", "example/x.parquet"], sizes={"incoming/churn/a.parquet": 42}) == 1
    [(channel, body)] = recorder.sent
    assert channel == "mlops.lake-events"
    [record] = body["Records"]  # S3's event record shape, so one reader reads S3's and ours
    assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["bucket"]["name"] == "lake"
    assert record["s3"]["object"] == {"key": "incoming/churn/a.parquet", "size": 42}
    assert lake_events.publish(["example/only.parquet"]) == 0 and len(recorder.sent) == 1

    monkeypatch.setenv(names.EVENTS_KIND, "sqs")  # S3 notifies the queue itself
    assert lake_events.publish(["incoming/churn/b.parquet"]) == 0 and len(recorder.sent) == 1


def test_the_cli_refuses_a_key_outside_the_prefix(monkeypatch, capsys):
    monkeypatch.setenv(names.EVENTS_KIND, "redis")
    monkeypatch.setenv(names.EVENTS_PREFIX, "incoming/")
    with pytest.raises(SystemExit):
        lake_events.main(["put", "/dev/null", "elsewhere/x.parquet"])
    assert "not under the watched prefix 'incoming/'" in capsys.readouterr().err
