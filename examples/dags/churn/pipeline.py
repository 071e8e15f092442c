"""The example pipeline's steps, as plain functions. Every endpoint comes from the pipeline config in
the environment (MLFLOW_TRACKING_URI, MLOPS_FEATURE_STORE_YAML, MLOPS_BUCKET_*, MLOPS_EVIDENTLY_*, and
AWS_* or AZURE_STORAGE_*), and nothing else: the same code runs in an Airflow task pod, in
`airflow dags test`, or on a laptop after `set -a; . ./pipeline.env`. The lake is read and written
through `mlops_jobs.buckets`, so the steps run unchanged on SeaweedFS, MinIO, S3 and Azure Blob.
Where the stack has a warehouse (MLOPS_WAREHOUSE_*), the activity is loaded there too, as the feature
repository's source, and each scoring run's predictions are published there for BI tools.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import numpy as np
import pandas as pd

from mlops_jobs import warehouse
from mlops_jobs.pipeline_names import PREDICTION_COLUMN

ACTIVITY_KEY = "example/churn/customer_activity.parquet"
LABELS_KEY = "example/churn/labels.parquet"
REFERENCE_KEY = "example/churn/reference.parquet"
CURRENT_KEY = "example/churn/current.parquet"
INCOMING_PREFIX = "incoming/churn/"
PROCESSED_PREFIX = "processed/"
PREDICTIONS_PREFIX = "predictions/churn/"
# In the warehouse: the feature source (the feature repository's ACTIVITY_TABLE), and the published predictions.
ACTIVITY_TABLE = "customer_activity"
PREDICTIONS_TABLE = "churn_predictions"
FEATURES = ["tenure_months", "monthly_charges", "support_calls"]
MODEL_NAME = "churn"
# The registry alias of the version that scores: training moves it only to a better model.
CHAMPION = "champion"
EXPERIMENT = "churn"
EVIDENTLY_PROJECT = "churn"
ENDPOINT = "churn"  # the model endpoint that serves it (serving.endpoints in the stack file)


def lake():
    from mlops_jobs.buckets import bucket

    return bucket("lake")


def lake_url(key: str) -> str:
    return lake().url_of(key)


def read_lake(key: str) -> pd.DataFrame:
    return lake().read_parquet(key)


def write_lake(frame: pd.DataFrame, key: str) -> str:
    return lake().write_parquet(frame, key)


def write_activity(frame: pd.DataFrame) -> str:
    """The feature source: Parquet in the lake, and the warehouse's table where there is one."""
    if warehouse.configured():
        warehouse.write_table(frame, ACTIVITY_TABLE)
    return write_lake(frame, ACTIVITY_KEY)


def lake_has(key: str) -> bool:
    return lake().exists(key)


def incoming_files() -> list[str]:
    """Parquet files that arrived under incoming/churn/, oldest name first."""
    return [key for key in lake().keys(INCOMING_PREFIX) if key.endswith(".parquet")]


def synthetic_activity(customers: int = 400, seed: int = 7, now: dt.datetime | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer activity and churn labels with a real signal: short tenure, high charges and many
    support calls make churn likely."""
    now = now or dt.datetime.now(dt.timezone.utc)
    rng = np.random.default_rng(seed)
    ids = np.arange(1, customers + 1)
    tenure = rng.integers(1, 72, customers)
    charges = rng.normal(70, 20, customers).clip(15, 150).round(2)
    calls = rng.poisson(2, customers)
    score = -0.06 * tenure + 0.03 * charges + 0.5 * calls - 2.0
    churned = (rng.random(customers) < 1 / (1 + np.exp(-score))).astype(int)
    observed = now - dt.timedelta(hours=2)
    activity = pd.DataFrame({
        "customer_id": ids,
        "tenure_months": tenure,
        "monthly_charges": charges,
        "support_calls": calls,
        "event_timestamp": pd.Timestamp(observed),
        "created": pd.Timestamp(observed),
    })
    labels = pd.DataFrame({"customer_id": ids, "churned": churned, "event_timestamp": pd.Timestamp(now - dt.timedelta(hours=1))})
    return activity, labels


def ensure_data() -> dict[str, str]:
    """Seed the lake with the example's data the first time; real data replaces it through incoming/."""
    if not (lake_has(ACTIVITY_KEY) and lake_has(LABELS_KEY)):
        activity, labels = synthetic_activity()
        write_activity(activity)
        write_lake(labels, LABELS_KEY)
    elif warehouse.configured() and not _warehouse_has_activity():
        write_activity(read_lake(ACTIVITY_KEY))  # a warehouse added to a stack whose lake has the data
    seeded = {"activity": lake_url(ACTIVITY_KEY), "labels": lake_url(LABELS_KEY)}
    if warehouse.configured():
        seeded["warehouse"] = f"{warehouse.work_schema()}.{ACTIVITY_TABLE}"
    return seeded


def _warehouse_has_activity() -> bool:
    return warehouse.has_table(ACTIVITY_TABLE)


def feature_store():
    from feast import FeatureStore

    return FeatureStore(fs_yaml_file=_feature_store_yaml())


def _feature_store_yaml():
    from pathlib import Path

    return Path(os.environ["MLOPS_FEATURE_STORE_YAML"])


def materialize() -> str:
    """Load the latest feature values into the online store (Redis)."""
    end = dt.datetime.now(dt.timezone.utc)
    feature_store().materialize_incremental(end_date=end)
    return end.isoformat()


def training_frame() -> pd.DataFrame:
    """Point-in-time correct features for every labelled customer, from the offline store."""
    store = feature_store()
    labels = read_lake(LABELS_KEY)
    return store.get_historical_features(entity_df=labels, features=store.get_feature_service("churn_model")).to_df()


def train_and_register() -> dict[str, Any]:
    """Train a classifier, log it to MLflow with its metrics, and register a model version. The version
    becomes the champion only if it beats the current champion on the same held-out rows."""
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = training_frame().dropna(subset=FEATURES)
    x, y = frame[FEATURES].astype(float), frame["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x_train, y_train)
    auc = _auc(model, x_test, y_test)

    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name="churn-training") as run:
        mlflow.log_params({"model": "logistic_regression", "rows": len(frame), "features": ",".join(FEATURES)})
        mlflow.log_metric("roc_auc", auc)
        info = mlflow.sklearn.log_model(model, name="model", input_example=x_test.head(3), registered_model_name=MODEL_NAME)
        champion_auc = _champion_auc(x_test, y_test)
        promoted = champion_auc is None or auc > champion_auc
        if champion_auc is not None:
            mlflow.log_metric("champion_roc_auc", champion_auc)
        mlflow.set_tag("champion", str(promoted).lower())
    version = str(info.registered_model_version)
    if promoted:
        mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    # The training features, with the model's predictions, become the monitoring reference (what each
    # variant's captured traffic is compared with); the held-out rows the first "current" data.
    reference = x_train.reset_index(drop=True).assign(**{PREDICTION_COLUMN: model.predict(x_train)})
    write_lake(reference, REFERENCE_KEY)
    write_lake(x_test.reset_index(drop=True), CURRENT_KEY)
    return {"run_id": run.info.run_id, "model_uri": info.model_uri, "version": version, "roc_auc": auc,
            "champion_roc_auc": champion_auc, "champion": promoted}


def _auc(model: Any, x: pd.DataFrame, y: pd.Series) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, model.predict_proba(x)[:, 1]))


