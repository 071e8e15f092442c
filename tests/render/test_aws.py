"""The AWS backend as recorded under mocks: what a platform engineer checks before `pulumi up`."""

from __future__ import annotations

import ast
import json

import pytest

from tests import fixtures
from mlops_stack import offline, render
from mlops_stack.offline import REPO_ROOT
from infra.config import ServiceMode
from tests.conftest import AWS_STACKS, config_of, recording_of, resolved

RDS = "aws:rds/instance:Instance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
DATABASE_PORTS = {5432, 6379}


@pytest.fixture(params=AWS_STACKS)
def aws_stack(request):
    return recording_of(request.param)


def managed_options():
    return offline.run("production", {
        **fixtures.stack_config("production"),
        "mlops:services": {"mlflow": {"mode": "managed"}, "airflow": {"mode": "managed"}},
    })


def test_the_shipped_aws_stacks_are_staging_and_production():
    assert AWS_STACKS == ["production", "staging"]


def test_every_aws_resource_goes_through_the_tagged_provider(aws_stack):
    provider = aws_stack.one("pulumi:providers:aws", "aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert {"project", "stack", "environment", "owner"} <= set(tags) and tags["owner"] == "ml-platform"
    assert provider.inputs["region"] == "eu-west-1"
    for resource in aws_stack.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider.startswith(provider.urn + "::"), resource.name


def stack_buckets(recording) -> set[str]:
    """The platform's four buckets, and Athena's results bucket where the stack has that warehouse."""
    names = {f"bucket-{suffix}-bucket" for suffix in ("lake", "artifacts", "feature-store", "monitoring")}
    if recording.by_type("aws:athena/workgroup:Workgroup"):
        names.add("warehouse-results-bucket")
    assert {r.name for r in recording.by_type(BUCKET)} == names
    return names


def test_data_at_rest_and_in_transit_is_encrypted(aws_stack):
    rds = aws_stack.by_type(RDS)[0].inputs
    assert rds["storageEncrypted"] is True and rds["publiclyAccessible"] is False
    parameters = aws_stack.by_type("aws:rds/parameterGroup:ParameterGroup")[0].inputs
    assert [(p["name"], p["value"]) for p in parameters["parameters"]] == [("rds.force_ssl", "1")] and parameters["family"] == "postgres17"
    cache = aws_stack.by_type(CACHE)[0].inputs
    assert cache["transitEncryptionEnabled"] is True and cache["atRestEncryptionEnabled"] is True
    assert offline.is_secret_value(cache["authToken"])
    cluster = aws_stack.one("aws:eks/cluster:Cluster", "eks-cluster").inputs
    assert cluster["encryptionConfig"]["resources"] == ["secrets"]
    encryption = aws_stack.by_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert len(encryption) == len(aws_stack.by_type(BUCKET)) == len(stack_buckets(aws_stack))
    for rule in encryption:
        assert rule.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"


def test_no_bucket_can_be_public_and_each_refuses_plain_http(aws_stack):
    blocks = aws_stack.by_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert len(blocks) == len(stack_buckets(aws_stack))
    for block in blocks:
        assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    for policy in aws_stack.by_type("aws:s3/bucketPolicy:BucketPolicy"):
        statement = json.loads(policy.inputs["policy"])["Statement"][0]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for rules in aws_stack.by_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        assert rules.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] == 30


