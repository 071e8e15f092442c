"""The lake's events as each backend renders them: the queue, what sends to it, who may read it, and the
pipeline config's keys that name it, the same on every backend."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from components.azure.events import SERVICE_BUS_DATA_RECEIVER, SERVICE_BUS_DATA_SENDER
from mlops_jobs import lake_events
from mlops_jobs import pipeline_names as names
from mlops_stack import offline
from tests import fixtures
from tests.conftest import recording_of, resolved

EVENT_KEYS = {names.EVENTS_KIND, names.EVENTS_QUEUE, names.EVENTS_PREFIX, names.EVENTS_CONN_ID, names.EVENTS_REGION}


def config_map(recording: offline.Recording) -> dict[str, str]:
    maps = [r for r in recording.by_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == names.CONFIG_NAME]
    return maps[0].inputs["data"]


@pytest.mark.parametrize("stack,kind", [("local", "redis"), ("staging", "sqs"), ("production-azure", "service-bus")])
def test_every_backend_publishes_its_queue_under_the_same_keys_and_connection(stack, kind):
    recording = recording_of(stack)
    public, complete = resolved(recording.result.public), resolved(recording.result.complete)
    assert EVENT_KEYS <= set(public.env) and public.env[names.EVENTS_KIND] == kind
    assert public.env[names.EVENTS_PREFIX] == "incoming/" and public.env[names.EVENTS_CONN_ID] == names.EVENTS_CONNECTION
    assert config_map(recording)[names.EVENTS_QUEUE] == public.env[names.EVENTS_QUEUE] != ""
    # The connection is in the Secret only (the Redis one holds the password).
    key = f"AIRFLOW_CONN_{names.EVENTS_CONNECTION.upper()}"
    assert key in complete.secret_env and key not in config_map(recording)
    assert lake_events.watcher_kwargs(public.env)["scheme"] == {"redis": "redis+pubsub", "sqs": "sqs", "service-bus": "azure+servicebus"}[kind]


def redis_clients(recording: offline.Recording) -> set[str]:
    """The apps of the platform namespace that Redis's NetworkPolicy admits."""
    policy = next(r for r in recording.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["name"] == "allow-redis")
    return {value for rule in policy.inputs["spec"]["ingress"] for peer in rule["from"]
            for expression in peer.get("podSelector", {}).get("matchExpressions", []) for value in expression["values"]}


def test_polling_leaves_no_queue_and_no_connection():
    config = fixtures.stack_config("local")
    config["mlops:services"] = {**config.get("mlops:services", {}), "events": {"queue": "polling"}}
    recording = offline.run("local", config)
    public, complete = resolved(recording.result.public), resolved(recording.result.complete)
    assert public.env[names.EVENTS_KIND] == "polling" and public.env[names.EVENTS_QUEUE] == public.env[names.EVENTS_CONN_ID] == ""
    assert f"AIRFLOW_CONN_{names.EVENTS_CONNECTION.upper()}" not in complete.secret_env
    assert lake_events.watcher_kwargs(public.env) is None
    assert "airflow" not in redis_clients(recording)


def test_the_ensemble_carries_events_on_its_redis_and_lets_the_triggerer_reach_it():
    recording = recording_of("local")
    complete = resolved(recording.result.complete)
    connection = urlsplit(complete.secret_env["AIRFLOW_CONN_MLOPS_EVENTS"])
    assert connection.scheme == "redis" and f"{connection.hostname}:{connection.port}" == (
        f"{complete.env[names.REDIS_HOST]}:{complete.env[names.REDIS_PORT]}")
    assert connection.password == complete.secret_env[names.REDIS_PASSWORD]
    assert "airflow" in redis_clients(recording)


