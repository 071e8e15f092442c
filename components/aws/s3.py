"""S3 buckets: public access blocked, encrypted, TLS only, owner-enforced; versioned in production.

A prefix may expire (its objects deleted after some days), and a prefix may be private: its objects are
readable only by roles that carry PRIVATE_READER_TAG, whatever else their policies allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class BucketArgs:
    bucket: pulumi.Input[str]
    versioning: bool
    force_destroy: bool  # only on ephemeral stacks
    protect: bool
    # Old versions of overwritten or deleted objects are removed after this many days.
    noncurrent_version_days: int = 30
    expirations: Mapping[str, int] = field(default_factory=dict)  # prefix -> days its objects are kept
    private_prefixes: tuple[str, ...] = ()  # readable only by roles tagged PRIVATE_READER_TAG


# The tag of a role that may read a bucket's private prefixes (the monitoring job's, for captured requests).
PRIVATE_READER_TAG = ("mlops-stack:private-reader", "true")


def _expiration(prefix: str, days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """Objects under the prefix deleted after `days`; on a versioned bucket, their old versions a day later."""
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=f"expire-{prefix.strip('/').replace('/', '-')}",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=1),
    )


def _policy(arn: str, private_prefixes: tuple[str, ...]) -> dict:
    statements = [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]
    if private_prefixes:
        key, value = PRIVATE_READER_TAG
        statements.append({
            "Sid": "PrivateReads", "Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [f"{arn}/{prefix}*" for prefix in private_prefixes],
            # A principal without the tag has no value to match: denied too.
            "Condition": {"StringNotEquals": {f"aws:PrincipalTag/{key}": value}},
        })
    return {"Version": "2012-10-17", "Statement": statements}

class PrivateBucket(pulumi.ComponentResource):
    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    # What must exist before a service may rely on the bucket's settings (MWAA checks them).
    settings: tuple[pulumi.Resource, ...]

    def __init__(self, name: str, args: BucketArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:PrivateBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket=args.bucket, force_destroy=args.force_destroy,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms",
                ),
                bucket_key_enabled=True,
            )],
            opts=child,
        )
        settings: list[pulumi.Resource] = [block, ownership, encryption]
        if args.versioning:
            settings.append(aws.s3.BucketVersioning(
                f"{name}-versioning", bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=child,
            ))
        settings.append(aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="old-versions-and-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=args.noncurrent_version_days,
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7,
                ),
            ), *(_expiration(prefix, days) for prefix, days in sorted(args.expirations.items()))],
            opts=child,
        ))
        policy = bucket.arn.apply(lambda arn: _policy(arn, tuple(args.private_prefixes)))
        # A bucket policy is refused while public access settings are in flux.
        settings.append(aws.s3.BucketPolicy(
            f"{name}-policy", bucket=bucket.id, policy=pulumi.Output.json_dumps(policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        ))
        self.name = bucket.bucket
        self.arn = bucket.arn
        self.settings = tuple(settings)
        self.register_outputs({"name": self.name, "arn": self.arn})
