"""An ephemeral PR stack (`staging-pr-<N>`) can be destroyed completely; production cannot."""

from __future__ import annotations

import json

from tests import fixtures
from mlops_stack import offline
from tests.conftest import recording_of

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
RDS = "aws:rds/instance:Instance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
BUCKET = "aws:s3/bucket:Bucket"
PR_LABELS = {"environment": "staging", "mlops-stack/owner": "octo-cat", "mlops-stack/pr": "42", "mlops-stack/expires": "20261130T1200Z"}


def pr_stack_on_aws():
    # What `mlops-stack env up 42` deploys: Pulumi.staging.yaml plus the ephemeral keys and labels.
    return offline.run("staging-pr-42", {
        **fixtures.stack_config("staging"), "mlops:ephemeral": True, "mlops:protect": False, "mlops:labels": PR_LABELS,
    })


def test_a_pr_stack_on_aws_has_nothing_protected_and_nothing_that_outlives_it():
    recording = pr_stack_on_aws()
    assert [r.name for r in recording.resources if r.protect or r.retain_on_delete] == []
    rds = recording.by_type(RDS)[0].inputs
    assert rds["skipFinalSnapshot"] is True and rds["deletionProtection"] is False and rds["multiAz"] is False
    assert rds["backupRetentionPeriod"] == 0 and rds["deleteAutomatedBackups"] is True
    assert "finalSnapshotIdentifier" not in recording.by_type(CACHE)[0].inputs
    assert all(b.inputs["forceDestroy"] is True for b in recording.by_type(BUCKET))
    assert recording.one("aws:kms/key:Key", "eks-secrets-key").inputs["deletionWindowInDays"] == 7
    # Provider inputs reach the engine as JSON strings.
    tags = json.loads(recording.one("pulumi:providers:aws", "aws").inputs["defaultTags"])
    assert tags["tags"] == {"project": "mlops-stack", "stack": "staging-pr-42", "environment": "staging", "owner": "octo-cat", "ttl": "20261130T1200Z"}


def test_production_on_aws_protects_its_data_and_keeps_a_final_snapshot():
    recording = recording_of("production")
    rds = recording.by_type(RDS)[0]
    assert rds.protect and rds.inputs["deletionProtection"] is True and rds.inputs["multiAz"] is True
    assert rds.inputs["skipFinalSnapshot"] is False and rds.inputs["finalSnapshotIdentifier"] == "mlops-production-final"
    assert rds.inputs["backupRetentionPeriod"] >= 7
    cache = recording.by_type(CACHE)[0]
    assert cache.protect and cache.inputs["automaticFailoverEnabled"] is True and cache.inputs["numCacheClusters"] == 2
    for bucket in recording.by_type(BUCKET):
        assert bucket.protect and bucket.retain_on_delete and bucket.inputs["forceDestroy"] is False, bucket.name
    assert len(recording.by_type("aws:s3/bucketVersioning:BucketVersioning")) == 4
    protected = {r.name for r in recording.resources if r.protect}
    assert {"postgres-admin-password", "postgres-mlflow-password", "redis-auth-token", "namespaces-platform"} <= protected


def test_a_pr_stack_on_the_ensemble_deletes_its_volumes():
    recording = offline.run("staging-pr-42", {"mlops:backend": "ensemble", "mlops:cluster": {"context": "mlops-staging"}})
    assert [r.name for r in recording.resources if r.protect or r.retain_on_delete] == []
    statefulsets = recording.by_type(STATEFULSET)
    assert {s.name for s in statefulsets} == {"postgres-statefulset", "redis-statefulset", "seaweedfs-statefulset"}
    for statefulset in statefulsets:
        # The databases and buckets live on these volumes: they go with the stack.
        assert statefulset.inputs["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_production_on_your_own_cluster_protects_its_data_and_keeps_its_volumes():
    recording = recording_of("production-onprem")
    for statefulset in recording.by_type(STATEFULSET):
        assert statefulset.protect, statefulset.name
        assert statefulset.inputs["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    protected = {r.name for r in recording.resources if r.protect}
    assert {"postgres-credentials", "redis-credentials", "seaweedfs-credentials"} <= protected


def test_owner_pr_and_expiry_from_env_up_label_every_kubernetes_object():
    recording = pr_stack_on_aws()
    for resource in recording.kubernetes_objects():
        assert PR_LABELS.items() <= resource.inputs["metadata"]["labels"].items(), resource.name
