"""The rules of the policy pack, as plain functions of (args, report_violation).

`args` has what CrossGuard's ResourceValidationArgs has: `resource_type`, `props` (the inputs, in the
provider's camelCase), `urn`, `name` and `opts.protect`. Nothing here imports pulumi_policy, so the
tests run the same functions on every resource the program records.

Each message says what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

Report = Callable[[str], None]

DATABASE_PORTS = (5432,)
CACHE_PORTS = (6379, 6380)
OPEN_TO_ALL = {"0.0.0.0/0", "::/0", "*", "Internet", "Any"}
WORKLOAD_KINDS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
# Resources that hold data: in production they must be `protect`ed.
STATEFUL_TYPES = {
    "kubernetes:apps/v1:StatefulSet",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "azure-native:dbforpostgresql:Server",
    "azure-native:dbforpostgresql:FlexibleServer",
    "azure-native:redis:Redis",
    "azure-native:redisenterprise:RedisEnterprise",
    "azure-native:redisenterprise:Database",
    "azure-native:storage:StorageAccount",
    "azure-native:storage:BlobContainer",
    "azure-native:keyvault:Vault",
    "aws:glue/catalogDatabase:CatalogDatabase",  # the warehouse's tables
}
SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|access_?key|credential|private_?key|fernet)")
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
# The same rule as infra.config.EPHEMERAL_STACK (the pack runs without that package).
EPHEMERAL = re.compile(r"^(?P<env>staging)-pr-(?P<pr>[1-9]\d*)$")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    validate: Callable[[Any, Report], None]


def _get(value: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def environment(args: Any) -> Optional[str]:
    """The stack's environment: the `mlops-stack/environment` label or the `environment` tag (Azure
    resources carry their tags), else the stack name in the URN."""
    label = _get(args.props, "metadata", "labels", "mlops-stack/environment") or _get(args.props, "tags", "environment")
    if label:
        return label
    stack = args.urn.split("::")[0].rsplit(":", 1)[-1] if args.urn.startswith("urn:pulumi:") else ""
    match = EPHEMERAL.match(stack)
    return match["env"] if match else stack


def production(args: Any) -> bool:
    return environment(args) == "production"


# --- object storage ------------------------------------------------------------------------------
def no_public_object_storage(args: Any, report: Report) -> None:
    props = args.props
    if args.resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        missing = [k for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets") if props.get(k) is not True]
        if missing:
            report(f"S3 public access is not fully blocked ({', '.join(missing)} not true). Set all four flags of the BucketPublicAccessBlock to true.")
    elif args.resource_type in ("aws:s3/bucketAclV2:BucketAclV2", "aws:s3/bucketAcl:BucketAcl"):
        if str(props.get("acl", "")).startswith("public"):
            report(f"S3 bucket ACL {props['acl']!r} makes the bucket public. Use the private ACL (or none) and grant access with IAM roles.")
    elif args.resource_type == "azure-native:storage:StorageAccount":
        if props.get("allowBlobPublicAccess") is not False:
            report("Azure storage account allows public blob access. Set allowBlobPublicAccess: false.")
    elif args.resource_type == "azure-native:storage:BlobContainer":
        if props.get("publicAccess") not in (None, "None"):
            report(f"Azure blob container has publicAccess {props['publicAccess']!r}. Set publicAccess: None.")


# --- encryption at rest --------------------------------------------------------------------------
def encryption_at_rest(args: Any, report: Report) -> None:
    props, kind = args.props, args.resource_type
    if kind in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster") and props.get("storageEncrypted") is not True:
        report("RDS storage is not encrypted. Set storageEncrypted: true (optionally with a kmsKeyId).")
    elif kind == "aws:elasticache/replicationGroup:ReplicationGroup" and props.get("atRestEncryptionEnabled") not in (True, "true"):
        report("ElastiCache data is not encrypted at rest. Set atRestEncryptionEnabled: true.")
    elif kind in ("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
                  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        algorithms = [_get(r, "applyServerSideEncryptionByDefault", "sseAlgorithm") for r in props.get("rules", [])]
        if not any(a in ("AES256", "aws:kms", "aws:kms:dsse") for a in algorithms):
            report("S3 server-side encryption has no algorithm. Set applyServerSideEncryptionByDefault.sseAlgorithm to aws:kms or AES256.")
    elif kind == "azure-native:storage:StorageAccount" and _get(props, "encryption", "requireInfrastructureEncryption") is False:
        report("Azure storage account turns infrastructure encryption off. Leave encryption at its default or set requireInfrastructureEncryption: true.")


# --- no public database or cache -----------------------------------------------------------------
def _ports_open_to_all(rules: Iterable[dict], ports: tuple[int, ...]) -> list[int]:
    hit = []
    for rule in rules:
        cidrs = set(rule.get("cidrBlocks", []) or []) | set(rule.get("ipv6CidrBlocks", []) or [])
        for key in ("cidrIpv4", "cidrIpv6"):
            if rule.get(key):
                cidrs.add(rule[key])
        if not cidrs & OPEN_TO_ALL:
            continue
        low, high = int(rule.get("fromPort", 0) or 0), int(rule.get("toPort", 65535) or 65535)
        if str(rule.get("protocol", "tcp")) == "-1":
            low, high = 0, 65535
        hit += [p for p in ports if low <= p <= high]
    return hit


def no_public_database_or_cache(args: Any, report: Report) -> None:
    props, kind = args.props, args.resource_type
    ports = DATABASE_PORTS + CACHE_PORTS
    if kind in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster") and props.get("publiclyAccessible") is True:
        report("The database is publicly accessible. Set publiclyAccessible: false and reach it from inside the VPC.")
    elif kind == "aws:ec2/securityGroup:SecurityGroup":
        for port in _ports_open_to_all(props.get("ingress", []) or [], ports):
            report(f"Security group admits 0.0.0.0/0 on port {port}. Admit only the cluster's security group or subnets.")
    elif kind in ("aws:ec2/securityGroupRule:SecurityGroupRule", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        if kind.endswith("SecurityGroupRule") and props.get("type") != "ingress":
            return
        for port in _ports_open_to_all([props], ports):
            report(f"Security group rule admits 0.0.0.0/0 on port {port}. Admit only the cluster's security group or subnets.")
    elif kind in ("azure-native:network:NetworkSecurityGroup", "azure-native:network:SecurityRule"):
        rules = props.get("securityRules", []) if kind.endswith("Group") else [props]
        for rule in rules or []:
            if rule.get("direction") != "Inbound" or rule.get("access") != "Allow":
                continue
            sources = {rule.get("sourceAddressPrefix")} | set(rule.get("sourceAddressPrefixes", []) or [])
            ranges = [rule.get("destinationPortRange")] + list(rule.get("destinationPortRanges", []) or [])
            if sources & OPEN_TO_ALL and any(_range_has(r, p) for r in ranges if r for p in ports):
                report(f"NSG rule {rule.get('name', '')!r} admits the Internet to a database or cache port. Restrict sourceAddressPrefix to the VNet.")
    elif kind in ("azure-native:dbforpostgresql:FlexibleServer", "azure-native:dbforpostgresql:Server"):
        if _get(props, "network", "publicNetworkAccess") == "Enabled":
            report("PostgreSQL Flexible Server is reachable from the Internet. Use VNet integration (network.publicNetworkAccess: Disabled).")
    elif kind == "azure-native:redis:Redis" and props.get("publicNetworkAccess") == "Enabled":
        report("Azure Cache for Redis is reachable from the Internet. Set publicNetworkAccess: Disabled and use a private endpoint.")
    elif kind == "azure-native:redisenterprise:RedisEnterprise" and props.get("publicNetworkAccess") != "Disabled":
        report("Azure Managed Redis is reachable from the Internet. Set publicNetworkAccess: Disabled and use a private endpoint.")


def _range_has(port_range: str, port: int) -> bool:
    if port_range == "*":
        return True
    low, _, high = str(port_range).partition("-")
    return int(low) <= port <= int(high or low)


# --- TLS in transit ------------------------------------------------------------------------------
def tls_in_transit(args: Any, report: Report) -> None:
    props, kind = args.props, args.resource_type
    if kind == "aws:elasticache/replicationGroup:ReplicationGroup" and props.get("transitEncryptionEnabled") is not True:
        report("ElastiCache accepts plain-text connections. Set transitEncryptionEnabled: true (clients use rediss://).")
    elif kind == "aws:rds/parameterGroup:ParameterGroup" and str(props.get("family", "")).startswith("postgres"):
        forced = {p.get("name"): str(p.get("value")) for p in props.get("parameters", []) or []}.get("rds.force_ssl")
        if forced != "1":
            report("The PostgreSQL parameter group does not force TLS. Add the parameter rds.force_ssl = 1.")
    elif kind == "azure-native:redis:Redis":
        if props.get("enableNonSslPort") is True:
            report("Azure Cache for Redis opens its non-TLS port. Set enableNonSslPort: false.")
        if props.get("minimumTlsVersion") not in (None, "1.2", "1.3"):
            report(f"Azure Cache for Redis allows TLS {props['minimumTlsVersion']}. Set minimumTlsVersion: '1.2'.")
    elif kind == "azure-native:redisenterprise:Database" and props.get("clientProtocol") == "Plaintext":
        report("Azure Managed Redis accepts plain-text connections. Set clientProtocol: Encrypted.")
    elif kind == "azure-native:dbforpostgresql:Configuration" and props.get("configurationName", args.name).endswith("require_secure_transport"):
        if str(props.get("value", "")).lower() in ("off", "0", "false"):
            report("PostgreSQL Flexible Server accepts plain-text connections. Keep require_secure_transport ON.")
    elif kind == "azure-native:storage:StorageAccount" and props.get("minimumTlsVersion") not in (None, "TLS1_2", "TLS1_3"):
        report(f"The storage account allows {props['minimumTlsVersion']}. Set minimumTlsVersion: TLS1_2.")


# --- production ----------------------------------------------------------------------------------
def production_data_protection(args: Any, report: Report) -> None:
    if not production(args):
        return
    props, kind = args.props, args.resource_type
    if kind in STATEFUL_TYPES and not getattr(args.opts, "protect", False):
        report(f"{kind} holds production data but is not protected. Set protect=True (mlops:protect is true in production).")
    if kind in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster"):
        if props.get("deletionProtection") is not True:
            report("Production database without deletion protection. Set deletionProtection: true.")
        if props.get("skipFinalSnapshot") is True:
            report("Production database would be deleted without a final snapshot. Set skipFinalSnapshot: false.")
        if int(props.get("backupRetentionPeriod", 0) or 0) < 7:
            report("Production database keeps backups for fewer than 7 days. Set backupRetentionPeriod to 7 or more.")
    elif kind == "aws:elasticache/replicationGroup:ReplicationGroup" and int(props.get("snapshotRetentionLimit", 0) or 0) < 7:
        report("Production cache keeps snapshots for fewer than 7 days. Set snapshotRetentionLimit to 7 or more.")
    elif kind in ("aws:s3/bucketVersioningV2:BucketVersioningV2", "aws:s3/bucketVersioning:BucketVersioning"):
        if _get(props, "versioningConfiguration", "status") != "Enabled":
            report("Production bucket versioning is not enabled. Set versioningConfiguration.status: Enabled.")
    elif kind in ("azure-native:dbforpostgresql:Server", "azure-native:dbforpostgresql:FlexibleServer"):
        if int(_get(props, "backup", "backupRetentionDays", default=0) or 0) < 7:
            report("Production PostgreSQL keeps backups for fewer than 7 days. Set backup.backupRetentionDays to 7 or more.")
    elif kind == "azure-native:storage:BlobServiceProperties":
        # Soft delete, not versioning: Azure does not version blobs in an ADLS Gen2 (hierarchical) account.
        if _get(props, "deleteRetentionPolicy", "enabled") is not True or int(_get(props, "deleteRetentionPolicy", "days", default=0) or 0) < 7:
            report("Production blobs are not kept after deletion. Set deleteRetentionPolicy: {enabled: true, days: 7 or more}.")
    elif kind == "azure-native:keyvault:Vault" and _get(props, "properties", "enablePurgeProtection") is not True:
        report("Production Key Vault can be purged with its secrets. Set properties.enablePurgeProtection: true.")
    elif kind == "kubernetes:apps/v1:StatefulSet":
        if _get(props, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted") == "Delete":
            report("A production StatefulSet deletes its volumes with it. Set persistentVolumeClaimRetentionPolicy.whenDeleted: Retain.")


# --- warehouse -----------------------------------------------------------------------------------
def warehouse_queries(args: Any, report: Report) -> None:
    props, kind = args.props, args.resource_type
    if kind != "aws:athena/workgroup:Workgroup":
        return
    configuration = props.get("configuration") or {}
    if configuration.get("enforceWorkgroupConfiguration") is not True:
        report("The Athena workgroup lets clients override its results location and encryption. "
               "Set configuration.enforceWorkgroupConfiguration: true.")
    if not _get(configuration, "resultConfiguration", "encryptionConfiguration", "encryptionOption"):
        report("Athena query results are not encrypted. Set configuration.resultConfiguration.encryptionConfiguration "
               "(encryptionOption SSE_KMS with kmsKeyArn).")
    if not configuration.get("bytesScannedCutoffPerQuery"):
        report("The Athena workgroup has no per-query scan limit. Set configuration.bytesScannedCutoffPerQuery.")


# --- containers ----------------------------------------------------------------------------------
def pod_spec(args: Any) -> Optional[dict]:
    path = WORKLOAD_KINDS.get(args.resource_type)
    return _get(args.props, *path) if path else None


def containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers", []) or []) + list(spec.get("containers", []) or [])


# Model images of managed endpoints: (resource type, path to the image).
MODEL_IMAGES = {
    "aws:sagemaker/model:Model": ("primaryContainer", "image"),
    "azure-native:machinelearningservices:EnvironmentVersion": ("properties", "image"),
}


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(tag) and tag != "latest"


def pinned_images(args: Any, report: Report) -> None:
    spec = pod_spec(args)
    for container in containers(spec or {}):
        image = str(container.get("image", ""))
        if not _pinned(image):
            report(f"Container {container.get('name')!r} uses {image!r}: not pinned. Pin the image by version tag or digest (never :latest).")
    path = MODEL_IMAGES.get(args.resource_type)
    image = _get(args.props, *path) if path else None
    if isinstance(image, str) and not _pinned(image):
        report(f"The model endpoint runs {image!r}: not pinned. Pin the image by version tag or digest (never :latest).")


def run_as_non_root(args: Any, report: Report) -> None:
    spec = pod_spec(args)
    if spec is None:
        return
    pod_level = _get(spec, "securityContext", "runAsNonRoot") is True
    for container in containers(spec):
        if not (pod_level or _get(container, "securityContext", "runAsNonRoot") is True) or _get(container, "securityContext", "runAsNonRoot") is False:
            report(f"Container {container.get('name')!r} may run as root. Set securityContext.runAsNonRoot: true (and a non-zero runAsUser).")
        if _get(container, "securityContext", "runAsUser") == 0 or (_get(spec, "securityContext", "runAsUser") == 0 and _get(container, "securityContext", "runAsUser") is None):
            report(f"Container {container.get('name')!r} runs as user 0. Use a non-root runAsUser.")


def requests_and_limits(args: Any, report: Report) -> None:
    spec = pod_spec(args)
    for container in containers(spec or {}):
        resources = container.get("resources") or {}
        missing = [f"{kind}.{r}" for kind in ("requests", "limits") for r in ("cpu", "memory") if r not in (resources.get(kind) or {})]
        if missing:
            report(f"Container {container.get('name')!r} has no {', '.join(missing)}. Set resources.requests and resources.limits for cpu and memory.")


def no_privileged_containers(args: Any, report: Report) -> None:
    spec = pod_spec(args)
    for container in containers(spec or {}):
        security = container.get("securityContext") or {}
        if security.get("privileged") is True:
            report(f"Container {container.get('name')!r} is privileged. Remove securityContext.privileged.")
        if security.get("allowPrivilegeEscalation") is not False:
            report(f"Container {container.get('name')!r} may escalate privileges. Set securityContext.allowPrivilegeEscalation: false.")
        added = set(_get(security, "capabilities", "add", default=[]) or [])
        if added & {"SYS_ADMIN", "NET_ADMIN", "ALL"}:
            report(f"Container {container.get('name')!r} adds capabilities {sorted(added)}. Drop them; add only what the process needs.")
    if spec and (spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC")):
        report("The pod shares the node's network, PID or IPC namespace. Remove hostNetwork, hostPID and hostIPC.")


def no_secret_literals_in_env(args: Any, report: Report) -> None:
    spec = pod_spec(args)
    for container in containers(spec or {}):
        for variable in container.get("env", []) or []:
            value = variable.get("value")
            if not isinstance(value, str) or not value:
                continue
            if SECRET_NAME.search(variable.get("name", "")) or CREDENTIALS_IN_URL.search(value):
                report(
                    f"Container {container.get('name')!r} sets {variable.get('name')} to a literal value that looks secret. "
                    "Take it from a Secret with valueFrom.secretKeyRef (or envFrom a Secret)."
                )


POLICIES = (
    Rule("no-public-object-storage", "S3 public access blocked; Azure public blob access off", no_public_object_storage),
    Rule("encryption-at-rest", "Databases, caches and buckets are encrypted at rest", encryption_at_rest),
    Rule("no-public-database-or-cache", "No public database or cache; no 0.0.0.0/0 on their ports", no_public_database_or_cache),
    Rule("tls-in-transit", "Redis and PostgreSQL on the clouds require TLS", tls_in_transit),
    Rule("production-data-protection", "Production: protect, deletion protection, backups ≥ 7 days, versioned buckets", production_data_protection),
    Rule("warehouse-queries", "Athena workgroups enforce their settings, encrypt results and limit the bytes a query scans", warehouse_queries),
    Rule("pinned-images", "No :latest or untagged container images, model endpoints' included", pinned_images),
    Rule("run-as-non-root", "Containers run as non-root", run_as_non_root),
    Rule("requests-and-limits", "Containers set cpu and memory requests and limits", requests_and_limits),
    Rule("no-privileged-containers", "No privileged containers or privilege escalation", no_privileged_containers),
    Rule("no-secret-literals-in-env", "No secret literal in a container env value", no_secret_literals_in_env),
)
