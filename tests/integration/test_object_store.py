"""The object store's setup Job as rendered, in its container of the platform image, against an S3
endpoint (moto): it creates the platform's buckets through the S3 API, versions them in production,
lets the captured requests expire, and can run again. SeaweedFS's own image cannot be pulled here; the identities it would load are
checked in tests/unit/test_seaweedfs.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

import boto3
import pytest

from tests.conftest import recording_of
from tests.integration.conftest import free_port
from tests.integration.containers import ContainerCluster, docker_ready, platform_image

pytestmark = pytest.mark.integration
BUCKETS = ["artifacts", "backups", "feature-store", "lake", "monitoring"]


def states(versioned: bool, retention_days: int, first: bool) -> list[str]:
    """The setup's line per bucket: the lake's captures expire after the stack's retention."""
    state = ("created" if first else "exists") + (", versioned" if versioned else "")
    return [f"bucket {b}: {state}" + (f", inference/ expires after {retention_days} days" if b == "lake" else "") for b in BUCKETS]


@pytest.mark.parametrize("stack, versioned, retention_days", [("local", False, 7), ("production-onprem", True, 30)])
def test_the_setup_job_creates_every_bucket_versions_them_in_production_and_runs_again(stack, versioned, retention_days, s3_endpoint):
    docker_ready(platform_image())
    cluster = ContainerCluster(recording_of(stack), Path(tempfile.mkdtemp(prefix="mlops-object-store-")))
    cluster.expose("seaweedfs.mlops.svc.cluster.local:8333", int(s3_endpoint.rsplit(":", 1)[1]))
    setup = cluster.container("Job", "seaweedfs-setup")
    # It signs in as the store's admin, the one identity that may create buckets.
    assert setup.env["AWS_ACCESS_KEY_ID"] == "mlops-admin"

    first = setup.run(timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert sorted(first.stdout.split("\n")[:-1]) == states(versioned, retention_days, first=True)

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == BUCKETS
    for bucket in BUCKETS:
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == ("Enabled" if versioned else None)
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket="lake")["Rules"]
    assert (rule["Status"], rule["Filter"], rule["Expiration"]) == ("Enabled", {"Prefix": "inference/"}, {"Days": retention_days})

    # Again, as after a changed config: nothing is lost, nothing fails.
    s3.put_object(Bucket="lake", Key="kept.txt", Body=b"data")
    again = setup.run(timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(again.stdout.split("\n")[:-1]) == states(versioned, retention_days, first=False)
    assert len(s3.get_bucket_lifecycle_configuration(Bucket="lake")["Rules"]) == 1
    assert s3.get_object(Bucket="lake", Key="kept.txt")["Body"].read() == b"data"


def test_the_setup_job_fails_with_the_reason_when_the_server_never_answers():
    docker_ready(platform_image())
    cluster = ContainerCluster(recording_of("local"), Path(tempfile.mkdtemp(prefix="mlops-object-store-")))
    cluster.expose("seaweedfs.mlops.svc.cluster.local:8333", free_port())  # nothing listens there
    setup = cluster.container("Job", "seaweedfs-setup")
    setup.env["MLOPS_OBJECT_STORE_WAIT_SECONDS"] = "3"
    failed = setup.run(timeout=120)
    assert failed.returncode == 1
    assert "object store setup: the server did not answer within 3 s" in failed.stderr
