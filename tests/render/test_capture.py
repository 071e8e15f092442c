"""Captured inferences as rendered on every backend: the in-cluster sidecar and its ports, SageMaker's
data capture, Azure ML's data collector, one layout in the lake (inference/<endpoint>/<variant>/),
a retention rule on that prefix, and reads of it left to the monitoring identity alone."""

from __future__ import annotations

import json

import pytest

from components.azure import conditions
from infra import config
from mlops_stack import offline
from tests import fixtures
from tests.conftest import resolved

DEPLOYMENT, SERVICE = "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
A = {"name": "a", "image": "ghcr.io/org/churn:model-a", "weight": 90}
B = {"name": "b", "image": "ghcr.io/org/churn:model-b", "weight": 10}
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn"
SAGEMAKER_VARIANTS = [{**A, "image": f"{ECR}@sha256:{'a' * 64}"}, {**B, "image": f"{ECR}@sha256:{'b' * 64}"}]


def render(stack: str, variants=(A, B), capture=None, retention_days=None, **endpoint):
    serving = {"endpoints": {"churn": {"variants": list(variants), **endpoint, **({"capture": capture} if capture else {})}},
               "gateway": {"install": True}}
    if retention_days:
        serving["capture"] = {"retentionDays": retention_days}
    return offline.run(stack, {**fixtures.stack_config(stack), "mlops:serving": serving})


def pod(recording, name: str) -> dict:
    deployment = next(d for d in recording.by_type(DEPLOYMENT) if d.inputs["metadata"]["name"] == name)
    return offline.redact(deployment.inputs)["spec"]["template"]["spec"]


def admission(recording, name: str) -> dict:
    return next(p for p in recording.by_type(POLICY) if p.inputs["metadata"]["name"] == name).inputs["spec"]


def admitted_ports(recording, name: str) -> set[int]:
    return {port["port"] for rule in admission(recording, name)["ingress"] for port in rule["ports"]}


def admitted_apps(recording, name: str) -> set[str]:
    return {app for rule in admission(recording, name)["ingress"] for source in rule["from"]
            for match in source.get("podSelector", {}).get("matchExpressions", []) for app in match["values"]}


def env(recording) -> dict[str, str]:
    return resolved(recording.result.public).env


def test_each_in_cluster_variant_gets_a_capture_sidecar_in_front_of_its_model_server():
    recording = render("local", capture={"samplingRate": 0.25})
    for variant in ("a", "b"):
        model, capture = pod(recording, f"churn-{variant}")["containers"]
        # The Service's port "http" is the sidecar's; the model server keeps 8080 behind it.
        assert model["ports"] == [{"name": "model", "containerPort": 8080}]
        assert capture["ports"] == [{"name": "http", "containerPort": 8090}]
        assert capture["image"] == config.PLATFORM_IMAGE  # its mlops_jobs.capture
        assert capture["command"] == ["python", "-m", "mlops_jobs.capture", "--port", "8090", "--upstream", "127.0.0.1:8080",
                                      "--endpoint", "churn", "--variant", variant, "--rate", "0.25"]
        assert capture["readinessProbe"]["httpGet"] == {"path": "/ping", "port": 8090}
        # The lake's address and key come from the pipeline config, as every pipeline's do.
        assert {"configMapRef": {"name": "mlops-pipeline-config"}} in capture["envFrom"]
        service = next(s for s in recording.by_type(SERVICE) if s.inputs["metadata"]["name"] == f"churn-{variant}")
        assert service.inputs["spec"]["ports"][0]["targetPort"] == "http"
    # Callers are admitted to the sidecar's port, not the model server's; the sidecar, to the object store.
    assert admitted_ports(recording, "allow-churn") == {8090}
    assert "churn" in admitted_apps(recording, "allow-seaweedfs")
    assert env(recording)["MLOPS_SERVING_CHURN_CAPTURE"] == "inference/churn/"
    assert env(recording)["MLOPS_SERVING_CHURN_CAPTURE_RATE"] == "0.25"


