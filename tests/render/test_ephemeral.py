"""An ephemeral PR stack (`staging-pr-<N>`) can be destroyed completely; production cannot."""

from __future__ import annotations

from infra import offline
from tests.conftest import recording_of

STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def test_a_pr_stack_has_no_protected_resource_and_deletes_its_volumes():
    recording = recording_of("staging-pr-42", "staging")
    assert recording.resources
    assert [r.name for r in recording.resources if r.protect or r.retain_on_delete] == []
    statefulsets = recording.by_type(STATEFULSET)
    assert {s.name for s in statefulsets} == {"postgres-statefulset", "redis-statefulset", "minio-statefulset"}
    for statefulset in statefulsets:
        # The databases and buckets live on these volumes: they go with the stack.
        assert statefulset.inputs["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_production_protects_its_data_and_keeps_its_volumes():
    recording = recording_of("production")
    for statefulset in recording.by_type(STATEFULSET):
        assert statefulset.protect, statefulset.name
        assert statefulset.inputs["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    protected = {r.name for r in recording.resources if r.protect}
    assert {"postgres-credentials", "redis-credentials", "minio-credentials"} <= protected


def test_owner_pr_and_expiry_from_env_up_label_every_kubernetes_object():
    labels = {"environment": "staging", "mlops-stack/owner": "octo-cat", "mlops-stack/pr": "42", "mlops-stack/expires": "20261130T1200Z"}
    recording = offline.run("staging-pr-42", {
        "mlops:backend": "ensemble", "mlops:cluster": {"context": "mlops-staging"}, "mlops:labels": labels,
        "mlops:ephemeral": True, "mlops:protect": False,
    })
    for resource in recording.kubernetes_objects():
        assert labels.items() <= resource.inputs["metadata"]["labels"].items(), resource.name
