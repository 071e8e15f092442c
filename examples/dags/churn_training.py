"""The example pipeline as an Airflow DAG: materialize features, train and register a churn model,
then write a drift report. Every endpoint comes from the pipeline config in the task's environment.

Triggers:
- manual: the Airflow UI, `airflow dags trigger churn_training`, or POST /api/v2/dags/churn_training/dagRuns;
- scheduled: daily at 03:00 UTC;
- event: new data in the lake. `lake_watch` moves files from incoming/churn/ of the lake bucket into
  the feature source and updates the asset below, which starts this DAG;
- event: drift. The monitoring job updates churn_drift when a variant of the churn endpoint gets
  traffic that drifted from the training data.
"""

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, task

from churn import pipeline
from churn.assets import CHURN_DRIFT, CUSTOMER_ACTIVITY

with DAG(
    dag_id="churn_training",
    description="Features → model → registry → drift report, from the pipeline config only",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * *", timezone="UTC"), assets=(CUSTOMER_ACTIVITY | CHURN_DRIFT)
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "mlops-stack"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=2)},
) as dag:

    @task
    def ensure_data() -> dict:
        return pipeline.ensure_data()

    @task
    def materialize_features() -> str:
        return pipeline.materialize()

    @task
    def train_and_register() -> dict:
        return pipeline.train_and_register()

    @task
    def drift_report() -> str:
        return pipeline.drift_report()

    ensure_data() >> materialize_features() >> train_and_register() >> drift_report()
