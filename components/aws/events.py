"""The lake's events on AWS: S3 event notifications for new objects under a prefix, sent to an encrypted
SQS queue with a dead-letter queue, which only the lake bucket may send to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.aws.iam import Statement
# The queue's long polling matches the watcher's: one request waits this long, so an idle queue costs little.
from mlops_jobs.lake_events import LONG_POLL_SECONDS

# What the pipelines' role may do with the queue: read, delete what it read, and extend a read's lease.
RECEIVE_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600  # the most SQS keeps a message


@dataclass(frozen=True)
class LakeEventQueueArgs:
    queue_name: pulumi.Input[str]
    bucket: pulumi.Input[str]  # the lake's name
    bucket_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: str
    prefix: str
    max_deliveries: int
    retention_days: int
    # What must exist before the notification: the bucket's settings (its policy and encryption).
    bucket_settings: tuple[pulumi.Resource, ...] = ()


class LakeEventQueue(pulumi.ComponentResource):
    url: pulumi.Output[str]
    arn: pulumi.Output[str]
    dead_letter_arn: pulumi.Output[str]

    def __init__(self, name: str, args: LakeEventQueueArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:aws:LakeEventQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Only the events queue may move messages here; its ARN is known from its name (it needs this queue first).
        source_arn = pulumi.Output.concat("arn:aws:sqs:", args.region, ":", args.account_id, ":", args.queue_name)
        dead_letters = aws.sqs.Queue(
            f"{name}-dead-letters", name=pulumi.Output.concat(args.queue_name, "-dead-letters"),
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS, sqs_managed_sse_enabled=True,
            redrive_allow_policy=source_arn.apply(lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})),
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-queue", name=args.queue_name,
            message_retention_seconds=args.retention_days * 24 * 3600,
            receive_wait_time_seconds=LONG_POLL_SECONDS,
            # Longer than a receive takes, so a message is not delivered twice while it is being handled.
            visibility_timeout_seconds=60,
            sqs_managed_sse_enabled=True,
            redrive_policy=dead_letters.arn.apply(lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": args.max_deliveries})),
            opts=child,
        )
        policy = aws.sqs.QueuePolicy(
            f"{name}-policy", queue_url=queue.url,
            policy=pulumi.Output.json_dumps(pulumi.Output.all(queue.arn, args.bucket_arn, args.account_id).apply(
                lambda a: _queue_policy(a[0], a[1], a[2]))),
            opts=child,
        )
        aws.s3.BucketNotification(
            f"{name}-notification", bucket=args.bucket,
            queues=[aws.s3.BucketNotificationQueueArgs(
                id="mlops-lake-events", queue_arn=queue.arn, events=["s3:ObjectCreated:*"], filter_prefix=args.prefix,
            )],
            # S3 sends a test message when the notification is set, and refuses it unless the queue admits the bucket.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *args.bucket_settings]),
        )
        self.url = queue.url
        self.arn = queue.arn
        self.dead_letter_arn = dead_letters.arn
        self.register_outputs({"url": self.url, "arn": self.arn, "deadLetterArn": self.dead_letter_arn})


def _queue_policy(queue_arn: str, bucket_arn: str, account_id: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LakeNotificationsOnly", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": bucket_arn}, "StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def receive_access(queue_arn: pulumi.Input[str]) -> pulumi.Output[Statement]:
    """The statement that lets a role read (and delete) the queue's messages."""
    return pulumi.Output.from_input(queue_arn).apply(lambda arn: {"Effect": "Allow", "Action": RECEIVE_ACTIONS, "Resource": arn})