def test_the_databases_and_cache_sit_in_private_subnets_and_admit_only_the_cluster(aws_stack):
    private = {r.urn for r in aws_stack.by_type("aws:ec2/subnet:Subnet") if "-private-" in r.name}
    public = {r.urn for r in aws_stack.by_type("aws:ec2/subnet:Subnet") if "-public-" in r.name}
    for group in aws_stack.by_type("aws:rds/subnetGroup:SubnetGroup") + aws_stack.by_type("aws:elasticache/subnetGroup:SubnetGroup"):
        assert private <= set(group.dependencies) and not public & set(group.dependencies), group.name
    cluster = aws_stack.one("aws:eks/cluster:Cluster", "eks-cluster")
    rules = [r for r in aws_stack.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") if r.inputs.get("fromPort") in DATABASE_PORTS]
    assert {(r.name, r.inputs["fromPort"]) for r in rules} == {("postgres-from-cluster", 5432), ("redis-from-cluster", 6379)}
    for rule in rules:
        assert "cidrIpv4" not in rule.inputs and cluster.urn in rule.dependencies  # the cluster's own security group


def test_resources_json_opens_no_database_or_cache_port_to_the_internet(tmp_path):
    for stack in AWS_STACKS:
        render.render_stack(stack, tmp_path / stack, fixtures.STACKS_DIR)
        for entry in json.loads((tmp_path / stack / "resources.json").read_text()):
            inputs = entry["inputs"]
            ranges = []
            if entry["type"] == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
                ranges.append((inputs.get("cidrIpv4"), inputs.get("fromPort"), inputs.get("toPort"), inputs.get("ipProtocol")))
            if entry["type"] == "aws:ec2/securityGroup:SecurityGroup":
                for rule in inputs.get("ingress", []):
                    for cidr in rule.get("cidrBlocks", []):
                        ranges.append((cidr, rule.get("fromPort"), rule.get("toPort"), rule.get("protocol")))
            for cidr, low, high, protocol in ranges:
                if cidr in ("0.0.0.0/0", "::/0"):
                    opened = set(range(0, 65536)) if protocol == "-1" else set(range(int(low), int(high) + 1))
                    assert not opened & DATABASE_PORTS, (stack, entry["name"])


def test_production_keeps_its_api_endpoint_private_and_spans_three_zones():
    production = recording_of("production")
    vpc_config = production.one("aws:eks/cluster:Cluster", "eks-cluster").inputs["vpcConfig"]
    assert vpc_config["endpointPublicAccess"] is False and vpc_config["endpointPrivateAccess"] is True
    assert len([s for s in production.by_type("aws:ec2/subnet:Subnet") if "-private-" in s.name]) == 3
    assert len(production.by_type("aws:ec2/natGateway:NatGateway")) == 3  # one per AZ
    staging = recording_of("staging")
    assert staging.one("aws:eks/cluster:Cluster", "eks-cluster").inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert len(staging.by_type("aws:ec2/natGateway:NatGateway")) == 1
    nodes = production.one("aws:eks/nodeGroup:NodeGroup", "eks-nodes").inputs
    assert nodes["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 9} and nodes["instanceTypes"] == ["m7i.xlarge"]


def trust(role) -> dict:
    return json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]


def test_each_service_assumes_its_own_role_through_its_own_service_account(aws_stack):
    roles = {r.name.removesuffix("-identity-role"): r for r in aws_stack.by_type(ROLE) if r.name.endswith("-identity-role")}
    serving = config_of(aws_stack.stack).serving
    # In-cluster endpoints that capture: their sidecars add captures to the lake.
    capturing = [f"system:serviceaccount:mlops:{e.name}" for e in serving.endpoints if e.mode is ServiceMode.IN_CLUSTER and e.captured]
    assert set(roles) == {"mlflow", "feast", "evidently", "airflow", *(["serving"] if capturing else [])}
    issuer = offline.MOCK_OIDC_ISSUER.removeprefix("https://")
    expected = {
        "mlflow": ["system:serviceaccount:mlops:mlflow"],
        "feast": ["system:serviceaccount:mlops:feast"],
        "evidently": ["system:serviceaccount:mlops:evidently"],
        # Task pods, the post-deploy check that uses the platform as a pipeline would, and (where the
        # stack runs the notebooks hub) the user servers.
        "airflow": ["system:serviceaccount:mlops:airflow", "system:serviceaccount:mlops-pipelines:airflow-worker",
                    "system:serviceaccount:mlops-pipelines:mlops-smoke",
                    *(["system:serviceaccount:mlops-pipelines:notebook-user"] if config_of(aws_stack.stack).notebooks.in_cluster else [])],
        **({"serving": capturing} if capturing else {}),
    }
    for app, role in roles.items():
        statement = trust(role)
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{issuer}")
        assert statement["Condition"]["StringEquals"] == {f"{issuer}:aud": "sts.amazonaws.com", f"{issuer}:sub": expected[app]}
    # The service accounts carry the role's ARN.
    accounts = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["metadata"].get("annotations", {})
                for r in aws_stack.by_type("kubernetes:core/v1:ServiceAccount")}
    for app, subjects in expected.items():
        for subject in subjects:
            namespace, account = subject.split(":")[2:]
            assert accounts[(namespace, account)]["eks.amazonaws.com/role-arn"].endswith(f"role/{app}-identity-role")
    assert "eks.amazonaws.com/role-arn" not in accounts[("mlops", "postgres")]  # the setup Job needs no AWS access


