"""aws: the AWS section (region, network, EKS, RDS, ElastiCache, MWAA, SageMaker MLflow), sizes per environment, checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from pydantic import Field

from .choices import Environment, by_environment
from .errors import Problems
from .types import Cidr, InputModel, Pattern

AWS_REGION = Pattern(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", "an AWS region, e.g. eu-west-1")
VPC_ID = Pattern(r"^vpc-[0-9a-f]{8,17}$", "a VPC ID, e.g. vpc-0a1b2c3d4e5f60718")
SUBNET_ID = Pattern(r"^subnet-[0-9a-f]{8,17}$", "a subnet ID, e.g. subnet-0a1b2c3d4e5f60718")
INSTANCE_TYPE = Pattern(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", "an instance type, e.g. m7i.large")
DB_CLASS = Pattern(r"^db\.[a-z0-9]+\.[a-z0-9]+$", "an RDS instance class, e.g. db.m7g.large")
CACHE_NODE = Pattern(r"^cache\.[a-z0-9]+\.[a-z0-9]+$", "an ElastiCache node type, e.g. cache.m7g.large")
AwsRegion, VpcId, SubnetId = AWS_REGION.type, VPC_ID.type, SUBNET_ID.type
InstanceType, DbClass, CacheNode = INSTANCE_TYPE.type, DB_CLASS.type, CACHE_NODE.type


@dataclass(frozen=True)
class AwsSizes:
    """What the AWS resources of one environment are, before per-stack overrides."""

    node_instance_types: tuple[str, ...]
    min_nodes: int
    desired_nodes: int
    max_nodes: int
    db_instance_class: str
    db_storage: int  # GiB
    db_max_storage: int  # GiB, storage autoscaling limit
    db_backup_days: int
    cache_node_type: str
    cache_nodes: int  # the primary, plus replicas
    mwaa_class: str
    mwaa_max_workers: int
    sagemaker_size: str
    cache_snapshot_days: int  # daily ElastiCache snapshots kept


# Staging is small; production is highly available: three AZs, Multi-AZ RDS, a Redis replica.
# Nodes fit the applications' requests (services.DEFAULT_SIZES) plus Airflow's task pods.
AWS_SIZES: dict[Environment, AwsSizes] = {
    Environment.LOCAL: AwsSizes(("t3.large",), 1, 2, 3, "db.t4g.micro", 20, 50, 1, "cache.t4g.micro", 1, "mw1.micro", 1, "Small", 0),
    Environment.STAGING: AwsSizes(("m7i.large",), 2, 2, 4, "db.t4g.medium", 20, 100, 7, "cache.t4g.small", 1, "mw1.small", 2, "Small", 0),
    Environment.PRODUCTION: AwsSizes(
        ("m7i.xlarge",), 3, 3, 9, "db.m7g.large", 100, 1000, 14, "cache.m7g.large", 2, "mw1.medium", 10, "Medium", 7
    ),
}
# Days a deleted KMS key (the cluster's secrets key) or MWAA connection secret can be recovered. An
# ephemeral stack takes AWS's shortest windows: its name comes back with the next push to the PR.
KEY_DELETION_DAYS = {"ephemeral": 7, "kept": 30}
SECRET_RECOVERY_DAYS = {"ephemeral": 0, "kept": 30}
CACHE_ENGINE_VERSIONS = {"valkey": "8.0", "redis": "7.1"}


def _by_environment(pick) -> str:
    return by_environment(AWS_SIZES, pick)


class AwsNetworkConfig(InputModel):
    """A new VPC (default), or an existing one given by its IDs."""

    vpc_id: Optional[VpcId] = Field(None, description="An existing VPC; unset: create one")
    private_subnet_ids: list[SubnetId] = Field(
        default_factory=list, description="Private subnets of the existing VPC (at least 2 AZs), with a route to a NAT"
    )
    cidr: Cidr = Field("10.40.0.0/16", description="CIDR of a new VPC; split into public and private subnets")
    availability_zones: Optional[int] = Field(None, ge=2, le=6, description="AZs of a new VPC; default 2, 3 in production")


class AwsEksConfig(InputModel):
    version: str = Field("1.33", pattern=r"^1\.[0-9]{2}$", description="Kubernetes version of a new EKS cluster")
    instance_types: Optional[list[InstanceType]] = Field(
        None, min_length=1, description=f"Node instance types; default {_by_environment(lambda s: '/'.join(s.node_instance_types))}"
    )
    min_nodes: Optional[int] = Field(None, ge=1, le=450, description=f"Smallest node count; default {_by_environment(lambda s: s.min_nodes)}")
    desired_nodes: Optional[int] = Field(None, ge=1, le=450, description=f"Node count at creation; default {_by_environment(lambda s: s.desired_nodes)}")
    max_nodes: Optional[int] = Field(None, ge=1, le=450, description=f"Largest node count; default {_by_environment(lambda s: s.max_nodes)}")
    public_endpoint: Optional[bool] = Field(
        None, description="Kubernetes API reachable from the internet; default true, false in production"
    )
    public_access_cidrs: list[Cidr] = Field(
        default_factory=list, description="Who may reach a public API endpoint; default everywhere (0.0.0.0/0)"
    )


class AwsRdsConfig(InputModel):
    instance_class: Optional[DbClass] = Field(None, description=f"Default {_by_environment(lambda s: s.db_instance_class)}")
    allocated_storage: Optional[int] = Field(None, ge=20, le=65536, description=f"GiB at creation; default {_by_environment(lambda s: s.db_storage)}")
    max_allocated_storage: Optional[int] = Field(None, ge=20, le=65536, description=f"Storage autoscaling limit in GiB; default {_by_environment(lambda s: s.db_max_storage)}")
    engine_version: str = Field("17", pattern=r"^[0-9]{2}(\.[0-9]+)?$", description="PostgreSQL major (or major.minor) version")
    backup_retention_days: Optional[int] = Field(None, ge=0, le=35, description=f"Days of automated backups; default {_by_environment(lambda s: s.db_backup_days)}, 0 on an ephemeral stack")


class CacheEngine(str, Enum):
    VALKEY = "valkey"
    REDIS = "redis"


class AwsElastiCacheConfig(InputModel):
    node_type: Optional[CacheNode] = Field(None, description=f"Default {_by_environment(lambda s: s.cache_node_type)}")
    engine: CacheEngine = Field(CacheEngine.VALKEY, description="valkey or redis (Redis OSS); both speak the Redis protocol")
    engine_version: Optional[str] = Field(None, pattern=r"^[0-9]+\.[0-9]+$", description=f"Default {CACHE_ENGINE_VERSIONS['valkey']} for valkey, {CACHE_ENGINE_VERSIONS['redis']} for redis")


class AwsMwaaConfig(InputModel):
    """Amazon MWAA, used when services.airflow.mode is managed."""

    airflow_version: str = Field("3.0.6", pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", description="An Airflow version MWAA offers")
    environment_class: Optional[str] = Field(None, pattern=r"^mw1\.(micro|small|medium|large|xlarge|2xlarge)$", description=f"Default {_by_environment(lambda s: s.mwaa_class)}")
    max_workers: Optional[int] = Field(None, ge=1, le=25, description=f"Default {_by_environment(lambda s: s.mwaa_max_workers)}")


class AwsSageMakerMlflowConfig(InputModel):
    """A SageMaker managed MLflow tracking server, used when services.mlflow.mode is managed."""

    tracking_server_size: Optional[str] = Field(None, pattern=r"^(Small|Medium|Large)$", description=f"Small, Medium or Large; default {_by_environment(lambda s: s.sagemaker_size)}")
    mlflow_version: str = Field("3.0", pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$", description="An MLflow version SageMaker offers")


class AwsConfig(InputModel):
    """Where and how big the AWS resources are (backend aws, or any service managed on AWS)."""

    region: AwsRegion = Field("us-east-1", description="AWS region of every resource")
    network: AwsNetworkConfig = AwsNetworkConfig()
    eks: AwsEksConfig = AwsEksConfig()
    rds: AwsRdsConfig = AwsRdsConfig()
    elasticache: AwsElastiCacheConfig = AwsElastiCacheConfig()
    mwaa: AwsMwaaConfig = AwsMwaaConfig()
    sagemaker_mlflow: AwsSageMakerMlflowConfig = AwsSageMakerMlflowConfig()



@dataclass(frozen=True)
class Aws:
    """The AWS settings of a stack with every default resolved."""

    region: str
    vpc_id: Optional[str]  # None: create a VPC
    private_subnet_ids: tuple[str, ...]
    cidr: str
    availability_zones: int
    eks_version: str
    public_endpoint: bool
    public_access_cidrs: tuple[str, ...]
    sizes: AwsSizes
    db_engine_version: str
    db_multi_az: bool
    cache_engine: str
    cache_engine_version: str
    mwaa_airflow_version: str
    sagemaker_mlflow_version: str
    key_deletion_days: int
    secret_recovery_days: int



def resolve(raw: AwsConfig, environment: Environment, ephemeral: bool, problems: Problems) -> Aws:
    production = environment is Environment.PRODUCTION
    network, eks = raw.network, raw.eks
    if network.vpc_id and len(network.private_subnet_ids) < 2:
        problems.add("aws.network.privateSubnetIds", f"{len(network.private_subnet_ids)} given; "
                     "allowed: at least 2 private subnets in different AZs of aws.network.vpcId")
    if network.private_subnet_ids and not network.vpc_id:
        problems.missing("aws.network.vpcId", "the VPC of aws.network.privateSubnetIds")
    sizes = _sizes(raw, environment, ephemeral, problems)
    public_endpoint = eks.public_endpoint if eks.public_endpoint is not None else not production
    if eks.public_access_cidrs and not public_endpoint:
        problems.not_allowed("aws.eks.publicAccessCidrs", eks.public_access_cidrs,
                             "empty while the API endpoint is private (set aws.eks.publicEndpoint: true)")
    cache = raw.elasticache
    return Aws(
        region=raw.region,
        vpc_id=network.vpc_id,
        private_subnet_ids=tuple(network.private_subnet_ids),
        cidr=network.cidr,
        availability_zones=network.availability_zones or (3 if production else 2),
        eks_version=eks.version,
        public_endpoint=public_endpoint,
        public_access_cidrs=tuple(eks.public_access_cidrs or (["0.0.0.0/0"] if public_endpoint else [])),
        sizes=sizes,
        db_engine_version=raw.rds.engine_version,
        db_multi_az=production,
        cache_engine=cache.engine.value,
        cache_engine_version=cache.engine_version or CACHE_ENGINE_VERSIONS[cache.engine.value],
        mwaa_airflow_version=raw.mwaa.airflow_version,
        sagemaker_mlflow_version=raw.sagemaker_mlflow.mlflow_version,
        key_deletion_days=KEY_DELETION_DAYS["ephemeral" if ephemeral else "kept"],
        secret_recovery_days=SECRET_RECOVERY_DAYS["ephemeral" if ephemeral else "kept"],
    )


def _sizes(raw: AwsConfig, environment: Environment, ephemeral: bool, problems: Problems) -> AwsSizes:
    eks, rds, cache = raw.eks, raw.rds, raw.elasticache
    default = AWS_SIZES[environment]
    sizes = AwsSizes(
        node_instance_types=tuple(eks.instance_types or default.node_instance_types),
        min_nodes=eks.min_nodes or default.min_nodes,
        desired_nodes=eks.desired_nodes or max(default.desired_nodes, eks.min_nodes or 0),
        max_nodes=eks.max_nodes or max(default.max_nodes, eks.desired_nodes or 0, eks.min_nodes or 0),
        db_instance_class=rds.instance_class or default.db_instance_class,
        db_storage=rds.allocated_storage or default.db_storage,
        db_max_storage=rds.max_allocated_storage or max(default.db_max_storage, rds.allocated_storage or 0),
        # An ephemeral stack keeps no automated backups: it is created and destroyed in minutes.
        db_backup_days=rds.backup_retention_days if rds.backup_retention_days is not None else (0 if ephemeral else default.db_backup_days),
        cache_node_type=cache.node_type or default.cache_node_type,
        cache_nodes=default.cache_nodes,
        mwaa_class=raw.mwaa.environment_class or default.mwaa_class,
        mwaa_max_workers=raw.mwaa.max_workers or default.mwaa_max_workers,
        sagemaker_size=raw.sagemaker_mlflow.tracking_server_size or default.sagemaker_size,
        cache_snapshot_days=default.cache_snapshot_days,
    )
    if not sizes.min_nodes <= sizes.desired_nodes <= sizes.max_nodes:
        problems.not_allowed("aws.eks", {"minNodes": sizes.min_nodes, "desiredNodes": sizes.desired_nodes, "maxNodes": sizes.max_nodes},
                             "minNodes <= desiredNodes <= maxNodes")
    if sizes.db_max_storage < sizes.db_storage:
        problems.not_allowed("aws.rds.maxAllocatedStorage", sizes.db_max_storage, f"at least aws.rds.allocatedStorage ({sizes.db_storage})")
    if environment is Environment.PRODUCTION and sizes.db_backup_days < 7:
        problems.not_allowed("aws.rds.backupRetentionDays", sizes.db_backup_days, "7 to 35 in production")
    return sizes