def test_a_sampling_rate_of_zero_serves_without_a_sidecar():
    recording = render("local", capture={"samplingRate": 0})
    (model,) = pod(recording, "churn-a")["containers"]
    assert model["ports"] == [{"name": "http", "containerPort": 8080}]
    assert env(recording)["MLOPS_SERVING_CHURN_CAPTURE"] == "" and env(recording)["MLOPS_SERVING_CHURN_CAPTURE_RATE"] == "0"
    assert admitted_ports(recording, "allow-churn") == {8080}
    assert "churn" not in admitted_apps(recording, "allow-seaweedfs")


@pytest.mark.parametrize("retention_days, expected", [(None, 7), (90, 90)])
def test_the_ensembles_object_store_expires_the_captures_after_the_retention(retention_days, expected):
    recording = render("local", retention_days=retention_days)
    setup = recording.one("kubernetes:core/v1:ConfigMap", "seaweedfs-setup-scripts").inputs["data"]["object-store.json"]
    assert json.loads(setup)["expirations"] == {"lake": {"inference/": expected}}


def test_sagemaker_captures_inputs_and_outputs_to_the_lake_with_the_sampling_rate():
    recording = render("production", SAGEMAKER_VARIANTS, capture={"samplingRate": 0.2}, mode="managed")
    (configuration,) = recording.by_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    capture = configuration.inputs["dataCaptureConfig"]
    lake = recording.one("aws:s3/bucket:Bucket", "bucket-lake-bucket").inputs["bucket"]
    assert capture["enableCapture"] is True and capture["initialSamplingPercentage"] == 20
    # SageMaker appends <endpoint>/<variant>/yyyy/MM/dd/HH/: the layout of every backend.
    assert capture["destinationS3Uri"] == f"s3://{lake}/inference"
    assert [o["captureMode"] for o in capture["captureOptions"]] == ["Input", "Output"]
    # Its execution role may add captures there and do nothing else with the lake.
    policy = json.loads(recording.one("aws:iam/rolePolicy:RolePolicy", "serving-churn-capture-policy").inputs["policy"])
    assert policy["Statement"] == [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                                    "Resource": f"arn:aws:s3:::{lake}/inference/*"}]
    assert recording.one("aws:iam/rolePolicy:RolePolicy", "serving-churn-capture-policy").urn in configuration.dependencies
    (endpoint,) = recording.by_type("aws:sagemaker/endpoint:Endpoint")
    assert env(recording)["MLOPS_SERVING_CHURN_CAPTURE"] == f"inference/{endpoint.inputs['name']}/"


def test_on_aws_the_lake_expires_the_captures_and_only_the_monitoring_role_may_read_them():
    recording = render("production")
    lake = recording.one("aws:s3/bucket:Bucket", "bucket-lake-bucket").inputs["bucket"]
    rules = recording.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "bucket-lake-lifecycle").inputs["rules"]
    (expiry,) = [r for r in rules if r["filter"].get("prefix") == "inference/"]
    assert expiry["expiration"] == {"days": 30} and expiry["status"] == "Enabled"
    statements = json.loads(recording.one("aws:s3/bucketPolicy:BucketPolicy", "bucket-lake-policy").inputs["policy"])["Statement"]
    (private,) = [s for s in statements if s.get("Sid") == "PrivateReads"]
    assert private["Effect"] == "Deny" and private["Resource"] == [f"arn:aws:s3:::{lake}/inference/*"]
    assert private["Condition"] == {"StringNotEquals": {"aws:PrincipalTag/mlops-stack:private-reader": "true"}}
    tagged = {r.name for r in recording.by_type("aws:iam/role:Role") if (r.inputs.get("tags") or {}).get("mlops-stack:private-reader")}
    assert tagged == {"evidently-identity-role"}
    # The in-cluster sidecars' role adds captures, and nothing else.
    policy = json.loads(recording.one("aws:iam/rolePolicy:RolePolicy", "serving-identity-policy").inputs["policy"])
    assert [s["Action"] for s in policy["Statement"]] == [["s3:PutObject", "s3:AbortMultipartUpload"]]
    assert env(recording)["MLOPS_SERVING_CHURN_CAPTURE"] == "inference/churn/"


