"""The AWS warehouse: Glue Data Catalog databases over the lake, queried through an Athena workgroup.

Two databases: the pipelines' (feature sources, Feast's uploads) and the published one, the only one
BI readers may read. Query results go to a bucket of their own, encrypted with the warehouse's key
and kept for the configured days; the workgroup enforces its settings, so no client can send results
elsewhere or unencrypted, and it stops any query that scans more than the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.iam import Statement, bucket_access
from components.aws.s3 import BucketArgs, PrivateBucket

RESULTS_PREFIX = "results/"  # the workgroup's query results
STAGING_PREFIX = "staging/"  # Feast's uploaded entity rows
TABLES_PREFIX = "warehouse/"  # of the lake: each database's tables under warehouse/<database>/
QUERY_ACTIONS = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution",
                 "athena:GetWorkGroup", "athena:ListQueryExecutions", "athena:GetQueryResultsStream"]
READ_CATALOG = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
                "glue:BatchGetPartition"]
WRITE_CATALOG = ["glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable", "glue:BatchDeleteTable", "glue:CreatePartition",
                 "glue:BatchCreatePartition", "glue:UpdatePartition", "glue:DeletePartition", "glue:BatchDeletePartition"]
KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


def glue_name(*parts: str) -> str:
    """A Glue database name: lowercase letters, digits and '_' (Athena refuses '-')."""
    return "_".join(parts).lower().replace("-", "_")


@dataclass(frozen=True)
class AthenaWarehouseArgs:
    workgroup_name: str
    database: str  # glue_name(...): the pipelines' database
    published_database: str  # the BI readers'
    region: str
    account_id: pulumi.Input[str]
    lake: pulumi.Input[str]  # the lake bucket's name: tables live under its warehouse/ prefix
    lake_arn: pulumi.Input[str]
    results_bucket: pulumi.Input[str]
    results_retention_days: int
    bytes_scanned_cutoff: int  # per query
    readers: tuple[str, ...]
    key_deletion_days: int
    force_destroy: bool  # ephemeral stacks only
    protect: bool


class AthenaWarehouse(pulumi.ComponentResource):
    workgroup: pulumi.Output[str]
    database: pulumi.Output[str]
    published_database: pulumi.Output[str]
    results_location: pulumi.Output[str]  # s3://<results>/results/
    staging_location: pulumi.Output[str]  # s3://<results>/staging/
    reader_roles: dict[str, pulumi.Output[str]]  # reader -> IAM role ARN

    def __init__(self, name: str, args: AthenaWarehouseArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:AthenaWarehouse", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        self._args = args
        key = aws.kms.Key(f"{name}-key", description=f"Athena results of {args.workgroup_name}", enable_key_rotation=True,
                          deletion_window_in_days=args.key_deletion_days, opts=kept)
        self.key_arn = key.arn
        results = PrivateBucket(f"{name}-results", BucketArgs(
            bucket=args.results_bucket, versioning=False, force_destroy=args.force_destroy, protect=args.protect,
            expirations={RESULTS_PREFIX: args.results_retention_days, STAGING_PREFIX: args.results_retention_days},
        ), opts=child)
        self.results_arn = results.arn
        databases = {}
        for role, database in (("database", args.database), ("published-database", args.published_database)):
            databases[role] = aws.glue.CatalogDatabase(
                f"{name}-{role}", name=database,
                location_uri=pulumi.Output.concat("s3://", args.lake, "/", TABLES_PREFIX, database, "/"),
                description="mlops-stack warehouse" + (": what BI readers may read" if role == "published-database" else ""),
                opts=kept,
            )
        self.results_location = pulumi.Output.concat("s3://", results.name, "/", RESULTS_PREFIX)
        self.staging_location = pulumi.Output.concat("s3://", results.name, "/", STAGING_PREFIX)
        workgroup = aws.athena.Workgroup(
            f"{name}-workgroup", name=args.workgroup_name, force_destroy=args.force_destroy, state="ENABLED",
            configuration=aws.athena.WorkgroupConfigurationArgs(
                enforce_workgroup_configuration=True,
                publish_cloudwatch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=args.bytes_scanned_cutoff,
                engine_version=aws.athena.WorkgroupConfigurationEngineVersionArgs(selected_engine_version="Athena engine version 3"),
                result_configuration=aws.athena.WorkgroupConfigurationResultConfigurationArgs(
                    output_location=self.results_location,
                    encryption_configuration=aws.athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                        encryption_option="SSE_KMS", kms_key_arn=key.arn,
                    ),
                ),
            ),
            opts=child,
        )
        self.workgroup = workgroup.name
        self.workgroup_arn = workgroup.arn
        self.database = databases["database"].name
        self.published_database = databases["published-database"].name
        self.reader_roles = {reader: self._reader_role(name, reader) for reader in args.readers}
        self.register_outputs({
            "workgroup": self.workgroup, "database": self.database, "publishedDatabase": self.published_database,
            "resultsLocation": self.results_location, "readerRoles": self.reader_roles,
        })

    def _catalog(self, databases: tuple[str, ...]) -> list[pulumi.Output[str]]:
        a = self._args
        base = pulumi.Output.concat("arn:aws:glue:", a.region, ":", a.account_id)
        arns = [pulumi.Output.concat(base, ":catalog")]
        for database in databases:
            arns += [pulumi.Output.concat(base, ":database/", database), pulumi.Output.concat(base, ":table/", database, "/*")]
        return arns

    def _statements(self, *, write: bool) -> list[pulumi.Input[Statement]]:
        a = self._args
        databases = (a.database, a.published_database) if write else (a.published_database,)
        catalog = pulumi.Output.all(*self._catalog(databases))
        actions = READ_CATALOG + (WRITE_CATALOG if write else [])
        statements: list[pulumi.Input[Statement]] = [
            self.workgroup_arn.apply(lambda arn: {"Effect": "Allow", "Action": QUERY_ACTIONS, "Resource": arn}),
            catalog.apply(lambda arns: {"Effect": "Allow", "Action": actions, "Resource": list(arns)}),
            self.key_arn.apply(lambda arn: {"Effect": "Allow", "Action": KEY_ACTIONS, "Resource": arn}),
            # Athena writes each query's results as the caller.
            *bucket_access(self.results_arn, RESULTS_PREFIX, write=True),
        ]
        if write:
            statements += [*bucket_access(self.results_arn, STAGING_PREFIX, write=True)]
        else:  # the published tables' files, and nothing else of the lake
            statements += bucket_access(a.lake_arn, f"{TABLES_PREFIX}{a.published_database}/", write=False)
        return statements

    def pipeline_statements(self) -> list[pulumi.Input[Statement]]:
        """What the pipelines' role may do: query in the workgroup, and make tables in both databases
        (their files are in the lake, which the role already writes)."""
        return self._statements(write=True)

    def _reader_role(self, name: str, reader: str) -> pulumi.Output[str]:
        """A BI reader's role: assumable by principals of this account that are allowed to assume it
        (a Tableau server's user or role), SELECT on the published database only."""
        trust = pulumi.Output.from_input(self._args.account_id).apply(lambda account: {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
        })
        role = aws.iam.Role(f"{name}-reader-{reader}", assume_role_policy=pulumi.Output.json_dumps(trust),
                            description=f"BI reader {reader}: SELECT on {self._args.published_database}",
                            opts=pulumi.ResourceOptions(parent=self))
        statements = self._statements(write=False)
        aws.iam.RolePolicy(f"{name}-reader-{reader}-policy", role=role.name,
                           policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
                           opts=pulumi.ResourceOptions(parent=self))
        return role.arn
