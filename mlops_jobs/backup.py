"""Uploads a PostgreSQL backup folder to the object store, then deletes backups past their retention.

Backups are kept as s3://<bucket>/<prefix>/<UTC stamp>/<file>, the stamp being the folder name the
dump step wrote (YYYYmmddTHHMMSSZ). The S3 endpoint, region and keys come from the standard AWS
variables (AWS_ENDPOINT_URL_S3 for an in-cluster server).

    python -m mlops_jobs.backup --source /backup --bucket backups --prefix postgres --retention-days 7
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

STAMP = "%Y%m%dT%H%M%SZ"


def upload(client, source: Path, bucket: str, prefix: str) -> list[str]:
    keys = []
    for stamp_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        dt.datetime.strptime(stamp_dir.name, STAMP)  # refuse anything but a dump folder
        files = sorted(f for f in stamp_dir.iterdir() if f.is_file())
        if not files:
            raise SystemExit(f"backup: {stamp_dir} is empty; the dump step failed")
        for file in files:
            key = f"{prefix}/{stamp_dir.name}/{file.name}"
            client.upload_file(str(file), bucket, key)
            keys.append(key)
    return keys


def prune(client, bucket: str, prefix: str, retention_days: int, now: dt.datetime) -> list[str]:
    """Delete every backup older than the retention; the newest backup is always kept."""
    cutoff = now - dt.timedelta(days=retention_days)
    stamps: dict[str, list[str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            stamp = item["Key"][len(prefix) + 1 :].split("/", 1)[0]
            stamps.setdefault(stamp, []).append(item["Key"])
    dated = []
    for stamp, keys in stamps.items():
        try:
            dated.append((dt.datetime.strptime(stamp, STAMP).replace(tzinfo=dt.timezone.utc), keys))
        except ValueError:
            continue  # not ours
    dated.sort()
    expired = [keys for when, keys in dated[:-1] if when < cutoff]
    deleted = [key for keys in expired for key in keys]
    for start in range(0, len(deleted), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in deleted[start : start + 1000]]})
    return deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_jobs.backup", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="postgres")
    parser.add_argument("--retention-days", type=int, required=True)
    args = parser.parse_args(argv)
    import boto3

    client = boto3.client("s3")
    uploaded = upload(client, args.source, args.bucket, args.prefix)
    deleted = prune(client, args.bucket, args.prefix, args.retention_days, dt.datetime.now(dt.timezone.utc))
    print(f"backup: uploaded {len(uploaded)} files to s3://{args.bucket}/{args.prefix}/; deleted {len(deleted)} expired files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
