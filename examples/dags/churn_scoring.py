"""Batch and event prediction: the model version that carries the registry alias `champion` scores
customer activity, and the predictions land in the lake, partitioned by date and model version
(predictions/churn/date=<day>/model_version=<n>/).

Triggers:
- manual: the Airflow UI, `airflow dags trigger churn_scoring`, or POST /api/v2/dags/churn_scoring/dagRuns;
- scheduled: daily at 04:00 UTC, every customer's latest activity;
- event: new activity in the lake (`lake_watch`'s asset event), the files that arrived.
"""

import pendulum
from airflow.exceptions import AirflowSkipException
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, task

from churn import pipeline
from churn.assets import CHURN_PREDICTIONS, CUSTOMER_ACTIVITY

with DAG(
    dag_id="churn_scoring",
    description="Scores customer activity with the champion model; predictions to the lake",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 4 * * *", timezone="UTC"), assets=[CUSTOMER_ACTIVITY]
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "mlops-stack", "prediction"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=2)},
) as dag:

    @task(outlets=[CHURN_PREDICTIONS])
    def score(*, triggering_asset_events=None) -> dict:
        arrived = [key for events in (triggering_asset_events or {}).values() for event in events
                   for key in (event.extra or {}).get("arrived", [])]
        try:
            return pipeline.score(arrived or None)
        except pipeline.NoChampion as reason:
            raise AirflowSkipException(str(reason)) from None

    score()
