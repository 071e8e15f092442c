"""The event trigger of the example: new objects under incoming/churn/ of the lake bucket (S3, SeaweedFS,
MinIO or the storage account's `lake` container) become an update of `churn_customer_activity`, which
starts `churn_training` and `churn_scoring`.

Where the pipeline config names a queue (MLOPS_EVENTS_KIND sqs, service-bus or redis), Airflow's
triggerer watches it and each message about the prefix starts this DAG at once; an hourly sweep
catches what a lost message would have started. With `polling`, a cheap listing runs every five
minutes instead. Either way the DAG lists the prefix itself: a message means "look now", so a
duplicated or lost message changes nothing but the delay.
"""

import pendulum
from airflow.exceptions import AirflowSkipException
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, task

from churn import pipeline
from churn.assets import CUSTOMER_ACTIVITY, LAKE_INCOMING

watched = bool(LAKE_INCOMING.watchers)
schedule = (AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"), assets=[LAKE_INCOMING])
            if watched else "*/5 * * * *")

with DAG(
    dag_id="lake_watch",
    description="Turns new objects under incoming/churn/ into an asset event for churn_training and churn_scoring",
    schedule=schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "mlops-stack", "trigger"],
) as dag:

    @task(outlets=[CUSTOMER_ACTIVITY])
    def ingest_new_objects(*, outlet_events) -> int:
        keys = pipeline.incoming_files()
        if not keys:
            raise AirflowSkipException("nothing new under incoming/churn/")
        rows, moved = pipeline.ingest_incoming(keys)
        # churn_scoring scores exactly these files when this event starts it.
        outlet_events[CUSTOMER_ACTIVITY].extra = {"arrived": moved}
        return rows

    ingest_new_objects()
