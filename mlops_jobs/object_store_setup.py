"""Creates the platform's buckets in an S3 server through the S3 API, and versions them when asked.

Safe to run again: an existing bucket is kept as it is, versioning is only ever enabled, and a
bucket's lifecycle rules (objects under a prefix expire some days after they were written) are set
to exactly the ones asked for. The
endpoint and the admin key come from the standard AWS variables (AWS_ENDPOINT_URL_S3,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION).

    python -m mlops_jobs.object_store_setup /setup/object-store.json
    # {"buckets": ["lake", "artifacts"], "versioning": true, "expirations": {"lake": {"inference/": 7}}}
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Mapping

# How long to wait for the server (a first deployment starts it alongside this Job).
WAIT_SECONDS = float(os.environ.get("MLOPS_OBJECT_STORE_WAIT_SECONDS", "300"))


def client():
    import boto3
    from botocore.config import Config

    # Path-style addressing: an in-cluster server has no wildcard DNS for bucket sub-domains.
    return boto3.client("s3", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


def wait_until_up(s3, seconds: float, pause: float = 2.0) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + seconds
    while True:
        try:
            s3.list_buckets()
            return
        except (BotoCoreError, ClientError) as error:
            if time.monotonic() >= deadline:
                raise SystemExit(f"object store setup: the server did not answer within {seconds:.0f} s: {error}")
            time.sleep(pause)


def ensure_bucket(s3, bucket: str) -> str:
    """Asked first: in us-east-1, S3 answers 200 to creating a bucket you already own."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return "exists"
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    try:
        s3.create_bucket(Bucket=bucket)
        return "created"
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return "exists"  # another run made it meanwhile
        raise


def lifecycle(expirations: Mapping[str, int]) -> dict:
    """S3's lifecycle configuration: what is under each prefix expires after its days."""
    return {"Rules": [
        {"ID": "expire-" + prefix.strip("/").replace("/", "-"), "Status": "Enabled", "Filter": {"Prefix": prefix},
         "Expiration": {"Days": days}}
        for prefix, days in sorted(expirations.items())
    ]}


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m mlops_jobs.object_store_setup <setup.json>", file=sys.stderr)
        return 2
    wanted = json.loads(Path(args[0]).read_text())
    s3 = client()
    wait_until_up(s3, WAIT_SECONDS)
    for bucket in wanted["buckets"]:
        state = ensure_bucket(s3, bucket)
        if wanted.get("versioning"):
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            state += ", versioned"
        expirations = wanted.get("expirations", {}).get(bucket)
        if expirations:
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=lifecycle(expirations))
            state += ", " + ", ".join(f"{prefix} expires after {days} days" for prefix, days in sorted(expirations.items()))
        print(f"bucket {bucket}: {state}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