def test_each_role_reaches_only_its_buckets_and_prefixes(aws_stack):
    buckets = {r.name.removeprefix("bucket-").removesuffix("-bucket"): r.inputs["bucket"] for r in aws_stack.by_type(BUCKET)}
    policies = {r.name.removesuffix("-identity-policy"): json.loads(r.inputs["policy"])["Statement"]
                for r in aws_stack.by_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-identity-policy")}

    def objects(app: str) -> set[str]:
        return {s["Resource"] for s in policies[app] if "s3:GetObject" in s["Action"]}

    def writable(app: str) -> set[str]:
        return {s["Resource"] for s in policies[app] if "s3:PutObject" in s["Action"]}

    arn = {role: f"arn:aws:s3:::{name}" for role, name in buckets.items()}
    assert objects("mlflow") == writable("mlflow") == {f"{arn['artifacts']}/mlflow/*"}
    assert writable("evidently") == {f"{arn['monitoring']}/evidently/*"} and f"{arn['lake']}/*" in objects("evidently")
    # With Athena, the pipelines and Feast also write query results and uploads to its results bucket.
    athena = {f"{arn['warehouse-results']}/results/*", f"{arn['warehouse-results']}/staging/*"} if "warehouse-results" in arn else set()
    assert writable("feast") == {f"{arn['feature-store']}/*", *athena}
    assert writable("airflow") == {f"{arn['artifacts']}/airflow/logs/*", f"{arn['lake']}/*", f"{arn['feature-store']}/*", *athena}
    for statements in policies.values():
        for statement in statements:
            assert statement["Resource"] != "*" and not str(statement["Action"]).startswith("s3:*")


def test_no_static_access_key_exists_anywhere(aws_stack):
    assert not aws_stack.by_type("aws:iam/accessKey:AccessKey") and not aws_stack.by_type("aws:iam/user:User")
    secret = resolved(aws_stack.result.complete).secret_env
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(secret)
    assert resolved(aws_stack.result.public).env["MLOPS_OBJECT_STORE_AUTH"] == "irsa"


# On AWS, S3 is reached at the SDKs' default endpoint with the pod's role: no override, no keys.
ENDPOINT_OVERRIDE = {"AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL"}
STATIC_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
WAREHOUSE_SECRETS = {"AIRFLOW_CONN_MLOPS_WAREHOUSE", "MLOPS_WAREHOUSE_PASSWORD"}


def test_the_pipeline_config_has_the_ensembles_keys_with_s3_and_no_endpoint_override(aws_stack):
    ensemble = resolved(recording_of("production-onprem").result.public)
    ensemble_secrets = resolved(recording_of("production-onprem").result.complete).secret_env
    aws = resolved(aws_stack.result.public)
    aws_secrets = resolved(aws_stack.result.complete).secret_env
    # Keys of the stack's own model endpoints (staging serves churn) aside.
    assert {k for k in aws.env if not k.startswith("MLOPS_SERVING_") or k == "MLOPS_SERVING_ENDPOINTS"} == set(ensemble.env) - ENDPOINT_OVERRIDE
    # A warehouse's connection (and its password, where it has one) are there only with a warehouse.
    assert set(aws_secrets) - WAREHOUSE_SECRETS == set(ensemble_secrets) - STATIC_KEYS - WAREHOUSE_SECRETS
    assert set(aws.files) == set(ensemble.files)
    assert aws.env["MLOPS_OBJECT_STORE_KIND"] == "s3" and aws.env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://mlops-")
    assert "endpointurl" not in aws.files["dvc.config"] and "url = s3://mlops-" in aws.files["dvc.config"]
    assert aws_secrets["AIRFLOW_CONN_MLOPS_S3"] == "aws:///?region_name=eu-west-1"


def test_the_databases_are_created_by_a_job_in_the_cluster_over_tls(aws_stack):
    job = aws_stack.one("kubernetes:batch/v1:Job", "postgres-setup").inputs
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["PGSSLMODE"]["value"] == "require" and env["PGUSER"]["value"] == "mlops_admin"
    assert env["PGHOST"]["value"].endswith(".rds.amazonaws.com")
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "postgres-admin-credentials", "key": "password"}
    script = aws_stack.one("kubernetes:core/v1:ConfigMap", "postgres-setup-scripts").inputs["data"]["consumers.sql"]
    assert all(f"CREATE DATABASE %I OWNER %I', '{c}'" in script for c in ("mlflow", "airflow", "feast"))


