"""The example DAGs as the DAG processor parses them on each backend, in the platform image: the watcher
on the lake's queue becomes the trigger of that queue's provider, from the rendered pipeline config
alone. (The queues themselves are exercised in test_applications.py: Redis and S3-to-SQS for real;
Service Bus has no server here, so its trigger is checked as built.)"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from tests.conftest import recording_of, resolved
from tests.integration.containers import docker_ready, platform_image

pytestmark = pytest.mark.integration

PARSE = textwrap.dedent("""
    import json
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    from churn.assets import LAKE_INCOMING
    bag = DagBag("/opt/mlops/examples/dags")
    print(json.dumps({
        "errors": {k: v.strip().splitlines()[-1] for k, v in bag.import_errors.items()},
        "dags": sorted(bag.dags),
        "lake_watch": type(bag.dags["lake_watch"].timetable).__name__,
        "triggers": [w.trigger.serialize()[0] for w in LAKE_INCOMING.watchers],
        "kwargs": [w.trigger.serialize()[1] for w in LAKE_INCOMING.watchers],
    }))
""")


TRIGGERS = {
    "local": "airflow.providers.redis.triggers.redis_await_message.AwaitMessageTrigger",
    "staging": "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger",
    "production-azure": "airflow.providers.microsoft.azure.triggers.message_bus.AzureServiceBusQueueTrigger",
}


@pytest.mark.parametrize("stack", sorted(TRIGGERS))
def test_the_dag_processor_builds_the_watcher_of_the_backends_queue_from_the_pipeline_config(stack, tmp_path):
    docker_ready(platform_image())
    env = dict(resolved(recording_of(stack).result.public).env)
    env.update(AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW_HOME=str("/tmp/airflow"), PYTHONPATH="/opt/mlops:/opt/mlops/examples/dags")
    args = [a for key, value in env.items() for a in ("-e", f"{key}={value}")]
    result = subprocess.run(["docker", "run", "--rm", "--network", "host", "--tmpfs", "/tmp", *args, platform_image(), "python", "-c", PARSE],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {} and {"lake_watch", "churn_training", "churn_scoring"} <= set(parsed["dags"])
    assert parsed["lake_watch"] == "AssetOrTimeSchedule"  # the queue's asset, and the hourly sweep
    assert parsed["triggers"] == [TRIGGERS[stack]]
    [kwargs] = parsed["kwargs"]
    queue = env["MLOPS_EVENTS_QUEUE"]
    assert queue in json.dumps(kwargs) and "mlops_events" in json.dumps(kwargs)