def test_azure_mls_data_collector_writes_requests_and_responses_to_the_lake():
    recording = render("production-azure", capture={"samplingRate": 0.5}, mode="managed")
    lake = recording.one("azure-native:storage:BlobContainer", "storage-lake")
    datastore = recording.one("azure-native:machinelearningservices:Datastore", "serving-churn-capture-store").inputs
    assert datastore["properties"]["containerName"] == lake.inputs["containerName"]
    assert datastore["properties"]["credentials"] == {"credentialsType": "None"}  # the endpoint's identity, no keys
    versions = {v.name: v for v in recording.by_type("azure-native:machinelearningservices:DataVersion")}
    for deployment in recording.by_type("azure-native:machinelearningservices:OnlineDeployment"):
        variant = deployment.inputs["deploymentName"].removeprefix("churn-")
        collector = deployment.inputs["properties"]["dataCollector"]
        assert collector["rollingRate"] == "Hour" and collector["requestLogging"] == {"captureHeaders": ["x-request-id"]}
        assert set(collector["collections"]) == {"request", "response"}
        for collection, settings in collector["collections"].items():
            version = versions[f"serving-churn-{variant}-{collection}-data-version"]
            assert settings["samplingRate"] == 0.5 and settings["dataCollectionMode"] == "Enabled"
            assert version.urn in deployment.dependencies
            assert version.inputs["properties"]["dataUri"] == (
                f"azureml://datastores/lake_churn/paths/inference/churn/{variant}/{collection}/")
    # The endpoint's identity writes under inference/ only, and the deployments wait for that role.
    writer = recording.one(ROLE_ASSIGNMENT, "serving-churn-capture-writer")
    assert writer.inputs["condition"] == conditions.only_under("inference/") and writer.inputs["conditionVersion"] == "2.0"
    assert writer.inputs["scope"].endswith(f"/containers/{lake.inputs['containerName']}")
    assert all(writer.urn in d.dependencies for d in recording.by_type("azure-native:machinelearningservices:OnlineDeployment"))
    assert env(recording)["MLOPS_SERVING_CHURN_CAPTURE"] == "inference/churn/"


def test_on_azure_the_lake_expires_the_captures_and_only_the_monitoring_identity_may_read_them():
    recording = render("production-azure", retention_days=60)
    lake = recording.one("azure-native:storage:BlobContainer", "storage-lake").inputs["containerName"]
    (rule,) = recording.one("azure-native:storage:ManagementPolicy", "storage-lifecycle").inputs["policy"]["rules"]
    assert rule["definition"]["filters"]["prefixMatch"] == [f"{lake}/inference/"]
    assert rule["definition"]["actions"]["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 60}
    grants = {r.name: r.inputs for r in recording.by_type(ROLE_ASSIGNMENT) if r.inputs["scope"].endswith(f"/containers/{lake}")}
    # Everyone else's role on the lake stops short of inference/; the monitoring job's does not.
    assert grants["airflow-identity-lake-contributor"]["condition"] == conditions.no_reads_under("inference/")
    assert grants["feast-identity-lake-reader"]["condition"] == conditions.no_reads_under("inference/")
    assert "condition" not in grants["evidently-identity-lake-reader"]
    # The in-cluster sidecars' identity writes captures and nothing else.
    assert grants["serving-identity-lake-contributor"]["condition"] == conditions.only_under("inference/")


def test_the_conditions_say_what_they_allow():
    assert conditions.no_reads_under("inference/") == (
        "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR "
        "(@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] NOT StringStartsWith 'inference/'))")
    only = conditions.only_under("inference/")
    assert only.count("ActionMatches") == 5 and only.endswith("blobs:path] StringStartsWith 'inference/'))")