def test_aws_sends_the_lakes_new_objects_to_an_encrypted_queue_that_only_the_lake_may_write_and_the_pipelines_read():
    recording = recording_of("staging")
    queue = recording.one("aws:sqs/queue:Queue", "lake-events-queue").inputs
    dead_letters = recording.one("aws:sqs/queue:Queue", "lake-events-dead-letters").inputs
    assert queue["sqsManagedSseEnabled"] and dead_letters["sqsManagedSseEnabled"]
    redrive = json.loads(queue["redrivePolicy"])
    assert redrive["maxReceiveCount"] == 5 and redrive["deadLetterTargetArn"].endswith(":" + dead_letters["name"])
    assert queue["receiveWaitTimeSeconds"] == 20 and queue["messageRetentionSeconds"] == 4 * 86400
    assert json.loads(dead_letters["redriveAllowPolicy"])["sourceQueueArns"] == [f"arn:aws:sqs:eu-west-1:{offline.MOCK_ACCOUNT}:{queue['name']}"]

    lake = recording.one("aws:s3/bucket:Bucket", "bucket-lake-bucket").inputs["bucket"]
    policy = json.loads(recording.one("aws:sqs/queuePolicy:QueuePolicy", "lake-events-policy").inputs["policy"])
    allow, deny = policy["Statement"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{lake}"}, "StringEquals": {"aws:SourceAccount": offline.MOCK_ACCOUNT}}
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    notification = recording.one("aws:s3/bucketNotification:BucketNotification", "lake-events-notification")
    assert notification.inputs["bucket"] == lake
    assert notification.inputs["queues"] == [{"id": "mlops-lake-events", "queueArn": allow["Resource"], "events": ["s3:ObjectCreated:*"],
                                              "filterPrefix": "incoming/"}]
    policy_urn = next(r.urn for r in recording.resources if r.name == "lake-events-policy")
    assert policy_urn in notification.dependencies

    # The pipelines' role (Airflow's components and task pods) may receive and delete, nothing more.
    statements = json.loads(recording.one("aws:iam/rolePolicy:RolePolicy", "airflow-identity-policy").inputs["policy"])["Statement"]
    on_queue = [s for s in statements if s["Resource"] == allow["Resource"]]
    assert len(on_queue) == 1 and "sqs:ReceiveMessage" in on_queue[0]["Action"] and "sqs:SendMessage" not in on_queue[0]["Action"]
    public = resolved(recording.result.public)
    assert public.env[names.EVENTS_QUEUE].endswith("/" + queue["name"]) and public.env[names.EVENTS_REGION] == "eu-west-1"


def test_azure_sends_blob_created_under_the_prefix_through_event_grid_to_a_service_bus_queue_with_entra_id_only():
    recording = recording_of("production-azure")
    namespace = recording.one("azure-native:servicebus:Namespace", "lake-events-namespace").inputs
    assert namespace["disableLocalAuth"] is True and namespace["minimumTlsVersion"] == "1.2"
    queue = recording.one("azure-native:servicebus:Queue", "lake-events-queue").inputs
    assert queue["maxDeliveryCount"] == 5 and queue["deadLetteringOnMessageExpiration"] and queue["defaultMessageTimeToLive"] == "P4D"

    account = recording.one("azure-native:storage:StorageAccount", "storage-account")
    topic = recording.one("azure-native:eventgrid:SystemTopic", "lake-events-topic").inputs
    assert topic["topicType"] == "Microsoft.Storage.StorageAccounts" and topic["identity"]["type"] == "SystemAssigned"
    assert topic["source"].endswith(f"/storageAccounts/{account.inputs['accountName']}")
    subscription = recording.one("azure-native:eventgrid:SystemTopicEventSubscription", "lake-events-subscription").inputs
    assert subscription["filter"]["includedEventTypes"] == ["Microsoft.Storage.BlobCreated"]
    assert subscription["filter"]["subjectBeginsWith"] == "/blobServices/default/containers/lake/blobs/incoming/"
    delivery = subscription["deliveryWithResourceIdentity"]
    assert delivery["identity"]["type"] == "SystemAssigned" and delivery["destination"]["endpointType"] == "ServiceBusQueue"
    queue_id = delivery["destination"]["resourceId"]
    assert queue_id.endswith(f"/namespaces/{namespace['namespaceName']}/queues/lake-events")

    grants = {r.name: r.inputs for r in recording.by_type("azure-native:authorization:RoleAssignment") if r.name.startswith("lake-events")}
    assert {g["roleDefinitionId"].rsplit("/", 1)[1] for g in grants.values()} == {SERVICE_BUS_DATA_SENDER, SERVICE_BUS_DATA_RECEIVER}
    assert all(g["scope"] == queue_id for g in grants.values())
    pipelines = recording.one("azure-native:managedidentity:UserAssignedIdentity", "airflow-identity-identity")
    receiver = next(g for g in grants.values() if g["roleDefinitionId"].endswith(SERVICE_BUS_DATA_RECEIVER))
    assert receiver["principalId"] != "" and receiver["principalId"] == resolved_principal(recording, pipelines.name)

    complete = resolved(recording.result.complete)
    connection = urlsplit(complete.secret_env["AIRFLOW_CONN_MLOPS_EVENTS"])
    assert connection.scheme == "azure-service-bus" and not connection.password  # the workload identity, no key
    assert parse_qs(connection.query)["fully_qualified_namespace"] == [f"{namespace['namespaceName']}.servicebus.windows.net"]


def resolved_principal(recording: offline.Recording, identity_name: str) -> str:
    """The principal ID the mock gives a user-assigned identity (as Azure would compute it)."""
    import hashlib

    name = recording.one("azure-native:managedidentity:UserAssignedIdentity", identity_name).inputs["resourceName"]
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{digest[20:28]}-0000-4000-8000-{digest[28:40]}"
