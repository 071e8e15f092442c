"""The lake's events, from the pipeline config (MLOPS_EVENTS_*): what Airflow watches, and the publisher
where no cloud sends them.

- sqs (AWS): S3 notifies the queue itself; service-bus (Azure): Event Grid does.
- redis (the ensemble, or by choice): the in-cluster object stores have no notification to Redis, so
  writers publish. `mlops_jobs.buckets` does it on every write under the prefix; other writers run

      python -m mlops_jobs.lake_events put data.parquet incoming/churn/2026-12-03.parquet
      python -m mlops_jobs.lake_events notify incoming/churn/a.parquet incoming/churn/b.parquet

  Redis pub/sub delivers to whoever listens at that moment: a message sent while the triggerer restarts
  is lost. DAGs therefore treat a message as "look now" and list the prefix; a periodic sweep
  (lake_watch's hourly schedule) catches what a lost message would have started.
- polling: no queue; lake_watch lists the prefix every few minutes.

The message body follows S3's event records on every backend that we publish ourselves, so a reader
of `Records[].s3.object.key` reads either.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any, Optional

from mlops_jobs import pipeline_names as names

# How long a watcher waits between looks at the queue: SQS and Service Bus hold a request open this
# long for a message (long polling); Redis is asked this often.
LONG_POLL_SECONDS = 20
REDIS_POLL_SECONDS = 1.0


def kind(env: Optional[dict[str, str]] = None) -> str:
    env = os.environ if env is None else env
    value = env.get(names.EVENTS_KIND) or "polling"
    if value not in names.EVENT_KINDS:
        raise RuntimeError(f"{names.EVENTS_KIND} is {value!r}; supported: {', '.join(names.EVENT_KINDS)}")
    return value


def prefix(env: Optional[dict[str, str]] = None) -> str:
    env = os.environ if env is None else env
    return env.get(names.EVENTS_PREFIX) or "incoming/"


def watcher_kwargs(env: Optional[dict[str, str]] = None) -> Optional[dict[str, Any]]:
    """The arguments of Airflow's MessageQueueTrigger for the lake's queue; None with polling."""
    env = os.environ if env is None else env
    found = kind(env)
    if found == "polling":
        return None
    queue, conn_id = env.get(names.EVENTS_QUEUE, ""), env.get(names.EVENTS_CONN_ID, "")
    if not queue or not conn_id:
        raise RuntimeError(f"{names.EVENTS_KIND} is {found!r} but {names.EVENTS_QUEUE} or {names.EVENTS_CONN_ID} is empty")
    if found == "redis":
        return {"scheme": "redis+pubsub", "channels": [queue], "redis_conn_id": conn_id, "poll_interval": REDIS_POLL_SECONDS}
    if found == "sqs":
        return {"scheme": "sqs", "sqs_queue": queue, "aws_conn_id": conn_id, "region_name": env.get(names.EVENTS_REGION) or None,
                "max_messages": 10, "wait_time_seconds": LONG_POLL_SECONDS, "waiter_delay": 1}
    return {"scheme": "azure+servicebus", "queues": [queue], "azure_service_bus_conn_id": conn_id,
            "max_wait_time": LONG_POLL_SECONDS, "poll_interval": 1}


def s3_record(bucket: str, key: str, size: int = 0, now: Optional[dt.datetime] = None) -> dict[str, Any]:
    """One S3 event notification record, as S3 sends it (the fields readers use)."""
    when = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"eventSource": "mlops:lake", "eventName": "ObjectCreated:Put", "eventTime": when,
            "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}}}


def _redis():
    """A client of the events connection itself: the publisher writes where the watcher reads."""
    from urllib.parse import parse_qs, unquote, urlsplit

    import redis

    variable = f"AIRFLOW_CONN_{names.EVENTS_CONNECTION.upper()}"
    uri = os.environ.get(variable)
    if not uri:
        raise RuntimeError(f"{variable} is not set: is the pipeline config's Secret in this pod's environment?")
    parts, query = urlsplit(uri), parse_qs(urlsplit(uri).query)
    return redis.Redis(
        host=parts.hostname, port=parts.port or 6379, password=unquote(parts.password) if parts.password else None,
        db=int(query.get("db", ["0"])[0]), ssl=query.get("ssl", ["false"])[0] == "true", socket_timeout=10,
    )


def publish(keys: list[str], *, bucket: Optional[str] = None, sizes: Optional[dict[str, int]] = None) -> int:
    """Tell the watcher that `keys` arrived in the lake, where Redis carries the events; returns how many
    records were sent (0 where a cloud sends its own, or for keys outside the prefix)."""
    if kind() != "redis":
        return 0
    watched = [key for key in keys if key.startswith(prefix())]
    if not watched:
        return 0
    bucket = bucket or os.environ[names.bucket_key("lake")]
    records = [s3_record(bucket, key, (sizes or {}).get(key, 0)) for key in watched]
    _redis().publish(os.environ[names.EVENTS_QUEUE], json.dumps({"Records": records}))
    return len(records)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_jobs.lake_events", description="Announce new objects in the lake")
    commands = parser.add_subparsers(dest="command", required=True)
    put = commands.add_parser("put", help="upload a local file to the lake and announce it")
    put.add_argument("file")
    put.add_argument("key", help=f"its key in the lake, under {names.EVENTS_PREFIX} (e.g. incoming/churn/x.parquet)")
    notify = commands.add_parser("notify", help="announce objects another tool wrote")
    notify.add_argument("keys", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "put":
        from mlops_jobs.buckets import bucket

        if not args.key.startswith(prefix()):
            parser.error(f"key {args.key!r} is not under the watched prefix {prefix()!r}")
        bucket("lake").put_file(args.file, args.key)  # announces it
        print(f"put {args.key} ({kind()})")
        return 0
    sent = publish(args.keys)
    print(f"announced {sent} of {len(args.keys)} keys ({kind()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
