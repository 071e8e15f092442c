"""StackConfig: defaults per environment, and one clear error for every kind of bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra import config
from mlops_stack import offline
from infra.config import ConfigError, Environment, ServiceMode

ROOT = Path(__file__).resolve().parents[2]


def test_environment_follows_the_stack_name():
    assert config.load("local", {}).environment is Environment.LOCAL
    assert config.load("production", {}).environment is Environment.PRODUCTION
    pr = config.load("staging-pr-42", {})
    assert (pr.environment, pr.ephemeral, pr.protect) == (Environment.STAGING, True, False)
    assert config.load("staging", {}).ephemeral is False


def test_production_is_protected_and_highly_available_by_default():
    prod = config.load("production", {})
    assert prod.protect and not prod.ephemeral
    # SeaweedFS: three servers are a raft quorum; MinIO needs four for an erasure set.
    assert (prod.object_store_server, prod.object_store.size.replicas) == (config.ObjectStoreServer.SEAWEEDFS, 3)
    minio = config.load("production", {"services": {"objectStore": {"server": "minio"}}})
    assert minio.object_store.size.replicas == 4 and minio.object_store.image.startswith("minio/minio:")
    local = config.load("local", {})
    assert not local.protect
    # Local is the smallest, production the largest, for every data service.
    for service in ("postgres", "redis", "object_store"):
        sizes = [getattr(config.load(env, {}), service).size for env in ("local", "staging", "production")]
        storage = [int(s.storage.removesuffix("Gi")) for s in sizes]
        assert storage == sorted(storage) and storage[0] < storage[-1]


def modes(cfg: config.StackConfig, *services: str) -> list[ServiceMode]:
    return [getattr(cfg, {"objectStore": "object_store"}.get(s, s)).mode for s in services]


def test_services_default_to_in_cluster_on_the_ensemble_and_managed_data_on_clouds():
    ensemble = config.load("local", {})
    assert set(modes(ensemble, *config.DATA_SERVICES, *config.APP_SERVICES)) == {ServiceMode.IN_CLUSTER}
    aws = config.load("staging", {"backend": "aws", "owner": "ml-platform"})
    assert modes(aws, *config.DATA_SERVICES) == [ServiceMode.MANAGED] * 3
    assert modes(aws, "mlflow") == [ServiceMode.IN_CLUSTER]
    override = config.load("staging", {"backend": "aws", "owner": "ml-platform", "services": {"mlflow": {"mode": "managed"}}})
    assert modes(override, "postgres", "mlflow", "airflow") == [ServiceMode.MANAGED, ServiceMode.MANAGED, ServiceMode.IN_CLUSTER]


def test_aws_sizes_follow_the_environment_and_ephemeral_stacks_keep_no_backups():
    staging = config.load("staging", {"backend": "aws", "owner": "ml"}).aws
    production = config.load("production", {"backend": "aws", "owner": "ml"}).aws
    pr = config.load("staging-pr-9", {"backend": "aws", "labels": {"mlops-stack/owner": "octo", "mlops-stack/expires": "20261130T1200Z"}})
    assert (staging.availability_zones, production.availability_zones) == (2, 3)
    assert (staging.db_multi_az, production.db_multi_az) == (False, True)
    assert (staging.public_endpoint, production.public_endpoint) == (True, False)
    assert production.sizes.db_backup_days >= 7 and production.sizes.cache_nodes == 2
    assert pr.aws.sizes.db_backup_days == 0
    assert pr.cloud_tags == {"project": "mlops-stack", "stack": "staging-pr-9", "environment": "staging", "owner": "octo", "ttl": "20261130T1200Z"}
    assert "ttl" not in config.load("staging", {"backend": "aws", "owner": "ml"}).cloud_tags


def test_overrides_win_over_environment_defaults():
    cfg = config.load(
        "local",
        {
            "services": {
                "postgres": {"image": "postgres:16.10", "storage": "7Gi", "resources": {"memoryLimit": "3Gi"}},
                "objectStore": {"server": "minio", "replicas": 4, "clientImage": "minio/mc:RELEASE.2025-07-21T05-28-08Z"},
            },
            "namespaces": {"platform": "ml", "pipelines": "ml-jobs"},
            "labels": {"team": "ml-platform"},
        },
    )
    assert cfg.postgres.image == "postgres:16.10"
    assert (cfg.postgres.size.storage, cfg.postgres.size.memory_limit, cfg.postgres.size.cpu) == ("7Gi", "3Gi", "100m")
    assert cfg.object_store.size.replicas == 4
    assert cfg.object_store_client_image.endswith("2025-07-21T05-28-08Z")
    assert (cfg.namespaces.platform, cfg.namespaces.pipelines) == ("ml", "ml-jobs")
    assert cfg.labels == {"team": "ml-platform", "mlops-stack/environment": "local"}


def test_every_image_built_on_the_platform_image_and_every_doc_names_its_current_version():
    # A stale tag builds on an image no registry or engine has: a fresh clone's build fails.
    version = (ROOT / "images" / "platform" / "VERSION").read_text().strip()
    files = [*ROOT.glob("images/*/Dockerfile"), *ROOT.glob("serving/*/Dockerfile"), *ROOT.glob("docs/*.md"), ROOT / "README.md"]
    stale = {str(f.relative_to(ROOT)): tag for f in files for tag in re.findall(r"ghcr\.io/mlops-stack/platform:([\w.]+)", f.read_text())
             if tag != version}
    assert stale == {}


def test_applications_have_pinned_images_and_grow_with_the_environment():
    local, production = config.load("local", {}), config.load("production", {})
    assert local.mlflow.image == config.PLATFORM_IMAGE == local.airflow.image == local.feast.image == local.evidently.image
    assert config.PLATFORM_IMAGE.endswith(":" + (ROOT / "images" / "platform" / "VERSION").read_text().strip())
    assert (local.mlflow.workers, production.mlflow.workers) == (1, 4)
    assert (local.mlflow.size.replicas, production.mlflow.size.replicas) == (1, 2)
    assert local.airflow.parallelism < production.airflow.parallelism
    assert production.airflow.sizes["scheduler"].replicas == 2
    # Without a git repository the example feature repo and DAGs baked into the image are used.
    assert (local.feast.repository.git, local.feast.repository.path) == (None, config.IMAGE_FEATURE_REPO)
    from_git = config.load("local", {"services": {"airflow": {"dags": {"git": "https://github.com/o/dags.git", "ref": "v2"}}}})
    assert (from_git.airflow.dags.path, from_git.airflow.dags.ref) == (".", "v2")
    custom = config.load("staging", {"services": {"mlflow": {"image": "ghcr.io/o/mlflow:3.18.0", "workers": 8, "replicas": 3}}})
    assert (custom.mlflow.image, custom.mlflow.workers, custom.mlflow.size.replicas) == ("ghcr.io/o/mlflow:3.18.0", 8, 3)


_VNET_ID = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/shared"
AZURE_VNET = {"vnetId": _VNET_ID, "clusterSubnetId": f"{_VNET_ID}/subnets/aks", "postgresSubnetId": f"{_VNET_ID}/subnets/db",
              "endpointsSubnetId": f"{_VNET_ID}/subnets/endpoints"}


BAD = [
    # (stack, values, the key named, the value named, what the message says is allowed)
    ("local", {"bakend": "aws"}, "mlops:bakend", "unknown key", "backend"),
    ("local", {"backend": "gcp"}, "mlops:backend", "'gcp'", "ensemble, aws or azure"),
    ("local", {"environment": "dev"}, "mlops:environment", "'dev'", "local, staging or production"),
    ("local", {"services": {"postgress": {}}}, "mlops:services.postgress", "unknown key", "postgres, redis, objectStore"),
    ("local", {"services": {"postgres": {"mode": "managed"}}}, "mlops:services.postgres.mode", "'managed'", "in-cluster"),
    ("local", {"services": {"redis": {"image": "redis:latest"}}}, "mlops:services.redis.image", "'redis:latest'", "pinned"),
    ("local", {"services": {"redis": {"image": "redis"}}}, "mlops:services.redis.image", "'redis'", "pinned by tag or digest"),
    ("local", {"services": {"postgres": {"storage": "lots"}}}, "mlops:services.postgres.storage", "'lots'", "Kubernetes quantity"),
    ("local", {"services": {"postgres": {"replicas": 3}}}, "mlops:services.postgres.replicas", "3", "1 in-cluster"),
    ("local", {"services": {"objectStore": {"replicas": 2}}}, "mlops:services.objectStore.replicas", "2", "1, or 3 and more"),
    ("local", {"services": {"objectStore": {"server": "minio", "replicas": 3}}}, "mlops:services.objectStore.replicas", "3", "1, or 4 and more"),
    ("local", {"services": {"objectStore": {"server": "ceph"}}}, "mlops:services.objectStore.server", "'ceph'", "seaweedfs or minio"),
    ("local", {"services": {"mlflow": {"port": 1}}}, "mlops:services.mlflow.port", "unknown key", "workers, ingress"),
    ("local", {"services": {"mlflow": {"image": "ghcr.io/x/mlflow"}}}, "mlops:services.mlflow.image", "'ghcr.io/x/mlflow'", "pinned"),
    ("local", {"services": {"mlflow": {"workers": 0}}}, "mlops:services.mlflow.workers", "0", "greater than or equal to 1"),
    ("local", {"services": {"mlflow": {"ingress": {"enabled": True}}}}, "mlops:services.mlflow.ingress.host", "not set", "host name"),
    ("local", {"services": {"evidently": {"replicas": 2}}}, "mlops:services.evidently.replicas", "2", "1 (the UI is the one writer"),
    ("local", {"services": {"feast": {"offlineStore": "bigquery"}}}, "mlops:services.feast.offlineStore", "'bigquery'", "file, postgres or warehouse"),
    ("local", {"services": {"feast": {"materializeSchedule": "hourly"}}}, "mlops:services.feast.materializeSchedule", "'hourly'", "cron schedule"),
    ("local", {"services": {"feast": {"repository": {"path": "features"}}}}, "mlops:services.feast.repository.path", "'features'", "absolute path inside the image"),
    ("local", {"services": {"airflow": {"dags": {"git": "https://github.com/o/r.git", "path": "../dags"}}}}, "mlops:services.airflow.dags.path", "'../dags'", "relative to the repository root"),
    ("local", {"services": {"airflow": {"dags": {"git": "github.com/o/r"}}}}, "mlops:services.airflow.dags.git", "'github.com/o/r'", "a git URL"),
    ("local", {"cluster": {"create": True}}, "mlops:cluster.create", "true", "false or unset with backend ensemble"),
    # The notebooks (services.notebooks): every key refuses a bad value in one line.
    ("local", {"services": {"notebooks": {"enabled": "sometimes"}}}, "mlops:services.notebooks.enabled", "'sometimes'", "boolean"),
    ("local", {"services": {"notebooks": {"mode": "managed"}}}, "mlops:services.notebooks.mode", "'managed'", "in-cluster with backend 'ensemble'"),
    ("local", {"services": {"notebooks": {"mode": "serverless"}}}, "mlops:services.notebooks.mode", "'serverless'", "in-cluster or managed"),
    ("staging", {"backend": "aws", "owner": "ml", "services": {"mlflow": {"mode": "managed"}, "notebooks": {"mode": "managed"}}},
     "mlops:services.notebooks.users", "not set",
     "the users who each get a managed workbench"),
    ("local", {"services": {"notebooks": {"image": "ghcr.io/x/notebook"}}}, "mlops:services.notebooks.image", "'ghcr.io/x/notebook'", "pinned"),
    ("local", {"services": {"notebooks": {"auth": "ldap"}}}, "mlops:services.notebooks.auth", "'ldap'", "shared-password"),
    ("local", {"services": {"notebooks": {"users": ["Alice"]}}}, "mlops:services.notebooks.users.0", "'Alice'", "a user name"),
    ("local", {"services": {"notebooks": {"users": ["bo", "bo"]}}}, "mlops:services.notebooks.users", '["bo", "bo"]', "distinct names"),
    # The lake's events (services.events).
    ("local", {"services": {"events": {"queue": "kafka"}}}, "mlops:services.events.queue", "'kafka'", "redis, sqs, service-bus or polling"),
    ("local", {"services": {"events": {"queue": "sqs"}}}, "mlops:services.events.queue", "'sqs'", "redis, polling with backend 'ensemble'"),
    ("staging", {"backend": "azure", "owner": "ml", "services": {"events": {"queue": "sqs"}}}, "mlops:services.events.queue", "'sqs'",
     "service-bus, redis, polling with backend 'azure'"),
    ("staging", {"backend": "aws", "owner": "ml", "services": {"events": {"queue": "service-bus"}}}, "mlops:services.events.queue", "'service-bus'",
     "sqs, redis, polling with backend 'aws'"),
    ("local", {"services": {"events": {"prefix": "/incoming"}}}, "mlops:services.events.prefix", "'/incoming'", "a key prefix of the lake ending in '/'"),
    ("local", {"services": {"events": {"maxDeliveries": 0}}}, "mlops:services.events.maxDeliveries", "0", "greater than or equal to 1"),
    ("local", {"services": {"events": {"retentionDays": 30}}}, "mlops:services.events.retentionDays", "30", "less than or equal to 14"),
    ("local", {"services": {"notebooks": {"users": ["admin"]}}}, "mlops:services.notebooks.users", '["admin"]', "names not in admins"),
    ("local", {"services": {"notebooks": {"admins": []}}}, "mlops:services.notebooks.admins", "[]", "at least one admin"),
    ("local", {"services": {"notebooks": {"storage": "big"}}}, "mlops:services.notebooks.storage", "'big'", "Kubernetes quantity"),
    ("local", {"services": {"notebooks": {"cullIdleMinutes": 5}}}, "mlops:services.notebooks.cullIdleMinutes", "5", "greater than or equal to 10"),
    ("local", {"services": {"notebooks": {"profiles": []}}}, "mlops:services.notebooks.profiles", "[]", "at least one profile"),
    ("local", {"services": {"notebooks": {"profiles": [{"name": "s", "cpu": "1", "memory": "1Gi"}, {"name": "s", "cpu": "2", "memory": "2Gi"}]}}},
     "mlops:services.notebooks.profiles", '["s", "s"]', "distinct names"),
    ("local", {"services": {"notebooks": {"profiles": [{"name": "small", "cpu": "one", "memory": "1Gi"}]}}},
     "mlops:services.notebooks.profiles.0.cpu", "'one'", "Kubernetes quantity"),
    ("local", {"services": {"notebooks": {"gpu": {"enabled": True, "resource": "nvidia gpu"}}}}, "mlops:services.notebooks.gpu.resource",
     "'nvidia gpu'", "extended resource name"),
    ("local", {"services": {"notebooks": {"gpu": {"count": 0}}}}, "mlops:services.notebooks.gpu.count", "0", "greater than or equal to 1"),
    ("local", {"services": {"notebooks": {"gpu": {"tolerations": [{"key": "gpu", "effect": "Never"}]}}}},
     "mlops:services.notebooks.gpu.tolerations.0.effect", "'Never'", "NoSchedule"),
    ("local", {"services": {"notebooks": {"ingress": {"enabled": True}}}}, "mlops:services.notebooks.ingress.host", "not set", "host name"),
    ("local", {"services": {"notebooks": {"hub": {"memory": "lots"}}}}, "mlops:services.notebooks.hub.memory", "'lots'", "Kubernetes quantity"),
    ("staging", {"backend": "azure", "owner": "ml", "cluster": {"create": False}, "azure": {"network": AZURE_VNET}},
     "mlops:cluster.name", "not set", "the existing AKS cluster"),
    ("staging", {"backend": "azure", "owner": "ml", "cluster": {"create": False, "name": "shared"}}, "mlops:azure.network.vnetId", "not set",
     "the VNet of the existing cluster"),
    ("staging", {"backend": "azure", "owner": "ml", "azure": {"network": {**AZURE_VNET, "endpointsSubnetId": None}}},
     "mlops:azure.network.endpointsSubnetId", "not set", "all of vnetId, clusterSubnetId"),
    ("staging", {"backend": "azure", "owner": "ml", "azure": {"network": {**AZURE_VNET, "postgresSubnetId": AZURE_VNET["vnetId"].replace("/shared", "/other") + "/subnets/db"}}},
     "mlops:azure.network.postgresSubnetId", "/other/subnets/db", "a subnet of azure.network.vnetId"),
    ("production", {"backend": "azure", "owner": "ml", "azure": {"postgres": {"sku": "Standard_B2s"}}}, "mlops:azure.postgres.sku", "'Standard_B2s'",
     "zone-redundant HA needs General Purpose"),
    ("production", {"backend": "azure", "owner": "ml", "azure": {"redis": {"sku": "Basic"}}}, "mlops:azure.redis.sku", "'Basic'", "Standard or Premium in production"),
    ("staging", {"backend": "azure", "owner": "ml", "azure": {"storageAccount": {}}}, "mlops:azure.storageAccount", "unknown key", "storage"),
    ("staging", {"backend": "azure", "owner": "ml", "azure": {"location": "West Europe"}}, "mlops:azure.location", "'West Europe'", "an Azure region name"),
    ("staging", {"backend": "azure", "owner": "ml", "services": {"redis": {"mode": "in-cluster"}}}, "mlops:services.redis.mode", "'in-cluster'",
     "managed with backend 'azure'"),
    ("staging", {"backend": "azure", "owner": "ml", "azure": {"aks": {"publicEndpoint": False, "authorizedIpRanges": ["203.0.113.0/24"]}}},
     "mlops:azure.aks.authorizedIpRanges", "203.0.113.0/24", "empty while the cluster is private"),
    ("staging", {"backend": "azure", "owner": "ml", "services": {"airflow": {"mode": "managed"}}}, "mlops:services.airflow.mode", "'managed'", "in-cluster with backend 'azure'"),
    ("staging", {"backend": "aws"}, "mlops:owner", "not set", "the team or person"),
    ("staging", {"backend": "aws", "owner": "ml", "cluster": {"create": False, "name": "shared"}, "aws": {"network": {"vpcId": "vpc-0123456789abcdef0"}}},
     "mlops:aws.network.privateSubnetIds", "0 given", "at least 2 private subnets"),
    ("staging", {"backend": "aws", "owner": "ml", "services": {"redis": {"mode": "in-cluster"}}}, "mlops:services.redis.mode", "'in-cluster'", "managed with backend 'aws'"),
    ("staging", {"backend": "aws", "owner": "ml", "aws": {"region": "Europe"}}, "mlops:aws.region", "'Europe'", "an AWS region, e.g. eu-west-1"),
    ("staging", {"backend": "aws", "owner": "ml", "aws": {"network": {"cidr": "10.0.0.0/8"}}}, "mlops:aws.network.cidr", "'10.0.0.0/8'", "/16 to /24"),
    ("production", {"backend": "aws", "owner": "ml", "aws": {"rds": {"backupRetentionDays": 3}}}, "mlops:aws.rds.backupRetentionDays", "3", "7 to 35 in production"),
    ("staging", {"backend": "aws", "owner": "ml", "aws": {"eks": {"minNodes": 5, "maxNodes": 3}}}, "mlops:aws.eks", "minNodes", "minNodes <= desiredNodes <= maxNodes"),
    ("staging", {"backend": "aws", "owner": "ml", "cluster": {"create": False}, "aws": {"network": {
        "vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}}},
     "mlops:cluster.name", "not set", "existing EKS cluster"),
    ("production", {"ephemeral": True}, "mlops:ephemeral", "true", "false in production"),
    ("production", {"protect": False}, "mlops:protect", "false", "true in production"),
    ("staging-pr-3", {"protect": True}, "mlops:protect", "true", "false on an ephemeral stack"),
    ("local", {"namespaces": {"platform": "ML_Platform"}}, "mlops:namespaces.platform", "'ML_Platform'", "DNS label"),
    ("local", {"namespaces": {"pipelines": "mlops"}}, "mlops:namespaces.pipelines", "'mlops'", "other than namespaces.platform"),
    ("local", {"labels": {"team": "a b"}}, "mlops:labels.team", "'a b'", "label value"),
    ("my-sandbox", {}, "mlops:environment", "'my-sandbox'", "local, staging, production"),
    ("local", {"services": {"evidently": {"monitoring": {"threshold": 1.5}}}}, "mlops:services.evidently.monitoring.threshold",
     "1.5", "less than or equal to 1"),
    ("local", {"services": {"evidently": {"monitoring": {"threshold": 0}}}}, "mlops:services.evidently.monitoring.threshold",
     "0", "greater than 0"),
    ("local", {"services": {"evidently": {"monitoring": {"windowHours": 0}}}}, "mlops:services.evidently.monitoring.windowHours",
     "0", "greater than or equal to 1"),
    ("local", {"services": {"evidently": {"monitoring": {"window": 24}}}}, "mlops:services.evidently.monitoring.window",
     "unknown key", "windowHours"),
]


@pytest.mark.parametrize("stack,values,key,given,allowed", BAD, ids=[b[2] + ":" + b[3] for b in BAD])
def test_bad_config_gives_one_line_naming_key_value_and_allowed(stack, values, key, given, allowed):
    with pytest.raises(ConfigError) as raised:
        config.load(stack, values)
    message = str(raised.value)
    assert "\n" not in message, message
    assert message.startswith(key + ":"), message
    assert given in message and allowed in message, message


def test_several_problems_are_reported_together():
    with pytest.raises(ConfigError) as raised:
        config.load("local", {"backend": "gcp", "colour": "blue"})
    lines = str(raised.value).splitlines()
    assert lines[0] == "invalid stack configuration:"
    assert any(l.strip().startswith("mlops:backend:") for l in lines)
    assert any(l.strip().startswith("mlops:colour: unknown key") for l in lines)


def test_program_reads_structured_values_and_rejects_unknown_keys_from_pulumi_config():
    recording = offline.run("local", {"mlops:services": {"postgres": {"storage": "3Gi"}}, "kubernetes:context": "kind"})
    claim = recording.one("kubernetes:apps/v1:StatefulSet", "postgres-statefulset").inputs["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "3Gi"
    with pytest.raises(ConfigError, match=r"^mlops:servces: unknown key"):
        offline.run("local", {"mlops:servces": {}})


def test_committed_schema_is_current_and_shipped_stack_files_follow_it():
    committed = json.loads((ROOT / "schema" / "stack-config.schema.json").read_text())
    assert committed == config.json_schema(), "run: mlops-stack schema > schema/stack-config.schema.json"
    for stack in offline.shipped_stacks():
        jsonschema.validate(yaml.safe_load(offline.stack_file(stack).read_text()), committed)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"config": {"mlops:bakend": "aws"}}, committed)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"config": {"mlops:backend": "gcp"}}, committed)
    jsonschema.validate({"config": {"aws:region": "eu-west-1"}}, committed)



def test_a_model_variant_is_refused_while_mlflow_is_managed():
    """The platform image loads `models:/` from the in-cluster tracking server only; with SageMaker's or
    Azure ML's MLflow an in-cluster variant must bring its model in its image."""
    serving = {"gateway": {"install": True},
               "endpoints": {"churn": {"mode": "in-cluster", "variants": [{"name": "a", "model": "models:/churn/1", "weight": 100}]}}}
    with pytest.raises(config.ConfigError) as error:
        config.load("staging", {"backend": "aws", "owner": "ml", "services": {"mlflow": {"mode": "managed"}}, "serving": serving})
    assert str(error.value).strip() == (
        "mlops:serving.endpoints.churn.variants[0].model: 'models:/churn/1' is not allowed; allowed: an image while "
        "services.mlflow.mode is managed (the platform image loads models:/ from the in-cluster tracking server only: "
        "bake the model into the image)")
    # With MLflow in the cluster the same variant is fine.
    assert config.load("staging", {"backend": "aws", "owner": "ml", "serving": serving}).serving.endpoints[0].variants[0].model == "models:/churn/1"
