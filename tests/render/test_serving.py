"""Model serving in the cluster as rendered: one Deployment, Service and autoscaler per variant, and a
Gateway API route whose weights are the config's."""

from __future__ import annotations

import json

import pytest

from tests import fixtures
from infra import config
from mlops_stack import offline
from infra.config import ConfigError
from tests.conftest import recording_of, resolved

DEPLOYMENT, SERVICE = "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"
HPA, ROUTE = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
A = {"name": "a", "image": "ghcr.io/org/churn:model-a", "weight": 90}
B = {"name": "b", "model": "models:/churn/3", "weight": 10}


def with_variants(*variants, stack="local", **endpoint):
    values = {**fixtures.stack_config(stack), "mlops:serving": {"endpoints": {"churn": {"variants": list(variants), **endpoint}}}}
    return offline.run(stack, values)


def named(recording, type_):
    return {r.inputs["metadata"]["name"]: offline.redact(r.inputs) for r in recording.by_type(type_)}


def route(recording):
    return named(recording, ROUTE)["churn"]["spec"]


def test_each_variant_gets_a_deployment_a_service_and_an_autoscaler_and_the_route_splits_by_weight():
    recording = with_variants(A, B)
    for variant in ("churn-a", "churn-b"):
        assert variant in named(recording, DEPLOYMENT) and variant in named(recording, SERVICE)
        hpa = named(recording, HPA)[variant]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": variant}
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 2)
        # The autoscaler owns the replica count.
        assert "replicas" not in named(recording, DEPLOYMENT)[variant]["spec"]
    rule = route(recording)["rules"][0]
    assert rule["backendRefs"] == [{"name": "churn-a", "port": 8080, "weight": 90}, {"name": "churn-b", "port": 8080, "weight": 10}]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/churn"}}]
    assert rule["filters"][0]["urlRewrite"]["path"] == {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
    assert route(recording)["parentRefs"] == [{"name": "mlops-serving"}]


def test_an_image_variant_runs_its_image_and_a_model_variant_runs_mlflow_models_serve():
    deployments = named(with_variants(A, B), DEPLOYMENT)
    image = deployments["churn-a"]["spec"]["template"]["spec"]["containers"][0]
    model = deployments["churn-b"]["spec"]["template"]["spec"]["containers"][0]
    assert image["image"] == "ghcr.io/org/churn:model-a" and "command" not in image
    assert model["image"] == config.PLATFORM_IMAGE
    assert model["command"][:5] == ["mlflow", "models", "serve", "--model-uri", "models:/churn/3"]
    for container in (image, model):
        # Traffic reaches only pods whose model is loaded.
        assert container["readinessProbe"]["httpGet"] == {"path": "/ping", "port": 8080}
        assert {"configMapRef": {"name": "mlops-pipeline-config"}} in container["envFrom"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    template = deployments["churn-b"]["spec"]["template"]["metadata"]["labels"]
    assert template["mlops-stack/variant"] == "b" and template["app.kubernetes.io/name"] == "churn"


def test_a_zero_weight_variant_keeps_running_without_traffic():
    recording = with_variants({**A, "weight": 100}, {**B, "weight": 0})
    assert "churn-b" in named(recording, DEPLOYMENT) and named(recording, HPA)["churn-b"]["spec"]["minReplicas"] == 1
    assert {"name": "churn-b", "port": 8080, "weight": 0} in route(recording)["rules"][0]["backendRefs"]
    env = resolved(recording.result.public).env
    assert env["MLOPS_SERVING_CHURN_WEIGHTS"] == "a=100,b=0"


def test_retiring_a_variant_removes_its_objects_and_only_those():
    both, only_a = with_variants(A, B), with_variants({**A, "weight": 100})
    keys = lambda r: {(x.type, x.name) for x in r.resources}
    removed = keys(both) - keys(only_a)
    assert removed == {
        (DEPLOYMENT, "serving-churn-b-deployment"), (SERVICE, "serving-churn-b-service"), (HPA, "serving-churn-b-autoscaler"),
    }
    assert keys(only_a) <= keys(both)
    assert route(only_a)["rules"][0]["backendRefs"] == [{"name": "churn-a", "port": 8080, "weight": 100}]
    # Variant a's own objects are untouched by b's retirement.
    assert named(only_a, DEPLOYMENT)["churn-a"] == named(both, DEPLOYMENT)["churn-a"]


def test_the_pipeline_config_and_outputs_carry_the_url_and_the_live_weights():
    recording = recording_of("local")
    env = resolved(recording.result.public).env
    assert env["MLOPS_SERVING_ENDPOINTS"] == "churn"
    assert env["MLOPS_SERVING_CHURN_URL"] == "http://mlops-serving.envoy-gateway-system.svc.cluster.local:8080/churn"
    assert env["MLOPS_SERVING_CHURN_WEIGHTS"] == "a=90,b=10"
    assert env["MLOPS_SERVING_CHURN_A_URL"] == "http://churn-a.mlops.svc.cluster.local:8080"
    # Every stack has the key, so pipelines can look for endpoints anywhere.
    assert resolved(recording_of("production-onprem").result.public).env["MLOPS_SERVING_ENDPOINTS"] == ""


def test_local_installs_envoy_gateway_and_other_stacks_use_the_gateway_class_they_name():
    local = recording_of("local")
    assert local.by_type("kubernetes:yaml/v2:ConfigFile")[0].inputs["file"].endswith("/v1.5.1/install.yaml")
    assert named(local, "kubernetes:gateway.networking.k8s.io/v1:GatewayClass")["envoy"]["spec"] == {
        "controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}
    gateway = named(local, "kubernetes:gateway.networking.k8s.io/v1:Gateway")["mlops-serving"]
    assert gateway["spec"]["gatewayClassName"] == "envoy" and gateway["metadata"]["namespace"] == "mlops"
    # The route and the gateway wait for the CRDs the manifest installs.
    installed = local.by_type("kubernetes:yaml/v2:ConfigFile")[0].urn
    assert installed in local.one(ROUTE.replace("HTTPRoute", "Gateway"), "serving-gateway-gateway").dependencies

    own = offline.run("production-onprem", {
        **fixtures.stack_config("production-onprem"),
        "mlops:serving": {"gateway": {"className": "istio", "url": "https://models.example.com"},
                          "endpoints": {"churn": {"variants": [{**A, "weight": 100}]}}},
    })
    assert not own.by_type("kubernetes:yaml/v2:ConfigFile")
    assert named(own, "kubernetes:gateway.networking.k8s.io/v1:Gateway")["mlops-serving"]["spec"]["gatewayClassName"] == "istio"
    assert resolved(own.result.public).env["MLOPS_SERVING_CHURN_URL"] == "https://models.example.com/churn"
    # Production's floor of two pods per variant, up to ten.
    hpa = named(own, HPA)["churn-a"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)


def test_await_ready_false_lets_pulumi_up_finish_before_the_models_exist():
    waiting = with_variants(A, B)
    assert "annotations" not in named(waiting, DEPLOYMENT)["churn-a"]["metadata"]
    local = recording_of("local")  # awaitReady: false, until the example pipeline has trained the models
    for type_ in (DEPLOYMENT, SERVICE):
        assert named(local, type_)["churn-a"]["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}


BAD = [
    ({"endpoints": {"churn": {"variants": [{**A, "weight": 50}, {**B, "weight": 40}]}}},
     "mlops:serving.endpoints.churn.variants: weights add up to 90; allowed: weights that add up to 100"),
    ({"endpoints": {"churn": {"variants": [A, {**B, "name": "a"}]}}},
     "mlops:serving.endpoints.churn.variants: [\"a\"] is not allowed; allowed: variant names that differ within the endpoint"),
    ({"endpoints": {"churn": {"variants": []}}}, "mlops:serving.endpoints.churn.variants: [] is not allowed"),
    ({"endpoints": {"churn": {"variants": [{**A, "name": "Model_A", "weight": 100}]}}},
     "mlops:serving.endpoints.churn.variants.0.name: 'Model_A' is not allowed; allowed: 1 to 30 lowercase letters"),
    ({"endpoints": {"churn-prediction-for-the-whole-com": {"variants": [{**A, "weight": 100}]}}},
     "mlops:serving.endpoints.churn-prediction-for-the-whole-com: 'churn-prediction-for-the-whole-com' is not allowed; allowed: 3 to 32"),
    ({"endpoints": {"churn": {"variants": [{**A, "name": "a-very-long-variant-name-xyz", "weight": 100}]}}},
     "mlops:serving.endpoints.churn.variants[0].name: 'a-very-long-variant-name-xyz' is not allowed; allowed: a name that keeps churn-<name> within 32"),
    ({"endpoints": {"churn": {"variants": [{"name": "a", "weight": 100}]}}},
     "mlops:serving.endpoints.churn.variants[0]: set image or model; allowed: exactly one of them"),
    ({"endpoints": {"churn": {"variants": [{**A, "image": "ghcr.io/org/churn:latest", "weight": 100}]}}},
     "mlops:serving.endpoints.churn.variants.0.image: 'ghcr.io/org/churn:latest' is not allowed: an image must be pinned"),
    ({"endpoints": {"mlflow": {"variants": [{**A, "weight": 100}]}}},
     "mlops:serving.endpoints.mlflow: 'mlflow' is not allowed; allowed: a name other than the platform's services"),
    ({"endpoints": {"churn": {"variants": [{**A, "weight": 100}], "capture": {"samplingRate": 1.5}}}},
     "mlops:serving.endpoints.churn.capture.samplingRate: 1.5 is not allowed: Input should be less than or equal to 1"),
    ({"endpoints": {"churn": {"variants": [{**A, "weight": 100}], "capture": {"rate": 0.5}}}},
     "mlops:serving.endpoints.churn.capture.rate: unknown key; allowed keys here: samplingRate"),
    ({"capture": {"retentionDays": 0}}, "mlops:serving.capture.retentionDays: 0 is not allowed: Input should be greater than or equal to 1"),
    ({"endpoints": {"churn": {"mode": "managed", "variants": [{**A, "weight": 100}]}}},
     "mlops:serving.endpoints.churn.mode: 'managed' is not allowed; allowed: in-cluster with backend 'ensemble' (managed endpoints: SageMaker on backend aws"),
]


@pytest.mark.parametrize("serving,message", BAD, ids=[m.split(":", 2)[1][:60] for _, m in BAD])
def test_bad_serving_config_is_refused_with_the_key_and_what_is_allowed(serving, message):
    with pytest.raises(ConfigError) as raised:
        config.load("local", {"serving": serving})
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_stack_without_an_installed_gateway_must_name_its_class_and_url():
    with pytest.raises(ConfigError) as raised:
        config.load("staging", {"serving": {"endpoints": {"churn": {"variants": [{**A, "weight": 100}]}}}})
    assert "mlops:serving.gateway.url: not set" in str(raised.value)
    assert "mlops:serving.gateway.className: not set" in str(raised.value)


# --- SageMaker (mode managed on backend aws) -----------------------------------------------------------
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn"
MANAGED_A = {"name": "a", "image": f"{ECR}@sha256:{'a' * 64}", "weight": 90}
MANAGED_B = {"name": "b", "image": f"{ECR}@sha256:{'b' * 64}", "weight": 10, "replicas": 2, "maxReplicas": 4, "instanceType": "ml.c5.xlarge"}
MODEL, CONFIGURATION, SAGEMAKER = "aws:sagemaker/model:Model", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "aws:sagemaker/endpoint:Endpoint"


def managed(*variants, stack="production"):
    return with_variants(*variants, stack=stack, mode="managed")


def production_variants(recording) -> dict[str, dict]:
    (configuration,) = recording.by_type(CONFIGURATION)
    return {v["variantName"]: v for v in configuration.inputs["productionVariants"]}


def test_a_managed_endpoint_on_aws_is_a_sagemaker_model_per_variant_and_one_weighted_configuration():
    recording = managed(MANAGED_A, MANAGED_B)
    models = {m.name: m.inputs for m in recording.by_type(MODEL)}
    assert set(models) == {"serving-churn-a", "serving-churn-b"}
    assert models["serving-churn-a"]["primaryContainer"]["image"] == MANAGED_A["image"]
    assert models["serving-churn-a"]["enableNetworkIsolation"] is True
    variants = production_variants(recording)
    # The weights are SageMaker's own field; sizes per variant.
    assert {name: v["initialVariantWeight"] for name, v in variants.items()} == {"a": 90, "b": 10}
    assert (variants["a"]["instanceType"], variants["a"]["initialInstanceCount"]) == ("ml.m5.xlarge", 2)  # production defaults
    assert (variants["b"]["instanceType"], variants["b"]["initialInstanceCount"]) == ("ml.c5.xlarge", 2)
    (endpoint,) = recording.by_type(SAGEMAKER)
    assert endpoint.inputs["name"].startswith("mlops-production-churn-") and len(endpoint.inputs["name"]) <= 63
    assert recording.by_type(CONFIGURATION)[0].urn in endpoint.dependencies
    # Instances scale between replicas and maxReplicas on invocations, like the in-cluster autoscaler.
    scaling = {t.name: t.inputs for t in recording.by_type("aws:appautoscaling/target:Target")}
    assert scaling["serving-churn-b-scaling"]["resourceId"] == f"endpoint/{endpoint.inputs['name']}/variant/b"
    assert (scaling["serving-churn-b-scaling"]["minCapacity"], scaling["serving-churn-b-scaling"]["maxCapacity"]) == (2, 4)
    # No Deployment, route or gateway in the cluster for it.
    assert not [d for d in named(recording, DEPLOYMENT) if d.startswith("churn")] and not recording.by_type(ROUTE)
    assert not recording.by_type("kubernetes:yaml/v2:ConfigFile")


def test_a_managed_endpoints_url_and_weights_reach_the_pipeline_config_and_pipelines_may_invoke_it():
    recording = managed(MANAGED_A, MANAGED_B)
    env = resolved(recording.result.public).env
    (endpoint,) = recording.by_type(SAGEMAKER)
    url = f"https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/{endpoint.inputs['name']}"
    assert env["MLOPS_SERVING_CHURN_KIND"] == "sagemaker" and env["MLOPS_SERVING_CHURN_NAME"] == endpoint.inputs["name"]
    assert env["MLOPS_SERVING_CHURN_URL"] == url and env["MLOPS_SERVING_CHURN_WEIGHTS"] == "a=90,b=10"
    assert env["MLOPS_SERVING_CHURN_A_URL"] == env["MLOPS_SERVING_CHURN_B_URL"] == url  # a variant: TargetVariant
    statements = json.loads(recording.one("aws:iam/rolePolicy:RolePolicy", "airflow-identity-policy").inputs["policy"])["Statement"]
    invoke = [s for s in statements if "sagemaker" in str(s["Action"])]
    # Exactly this endpoint (the mock's ARN is named after the Pulumi resource).
    assert invoke == [{"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
                       "Resource": "arn:aws:sagemaker:us-east-1:123456789012:serving-churn-endpoint"}]
    # The post-deploy check waits for the endpoint to be InService.
    (smoke,) = [j for j in recording.by_type("kubernetes:batch/v1:Job") if j.inputs["metadata"]["name"].startswith("mlops-smoke-")]
    assert recording.by_type(SAGEMAKER)[0].urn in smoke.dependencies


def test_a_zero_weight_sagemaker_variant_keeps_its_instances_but_gets_no_traffic():
    variants = production_variants(managed({**MANAGED_A, "weight": 100}, {**MANAGED_B, "weight": 0}))
    assert variants["b"]["initialVariantWeight"] == 0 and variants["b"]["initialInstanceCount"] == 2


def test_changing_weights_replaces_only_the_configuration_and_retiring_a_variant_removes_only_its_model():
    both = managed(MANAGED_A, MANAGED_B)
    shifted = managed({**MANAGED_A, "weight": 0}, {**MANAGED_B, "weight": 100})
    retired = managed({**MANAGED_A, "weight": 100})

    def inputs(recording):
        return {(r.type, r.name): offline.redact(r.inputs) for r in recording.resources if r.type.startswith("aws:")}

    before, after = inputs(both), inputs(shifted)
    changed = {key for key in before if before[key] != after.get(key)}
    # The endpoint keeps its name and only points at a new configuration: SageMaker updates it in place.
    assert changed == {(CONFIGURATION, "serving-churn-configuration")}
    gone = set(inputs(both)) - set(inputs(retired))
    assert gone == {(MODEL, "serving-churn-b"), ("aws:appautoscaling/target:Target", "serving-churn-b-scaling"),
                    ("aws:appautoscaling/policy:Policy", "serving-churn-b-invocations")}
    assert set(production_variants(retired)) == {"a"}


def test_a_new_instance_type_of_an_autoscaled_variant_moves_to_a_new_endpoint_instead_of_updating_it():
    # SageMaker refuses UpdateEndpoint when it changes the instance type of a variant that Application
    # Auto Scaling holds. So the endpoint's name carries its autoscaled variants' instance types: a new
    # one makes a new endpoint, with its own scaling targets, created before the old one is deleted.
    def endpoint_name(recording):
        (endpoint,) = recording.by_type(SAGEMAKER)
        return endpoint.inputs["name"]

    def scaled(recording):
        return {t.inputs["resourceId"] for t in recording.by_type("aws:appautoscaling/target:Target")}

    both = managed(MANAGED_A, MANAGED_B)
    resized = managed(MANAGED_A, {**MANAGED_B, "instanceType": "ml.c5.2xlarge"})
    shifted = managed({**MANAGED_A, "weight": 0}, {**MANAGED_B, "weight": 100})
    assert endpoint_name(resized) != endpoint_name(both) and endpoint_name(resized).startswith("mlops-production-churn-")
    assert scaled(resized) == {f"endpoint/{endpoint_name(resized)}/variant/{v}" for v in ("a", "b")}
    # Weights and images still move the same endpoint onto a new configuration, in place.
    assert endpoint_name(shifted) == endpoint_name(both)
    # A variant that does not autoscale may change its instance type in place (nothing holds it).
    fixed = {**MANAGED_B, "maxReplicas": 2}
    assert endpoint_name(managed(MANAGED_A, fixed)) == endpoint_name(managed(MANAGED_A, {**fixed, "instanceType": "ml.c5.2xlarge"}))
    (endpoint,) = resized.by_type(SAGEMAKER)
    assert not endpoint.delete_before_replace  # the new endpoint serves before the old one goes


MANAGED_BAD = [
    ({**MANAGED_A, "image": "ghcr.io/org/churn:model-a", "weight": 100},
     "mlops:serving.endpoints.churn.variants[0].image: 'ghcr.io/org/churn:model-a' is not allowed; allowed: an Amazon ECR image"),
    ({"name": "a", "model": "models:/churn/3", "weight": 100},
     "mlops:serving.endpoints.churn.variants[0].model: 'models:/churn/3' is not allowed; allowed: an image on a managed endpoint"),
    ({**MANAGED_A, "weight": 100, "resources": {"cpu": "1"}},
     "mlops:serving.endpoints.churn.variants[0].resources: {\"cpu\": \"1\"} is not allowed; allowed: unset with mode managed"),
    ({**MANAGED_A, "weight": 100, "instanceType": "m5.large"},
     "mlops:serving.endpoints.churn.variants.0.instanceType: 'm5.large' is not allowed; allowed: a SageMaker instance type"),
]


@pytest.mark.parametrize("variant,message", MANAGED_BAD, ids=[m.split(":", 2)[1][:70] for _, m in MANAGED_BAD])
def test_bad_managed_endpoints_are_refused_with_the_key(variant, message):
    with pytest.raises(ConfigError) as raised:
        config.load("production", {"backend": "aws", "owner": "ml", "serving": {"endpoints": {"churn": {"mode": "managed", "variants": [variant]}}}})
    assert str(raised.value).startswith(message), str(raised.value)


def test_a_managed_endpoint_is_always_awaited():
    with pytest.raises(ConfigError, match=r"^mlops:serving.endpoints.churn.awaitReady: false is not allowed; allowed: true with mode managed"):
        config.load("production", {"backend": "aws", "owner": "ml", "serving": {"endpoints": {"churn": {
            "mode": "managed", "awaitReady": False, "variants": [{**MANAGED_A, "weight": 100}]}}}})


def test_instance_type_belongs_to_managed_endpoints_only():
    with pytest.raises(ConfigError, match=r"instanceType: 'ml.m5.large' is not allowed; allowed: unset with mode in-cluster"):
        config.load("local", {"serving": {"endpoints": {"churn": {"variants": [{**A, "weight": 100, "instanceType": "ml.m5.large"}]}}}})


def test_a_stack_with_only_managed_endpoints_needs_no_gateway():
    loaded = config.load("production", {"backend": "aws", "owner": "ml", "serving": {"endpoints": {"churn": {
        "mode": "managed", "variants": [{**MANAGED_A, "weight": 100}]}}}})
    assert loaded.serving.install_gateway is False and loaded.serving.endpoints[0].variants[0].instance_type == "ml.m5.xlarge"


# --- Azure ML: a managed online endpoint, a deployment per variant, the weights as its traffic ---------

ONLINE_ENDPOINT, ONLINE_DEPLOYMENT = "azure-native:machinelearningservices:OnlineEndpoint", "azure-native:machinelearningservices:OnlineDeployment"
ENVIRONMENT, ARM_DEPLOYMENT = "azure-native:machinelearningservices:EnvironmentVersion", "azure-native:resources:Deployment"
DATA_CONTAINER, DATA_VERSION = "azure-native:machinelearningservices:DataContainer", "azure-native:machinelearningservices:DataVersion"
AZURE_A = {"name": "a", "image": "ghcr.io/org/churn:model-a", "weight": 90}
AZURE_B = {"name": "b", "image": "ghcr.io/org/churn:model-b", "weight": 10, "replicas": 3, "maxReplicas": 6, "instanceType": "Standard_F4s_v2"}


def on_azure(*variants):
    return with_variants(*variants, stack="production-azure", mode="managed")


def traffic(recording) -> dict[str, int]:
    (write,) = recording.by_type(ARM_DEPLOYMENT)
    (endpoint,) = write.inputs["properties"]["template"]["resources"]
    return endpoint["properties"]["traffic"]


def test_a_managed_endpoint_on_azure_is_an_online_endpoint_with_a_deployment_per_variant_and_the_weights_as_its_traffic():
    recording = on_azure(AZURE_A, AZURE_B)
    (endpoint,) = recording.by_type(ONLINE_ENDPOINT)
    # Entra ID tokens only, and a name unique in the region (it is the scoring URI's host name).
    assert endpoint.inputs["properties"]["authMode"] == "AADToken"
    assert endpoint.inputs["endpointName"].startswith("churn-production-azure-") and len(endpoint.inputs["endpointName"]) <= 32
    deployments = {d.inputs["deploymentName"]: d for d in recording.by_type(ONLINE_DEPLOYMENT)}
    assert set(deployments) == {"churn-a", "churn-b"}
    a, b = deployments["churn-a"].inputs, deployments["churn-b"].inputs
    assert (a["properties"]["instanceType"], a["sku"]["capacity"]) == ("Standard_DS4_v2", 2)  # production defaults
    assert (b["properties"]["instanceType"], b["sku"]["capacity"]) == ("Standard_F4s_v2", 3)
    assert a["properties"]["endpointComputeType"] == "Managed" and a["endpointName"] == endpoint.inputs["endpointName"]
    # Each variant's image is an environment whose routes are the model server's contract.
    environments = {e.inputs["name"]: e for e in recording.by_type(ENVIRONMENT)}
    assert environments["churn-a"].inputs["properties"]["image"] == AZURE_A["image"]
    assert environments["churn-a"].inputs["properties"]["inferenceConfig"] == {
        "livenessRoute": {"path": "/ping", "port": 8080}, "readinessRoute": {"path": "/ping", "port": 8080},
        "scoringRoute": {"path": "/invocations", "port": 8080}}
    assert a["properties"]["environmentId"].endswith(f"/environments/churn-a/versions/{environments['churn-a'].inputs['version']}")
    # The weights are the endpoint's traffic map, written once every deployment exists.
    assert traffic(recording) == {"churn-a": 90, "churn-b": 10}
    (write,) = recording.by_type(ARM_DEPLOYMENT)
    assert {d.urn for d in deployments.values()} <= set(write.dependencies) and write.inputs["properties"]["mode"] == "Incremental"
    assert "properties.traffic" in endpoint.ignore_changes
    # Destroying the endpoint takes its deployments with it, traffic or not.
    assert all(d.deleted_with == endpoint.urn for d in deployments.values())
    # Instances scale on CPU between replicas and maxReplicas; the autoscaler then owns the count.
    scaling = {s.name: s.inputs for s in recording.by_type("azure-native:monitor:AutoscaleSetting")}
    assert scaling["serving-churn-b-autoscale"]["profiles"][0]["capacity"] == {"minimum": "3", "maximum": "6", "default": "3"}
    assert scaling["serving-churn-b-autoscale"]["targetResourceUri"].endswith("/onlineEndpoints/" + endpoint.inputs["endpointName"] + "/deployments/churn-b")
    assert deployments["churn-b"].ignore_changes == ("sku.capacity",)
    # No Deployment, route or gateway in the cluster for it.
    assert not [d for d in named(recording, DEPLOYMENT) if d.startswith("churn")] and not recording.by_type(ROUTE)


def test_an_azure_ml_endpoint_reaches_the_pipeline_config_and_the_pipelines_identity_may_call_it():
    recording = on_azure(AZURE_A, AZURE_B)
    (endpoint,) = recording.by_type(ONLINE_ENDPOINT)
    env = resolved(recording.result.public).env
    url = f"https://{endpoint.inputs['endpointName']}.westeurope.inference.ml.azure.com/score"
    assert env["MLOPS_SERVING_CHURN_URL"] == url and env["MLOPS_SERVING_CHURN_WEIGHTS"] == "a=90,b=10"
    assert env["MLOPS_SERVING_CHURN_A_URL"] == env["MLOPS_SERVING_CHURN_B_URL"] == url  # a variant: azureml-model-deployment
    # The workspace exists for the endpoint alone; MLflow stays in the cluster.
    (workspace,) = recording.by_type("azure-native:machinelearningservices:Workspace")
    assert env["MLFLOW_TRACKING_URI"].startswith("http://mlflow.") and not env["MLOPS_MLFLOW_PLUGIN"]
    scientist = recording.one("azure-native:authorization:RoleAssignment", "airflow-identity-workspace-data-scientist").inputs
    assert scientist["scope"] == f"/subscriptions/{offline.MOCK_SUBSCRIPTION}/resourceGroups/mlops-production-azure/providers/Microsoft.machinelearningservices/Workspace/{workspace.inputs['workspaceName']}"
    (smoke,) = [j for j in recording.by_type("kubernetes:batch/v1:Job") if j.inputs["metadata"]["name"].startswith("mlops-smoke-")]
    assert recording.by_type(ARM_DEPLOYMENT)[0].urn in smoke.dependencies  # the check waits for the traffic


def test_a_zero_weight_azure_ml_deployment_keeps_its_instances_but_gets_no_traffic():
    recording = on_azure({**AZURE_A, "weight": 100}, {**AZURE_B, "weight": 0})
    assert traffic(recording) == {"churn-a": 100, "churn-b": 0}
    b = [d for d in recording.by_type(ONLINE_DEPLOYMENT) if d.inputs["deploymentName"] == "churn-b"][0]
    assert b.inputs["sku"]["capacity"] == 3


def test_shifting_azure_ml_traffic_rewrites_only_the_traffic_and_retiring_a_variant_removes_only_its_resources():
    both = on_azure(AZURE_A, AZURE_B)
    shifted = on_azure({**AZURE_A, "weight": 0}, {**AZURE_B, "weight": 100})
    retired = on_azure({**AZURE_A, "weight": 100})

    def inputs(recording):
        return {(r.type, r.name): offline.redact(r.inputs) for r in recording.resources if r.type.startswith("azure-native:")}

    before, after = inputs(both), inputs(shifted)
    assert {key for key in before if before[key] != after.get(key)} == {(ARM_DEPLOYMENT, "serving-churn-traffic")}
    assert traffic(shifted) == {"churn-a": 0, "churn-b": 100}
    gone = set(inputs(both)) - set(inputs(retired))
    assert gone == {(ONLINE_DEPLOYMENT, "serving-churn-b"), (ENVIRONMENT, "serving-churn-b-environment"),
                    ("azure-native:monitor:AutoscaleSetting", "serving-churn-b-autoscale"),
                    *{(kind, f"serving-churn-b-{collection}-data{suffix}") for collection in ("request", "response")
                      for kind, suffix in ((DATA_CONTAINER, ""), (DATA_VERSION, "-version"))}}
    # Its captures' data assets stay, like its environment: records of what it answered.
    assert all(r.retain_on_delete for r in both.resources if r.type in (DATA_CONTAINER, DATA_VERSION))
    assert traffic(retired) == {"churn-a": 100}
    # A new image is a new environment version; the old one stays as a record a rollback can use.
    rebuilt = on_azure({**AZURE_A, "image": "ghcr.io/org/churn:model-a2"}, AZURE_B)
    old, new = (recording.one(ENVIRONMENT, "serving-churn-a-environment") for recording in (both, rebuilt))
    assert old.inputs["version"] != new.inputs["version"] and new.retain_on_delete


def test_an_acr_image_needs_the_registry_and_the_endpoint_gets_acr_pull_on_it():
    registry = f"/subscriptions/{offline.MOCK_SUBSCRIPTION}/resourceGroups/images/providers/Microsoft.ContainerRegistry/registries/orgmodels"
    image = {**AZURE_A, "image": "orgmodels.azurecr.io/churn@sha256:" + "a" * 64, "weight": 100}
    with pytest.raises(ConfigError, match=r"^mlops:azure.containerRegistryId: not set; allowed: the resource ID of the registry orgmodels.azurecr.io"):
        config.load("production", {"backend": "azure", "owner": "ml", "serving": {"endpoints": {"churn": {"mode": "managed", "variants": [image]}}}})
    values = {**fixtures.stack_config("production-azure"), "mlops:azure": {**fixtures.stack_config("production-azure").get("mlops:azure", {}), "containerRegistryId": registry},
              "mlops:serving": {"endpoints": {"churn": {"mode": "managed", "variants": [image]}}}}
    recording = offline.run("production-azure", values)
    pull = recording.one("azure-native:authorization:RoleAssignment", "serving-churn-acr-pull")
    assert pull.inputs["scope"] == registry and pull.inputs["roleDefinitionId"].endswith("/7f951dff-4ed7-4a0b-8f41-3d1a56dd1cd1")
    (deployment,) = recording.by_type(ONLINE_DEPLOYMENT)
    assert pull.urn in deployment.dependencies


def test_azure_instance_types_are_azure_vm_sizes():
    with pytest.raises(ConfigError, match=r"instanceType: 'ml.m5.large' is not allowed; allowed: an Azure ML VM size"):
        config.load("production", {"backend": "azure", "owner": "ml", "serving": {"endpoints": {"churn": {
            "mode": "managed", "variants": [{**AZURE_A, "weight": 100, "instanceType": "ml.m5.large"}]}}}})


def test_managed_endpoints_are_refused_on_the_ensemble_with_the_backends_that_have_them():
    with pytest.raises(ConfigError, match=r"^mlops:serving.endpoints.churn.mode: 'managed' is not allowed; allowed: in-cluster with backend 'ensemble' "
                                          r"\(managed endpoints: SageMaker on backend aws, Azure ML on backend azure\)$"):
        config.load("local", {"serving": {"endpoints": {"churn": {"mode": "managed", "variants": [{**A, "weight": 100}]}}}})