def _champion_auc(x: pd.DataFrame, y: pd.Series) -> float | None:
    """The current champion's score on the new held-out rows; None while there is no champion."""
    import mlflow

    champion = champion_version()
    if champion is None:
        return None
    return _auc(mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{champion}"), x, y)


class NoChampion(RuntimeError):
    """No model version carries the champion alias yet: nothing may score."""


def champion_version() -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def score(keys: list[str] | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Churn probabilities from the champion: for the activity files `keys` (an event), or for every
    customer's latest activity (the schedule). Written to predictions/churn/date=<day>/model_version=<n>/."""
    import mlflow

    version = champion_version()
    if version is None:
        raise NoChampion(f"no version of model {MODEL_NAME!r} carries the alias {CHAMPION!r}: run churn_training first")
    model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")
    if keys:
        activity = pd.concat([read_lake(key) for key in keys], ignore_index=True)
    else:
        activity = read_lake(ACTIVITY_KEY)
    latest = activity.sort_values("event_timestamp").drop_duplicates("customer_id", keep="last").dropna(subset=FEATURES)
    now = now or dt.datetime.now(dt.timezone.utc)
    probability = model.predict_proba(latest[FEATURES].astype(float))[:, 1]
    predictions = pd.DataFrame({
        "customer_id": latest["customer_id"].to_numpy(),
        "churn_probability": probability.round(6),
        "churn_predicted": (probability >= 0.5).astype(int),
        "model_version": version,
        "scored_at": pd.Timestamp(now),
    })
    key = f"{PREDICTIONS_PREFIX}date={now:%Y-%m-%d}/model_version={version}/{now:%H%M%S%f}.parquet"
    write_lake(predictions, key)
    scored = {"key": key, "url": lake_url(key), "rows": len(predictions), "model_version": version, "scored": "arrived" if keys else "all"}
    if warehouse.configured():  # where analysts read them (the warehouse's BI readers)
        scored["published"] = warehouse.write_table(predictions, PREDICTIONS_TABLE, published=True, replace=False)
    return scored


def drift_report() -> str:
    """An Evidently drift snapshot of current against reference data, in the Evidently UI's workspace."""
    from mlops_jobs.monitor import drift_snapshot, workspace

    return drift_snapshot(read_lake(REFERENCE_KEY), read_lake(CURRENT_KEY), workspace(), EVIDENTLY_PROJECT, tags=["training"]).snapshot


def ingest_incoming(keys: list[str]) -> tuple[int, list[str]]:
    """Append newly arrived activity files to the feature source, and move them out of incoming/.
    Returns the feature source's rows and where the files went (processed/...)."""
    if not keys:
        return 0, []
    arrived = [read_lake(key) for key in keys]
    current = read_lake(ACTIVITY_KEY) if lake_has(ACTIVITY_KEY) else None
    combined = pd.concat([f for f in [current, *arrived] if f is not None], ignore_index=True)
    write_activity(combined)
    moved = [PROCESSED_PREFIX + key.removeprefix("incoming/") for key in keys]
    for key, new_key in zip(keys, moved):
        lake().move(key, new_key)
    return len(combined), moved
