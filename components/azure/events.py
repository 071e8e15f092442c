"""The lake's events on Azure: Event Grid on the storage account sends BlobCreated events under a prefix
of the lake container to a Service Bus queue, which Airflow's triggerer reads with its workload identity.

Service Bus accepts Entra ID only (local auth off): Event Grid delivers with its system topic's own
identity, which may only send to the queue; the pipelines' identity may only receive from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.identity import role_assignment_name, role_definition

SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
SERVICE_BUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
# The APIs that complete a blob: a plain upload, a block list, an ADLS flush, a copy. Event Grid also
# reports ADLS's CreateFile of an empty file, which holds no data yet.
COMPLETED_WRITES = ["PutBlob", "PutBlockList", "FlushWithClose", "CopyBlob"]


@dataclass(frozen=True)
class LakeEventQueueArgs:
    namespace_name: pulumi.Input[str]
    queue_name: str
    storage_account_id: pulumi.Input[str]
    container: pulumi.Input[str]  # the lake's
    prefix: str
    max_deliveries: int
    retention_days: int
    receiver_principal_id: pulumi.Input[str]  # the pipelines' identity
    subscription_id: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]


class LakeEventQueue(pulumi.ComponentResource):
    queue_name: pulumi.Output[str]
    fully_qualified_namespace: pulumi.Output[str]

    def __init__(self, name: str, args: LakeEventQueueArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:LakeEventQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        place = dict(resource_group_name=args.resource_group, location=args.location, tags=dict(args.tags))
        namespace = azure.servicebus.Namespace(
            f"{name}-namespace", namespace_name=args.namespace_name, sku=azure.servicebus.SBSkuArgs(name="Standard", tier="Standard"),
            disable_local_auth=True, minimum_tls_version="1.2", **place, opts=child,
        )
        queue = azure.servicebus.Queue(
            f"{name}-queue", queue_name=args.queue_name, namespace_name=namespace.name, resource_group_name=args.resource_group,
            max_delivery_count=args.max_deliveries, default_message_time_to_live=f"P{args.retention_days}D",
            dead_lettering_on_message_expiration=True, lock_duration="PT1M", opts=child,
        )
        topic = azure.eventgrid.SystemTopic(
            f"{name}-topic", system_topic_name=pulumi.Output.concat(args.namespace_name, "-lake"), source=args.storage_account_id,
            topic_type="Microsoft.Storage.StorageAccounts", identity=azure.eventgrid.IdentityInfoArgs(type="SystemAssigned"),
            **place, opts=child,
        )
        sender = self._grant(f"{name}-topic-sender", args, queue.id, topic.identity.apply(lambda i: i.principal_id), SERVICE_BUS_DATA_SENDER)
        self._grant(f"{name}-receiver", args, queue.id, args.receiver_principal_id, SERVICE_BUS_DATA_RECEIVER)
        subject = pulumi.Output.concat("/blobServices/default/containers/", args.container, "/blobs/", args.prefix)
        azure.eventgrid.SystemTopicEventSubscription(
            f"{name}-subscription", event_subscription_name="lake-blob-created", system_topic_name=topic.name,
            resource_group_name=args.resource_group, event_delivery_schema="EventGridSchema",
            filter=azure.eventgrid.EventSubscriptionFilterArgs(
                included_event_types=["Microsoft.Storage.BlobCreated"], subject_begins_with=subject,
                advanced_filters=[azure.eventgrid.StringInAdvancedFilterArgs(operator_type="StringIn", key="data.api", values=COMPLETED_WRITES)],
            ),
            delivery_with_resource_identity=azure.eventgrid.DeliveryWithResourceIdentityArgs(
                identity=azure.eventgrid.EventSubscriptionIdentityArgs(type="SystemAssigned"),
                destination=azure.eventgrid.ServiceBusQueueEventSubscriptionDestinationArgs(endpoint_type="ServiceBusQueue", resource_id=queue.id),
            ),
            retry_policy=azure.eventgrid.RetryPolicyArgs(max_delivery_attempts=30, event_time_to_live_in_minutes=1440),
            # Event Grid checks that it may send before it accepts the subscription.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sender]),
        )
        self.queue_name = queue.name
        self.fully_qualified_namespace = namespace.name.apply(lambda n: f"{n}.servicebus.windows.net")
        self.register_outputs({"queueName": self.queue_name, "fullyQualifiedNamespace": self.fully_qualified_namespace})

    def _grant(self, label: str, args: LakeEventQueueArgs, scope: pulumi.Input[str], principal: pulumi.Input[str],
               role_id: str) -> azure.authorization.RoleAssignment:
        return azure.authorization.RoleAssignment(
            label, role_assignment_name=role_assignment_name(scope, role_id, label), principal_id=principal,
            principal_type="ServicePrincipal", role_definition_id=role_definition(args.subscription_id, role_id), scope=scope,
            opts=pulumi.ResourceOptions(parent=self),
        )