def test_managed_mlflow_and_airflow_fill_the_same_contract_fields():
    recording = managed_options()
    public = resolved(recording.result.public)
    assert public.env["MLFLOW_TRACKING_URI"].startswith("arn:aws:sagemaker:") and public.env["MLOPS_MLFLOW_PLUGIN"] == "sagemaker-mlflow"
    assert public.env["MLOPS_AIRFLOW_URL"].startswith("https://") and public.env["MLOPS_AIRFLOW_URL"].endswith(".airflow.amazonaws.com")
    assert set(public.env) == set(resolved(recording_of("production").result.public).env)
    deployments = {r.inputs["metadata"]["name"] for r in recording.by_type("kubernetes:apps/v1:Deployment")}
    assert "mlflow" not in deployments and not {d for d in deployments if d.startswith("airflow")}
    assert {"feast", "evidently"} <= deployments

    server = recording.one("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "mlflow-tracking-server").inputs
    assert server["artifactStoreUri"].startswith("s3://mlops-production-artifacts-") and server["artifactStoreUri"].endswith("/mlflow")
    assert server["trackingServerSize"] == "Medium"

    mwaa = recording.one("aws:mwaa/environment:Environment", "airflow-environment").inputs
    assert mwaa["webserverAccessMode"] == "PRIVATE_ONLY" and len(mwaa["networkConfiguration"]["subnetIds"]) == 2
    options = mwaa["airflowConfigurationOptions"]["value"]  # the provider keeps these secret
    assert options["secrets.backend"].endswith("SecretsManagerBackend")
    prefix = json.loads(options["secrets.backend_kwargs"])["connections_prefix"]
    secrets = {r.inputs["name"] for r in recording.by_type("aws:secretsmanager/secret:Secret")}
    assert secrets == {f"{prefix}/mlops_postgres", f"{prefix}/mlops_s3", f"{prefix}/mlops_events"}
    for version in recording.by_type("aws:secretsmanager/secretVersion:SecretVersion"):
        assert offline.is_secret_value(version.inputs["secretString"])
    dags = [r for r in recording.by_type(BUCKET) if r.name == "airflow-dags-bucket"]
    assert len(dags) == 1 and recording.one("aws:s3/bucketVersioning:BucketVersioning", "airflow-dags-versioning")
    # MWAA's workers reach the database and the cache too, through their own security group.
    ingress = {r.name for r in recording.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert {"postgres-from-mwaa", "redis-from-mwaa", "postgres-from-cluster"} <= ingress
    # Pipelines on MWAA may use the tracking server; nobody else gets the S3 prefix of a service they do not run.
    execution = json.loads(recording.one("aws:iam/rolePolicy:RolePolicy", "airflow-execution-policy").inputs["policy"])["Statement"]
    assert any(s["Action"] == "sagemaker-mlflow:*" and s["Resource"].startswith("arn:aws:sagemaker:") for s in execution)
    roles = {r.name for r in recording.by_type(ROLE) if r.name.endswith("-identity-role")}
    # Pipelines run on MWAA; the post-deploy check in the cluster gets the pipelines' bucket access.
    assert roles == {"feast-identity-role", "evidently-identity-role", "pipelines-identity-role"}


def test_an_existing_vpc_and_cluster_are_used_not_created():
    recording = offline.run("staging", {
        **fixtures.stack_config("staging"),
        "mlops:cluster": {"create": False, "name": "shared-eks"},
        "mlops:aws": {"region": "eu-west-1", "network": {
            "vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}},
    })
    types = {r.type for r in recording.resources}
    assert not {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
                "aws:iam/openIdConnectProvider:OpenIdConnectProvider"} & types
    subnets = recording.by_type("aws:rds/subnetGroup:SubnetGroup")[0].inputs["subnetIds"]
    assert subnets == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    rule = recording.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "postgres-from-cluster").inputs
    assert rule["referencedSecurityGroupId"] == "sg-0eks0cluster0000"  # the looked-up cluster's group
    kubeconfig = json.loads(recording.one("pulumi:providers:kubernetes", "kubernetes").inputs["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "shared-eks"]


# The explicit dependencies of the AWS components, and why each is needed; everything else is ordered
# by the inputs alone, which lets RDS, ElastiCache and S3 be created while EKS is.
NEEDED_DEPENDS_ON = {
    ("eks.py", "Cluster"): "the cluster role's policy must be attached before EKS uses the role",
    ("eks.py", "NodeGroup"): "nodes join only with the worker policies on their role",
    ("s3.py", "BucketPolicy"): "S3 refuses a bucket policy while the public access block is changing",
    ("mwaa.py", "Environment"): "MWAA checks the DAG bucket's versioning and its role's policy at creation",
    ("sagemaker.py", "MlflowTrackingServer"): "the tracking server checks its role's access to the artifact store",
    ("events.py", "BucketNotification"): "S3 sends the queue a test message when the notification is set: its policy must admit the bucket",
    ("serving.py", "EndpointConfiguration"): "SageMaker writes captures as its execution role from the first request: the capture policy first",
}


def test_explicit_dependencies_are_only_the_needed_ones():
    found = {}
    for path in sorted((REPO_ROOT / "components" / "aws").glob("*.py")) + [REPO_ROOT / "stacks" / "aws.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr[:1].isupper():
                for keyword in node.keywords:
                    if keyword.arg == "opts" and "depends_on" in ast.unparse(keyword.value):
                        found[(path.name, node.func.attr)] = ast.unparse(keyword.value)
    assert set(found) == set(NEEDED_DEPENDS_ON), found
    # And none of the data services waits for the cluster explicitly.
    for recording in (recording_of("staging"), recording_of("production")):
        cluster = recording.one("aws:eks/cluster:Cluster", "eks-cluster").urn
        for type_ in (RDS, CACHE, BUCKET):
            for resource in recording.by_type(type_):
                assert cluster not in resource.dependencies, resource.name
