"""SeaweedFS as rendered: the identities it loads (who may do what in which bucket), its layout per
size, and the backup's own key."""

from __future__ import annotations

import json

import pytest

from components.kubernetes import seaweedfs
from tests import fixtures
from tests.conftest import recording_of
from tests.integration.kubelet import plain

PLATFORM_BUCKETS = ("lake", "artifacts", "feature-store", "monitoring")


def loaded_identities(stack: str) -> dict[str, dict]:
    secret = plain(recording_of(stack).one("kubernetes:core/v1:Secret", "seaweedfs-credentials").inputs["stringData"])
    return {identity["name"]: identity for identity in json.loads(secret["s3.json"])["identities"]}


def test_each_key_reaches_only_its_own_buckets():
    identities = loaded_identities("local")
    assert set(identities) == {"admin", "pipelines", "backup"}
    assert identities["admin"]["actions"] == ["Admin"]  # creates the buckets
    pipelines = identities["pipelines"]["actions"]
    assert {action.split(":")[1] for action in pipelines} == set(PLATFORM_BUCKETS)
    assert sorted({action.split(":")[0] for action in pipelines}) == ["List", "Read", "Tagging", "Write"]
    # The backups are out of the pipelines' reach, and the backup's key reaches nothing else.
    assert identities["backup"]["actions"] == ["Read:backups", "Write:backups", "List:backups", "Tagging:backups"]
    keys = [i["credentials"][0] for i in identities.values()]
    assert len({k["accessKey"] for k in keys}) == len({k["secretKey"] for k in keys}) == 3
    assert all(len(k["secretKey"]) == 40 for k in keys)


def test_the_backup_and_the_pipelines_use_their_own_keys_and_the_config_rolls_the_servers():
    recording = recording_of("local")
    backup = recording.one("kubernetes:batch/v1:CronJob", "postgres-backup").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    upload = next(c for c in backup["containers"] if c["name"] == "upload")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in upload["env"] if "valueFrom" in e}
    assert refs["AWS_ACCESS_KEY_ID"] == {"name": "seaweedfs-credentials", "key": "backup-access-key"}
    assert refs["AWS_SECRET_ACCESS_KEY"] == {"name": "seaweedfs-credentials", "key": "backup-secret-key"}
    pod = recording.one("kubernetes:apps/v1:StatefulSet", "seaweedfs-statefulset").inputs["spec"]["template"]
    assert len(pod["metadata"]["annotations"]["mlops-stack/s3-config-sha256"]) == 64
    mounted = {m["mountPath"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    # The identities beside the image's /etc/seaweedfs (its filer.toml), not over it.
    assert mounted["/etc/seaweedfs-s3"]["readOnly"] is True and {"/data", "/tmp"} <= set(mounted) and "/etc/seaweedfs" not in mounted


def test_one_server_has_no_peers_and_three_form_a_quorum():
    single = seaweedfs.server_args(1, "mlops", "5Gi")
    assert "-master.defaultReplication=000" in single and not any(a.startswith("-master.peers") for a in single)
    assert "-s3.config=/etc/seaweedfs-s3/s3.json" in single and "-master.telemetry=false" in single
    # The volume slots fill the disk: 64 volumes of 80 MiB on 5Gi, of 4000 MiB on 250Gi.
    assert "-volume.max=64" in single and "-master.volumeSizeLimitMB=80" in single
    three = seaweedfs.server_args(3, "ml", "250Gi")
    assert "-master.peers=seaweedfs-0.seaweedfs-headless.ml.svc.cluster.local:9333,seaweedfs-1.seaweedfs-headless.ml.svc.cluster.local:9333," \
           "seaweedfs-2.seaweedfs-headless.ml.svc.cluster.local:9333" in three
    assert "-master.defaultReplication=001" in three  # each object on two volume servers
    assert "-master.volumeSizeLimitMB=4000" in three
    assert seaweedfs.volume_size_limit_mb("1Gi") == 64 and seaweedfs.volume_size_limit_mb("10Ti") == 30000


def test_minio_stays_selectable():
    from mlops_stack import offline

    recording = offline.run("local", {**fixtures.stack_config("local"), "mlops:services": {"objectStore": {"server": "minio"}}})
    assert {r.name for r in recording.by_type("kubernetes:apps/v1:StatefulSet")} >= {"minio-statefulset"}
    assert not recording.by_type("mlops:kubernetes:Seaweedfs")
    assert recording.one("kubernetes:apps/v1:StatefulSet", "minio-statefulset").inputs["spec"]["template"]["spec"]["containers"][0][
        "image"].startswith("minio/minio:")


def test_two_servers_are_refused_before_anything_is_created():
    from infra import config

    with pytest.raises(config.ConfigError, match="services.objectStore.replicas: 2 is not allowed; allowed: 1, or 3 and more"):
        config.load("local", {"services": {"objectStore": {"replicas": 2}}})
