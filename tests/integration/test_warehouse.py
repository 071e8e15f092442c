"""The ensemble's warehouse, for real: the local stack's rendered PostgreSQL setup Job creates the
warehouse database and the BI reader against a real server; the reader may SELECT from the published
schema and write nothing; and Feast, through the generated feature_store.yaml, reads the example's
historical features from the warehouse table the churn pipeline loads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml

from mlops_jobs import pipeline_names as names
from tests.conftest import config_of, recording_of
from tests.integration.conftest import running_postgres
from tests.integration.test_data_services import consumer_passwords, rendered_postgres_setup, run_setup

pytestmark = pytest.mark.integration
STACK = "local"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def warehouse_server(tmp_path_factory):
    """A PostgreSQL set up by the local stack's rendered setup Job; the server and every login's password."""
    work = tmp_path_factory.mktemp("warehouse")
    script, env_spec = rendered_postgres_setup(work)
    passwords = consumer_passwords(env_spec)
    with running_postgres() as server:
        for run in (1, 2):  # a replaced Job runs it again: nothing fails
            done = run_setup(script, env_spec, server, passwords)
            assert done.returncode == 0, (run, done.stderr)
        assert not any(p in done.stdout + done.stderr for p in passwords.values())
        yield server, passwords


def connect(server: dict, user: str, password: str, database: str = "warehouse") -> psycopg.Connection:
    return psycopg.connect(host=server["host"], port=server["port"], dbname=database, user=user, password=password,
                           autocommit=True, connect_timeout=5)


def test_the_setup_job_creates_the_warehouse_and_readers_that_select_the_published_schema_and_write_nothing(warehouse_server):
    server, passwords = warehouse_server
    warehouse = config_of(STACK).warehouse
    assert warehouse.readers == ("tableau",) and {"warehouse", "tableau"} <= set(passwords)
    with connect(server, "warehouse", passwords["warehouse"]) as owner:
        # Created after the grants: the default privileges cover tables made later.
        owner.execute("CREATE TABLE published.churn_scores (customer_id int, probability float)")
        owner.execute("INSERT INTO published.churn_scores VALUES (1, 0.4)")
        owner.execute("CREATE TABLE public.staging_area (x int)")
    with connect(server, "tableau", passwords["tableau"]) as reader:
        assert reader.execute("SELECT customer_id, probability FROM published.churn_scores").fetchall() == [(1, 0.4)]
        for statement in ("INSERT INTO published.churn_scores VALUES (2, 0.5)", "UPDATE published.churn_scores SET probability = 1",
                          "DELETE FROM published.churn_scores", "DROP TABLE published.churn_scores",
                          "CREATE TABLE published.mine (x int)", "CREATE TABLE public.mine (x int)",
                          "SELECT * FROM public.staging_area"):
            with pytest.raises(psycopg.Error):
                reader.execute(statement)
    # The platform's own databases stay closed to it.
    for database in ("feast", "mlflow", "airflow"):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(server, "tableau", passwords["tableau"], database).close()


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_feast_reads_the_examples_historical_features_from_the_warehouse(warehouse_server, tmp_path, monkeypatch):
    server, passwords = warehouse_server
    recording = recording_of(STACK)
    config = recording.one("kubernetes:core/v1:ConfigMap", "pipeline-config-configmap").inputs["data"]
    # A pipeline pod's environment: the ConfigMap's keys, the Secret's passwords, the server on loopback.
    for key, value in config.items():
        if key.startswith("MLOPS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv(names.WAREHOUSE_HOST, server["host"])
    monkeypatch.setenv(names.WAREHOUSE_PORT, str(server["port"]))
    monkeypatch.setenv(names.WAREHOUSE_PASSWORD, passwords["warehouse"])
    monkeypatch.setenv(names.postgres_key("feast", "USER"), "feast")
    monkeypatch.setenv(names.postgres_key("feast", "PASSWORD"), passwords["feast"])
    monkeypatch.setenv(names.REDIS_PASSWORD, "unused-here")
    document = yaml.safe_load(config[names.FEATURE_STORE_YAML])
    cluster_address = f"{config[names.POSTGRES_HOST]}:{config[names.POSTGRES_PORT]}"
    document["registry"]["path"] = document["registry"]["path"].replace(cluster_address, f"{server['host']}:{server['port']}")
    # The offline store is where MLOPS_WAREHOUSE_HOST and _PORT say (set above to the server on loopback).
    assert (document["offline_store"]["host"], document["offline_store"]["port"]) == ("${MLOPS_WAREHOUSE_HOST}", "${MLOPS_WAREHOUSE_PORT}")
    (tmp_path / "feature_store.yaml").write_text(yaml.safe_dump(document))

    # The churn pipeline's own code loads the activity into the warehouse.
    monkeypatch.syspath_prepend(str(EXAMPLES / "dags"))
    sys.modules.pop("churn.pipeline", None)
    from churn import pipeline
    from mlops_jobs import warehouse

    activity, labels = pipeline.synthetic_activity(customers=50)
    assert warehouse.write_table(activity, pipeline.ACTIVITY_TABLE) == "public.customer_activity"
    features = _module(EXAMPLES / "feature_repo" / "churn_features.py", "churn_features_under_test")
    assert features.ACTIVITY_TABLE == pipeline.ACTIVITY_TABLE
    assert type(features.customer_activity_source).__name__ == "PostgreSQLSource"

    from feast import FeatureStore

    store = FeatureStore(repo_path=str(tmp_path), fs_yaml_file=tmp_path / "feature_store.yaml")
    assert store.config.offline_store.type == "postgres"
    store.apply([features.customer, features.customer_activity_source, features.customer_activity, features.churn_model])
    historical = store.get_historical_features(entity_df=labels, features=store.get_feature_service("churn_model")).to_df()
    got = historical.sort_values("customer_id").reset_index(drop=True)
    want = activity.sort_values("customer_id").reset_index(drop=True)
    assert len(got) == 50
    pd.testing.assert_series_equal(got["tenure_months"].astype("int64"), want["tenure_months"].astype("int64"), check_names=False)
    pd.testing.assert_series_equal(got["monthly_charges"].astype(float), want["monthly_charges"].astype(float), check_names=False)

    # Scores the pipeline publishes are what the BI reader sees.
    published = pd.DataFrame({"customer_id": [1, 2], "churn_probability": [0.1, 0.9]})
    assert warehouse.write_table(published, pipeline.PREDICTIONS_TABLE, published=True, replace=False) == "published.churn_predictions"
    with connect(server, "tableau", passwords["tableau"]) as reader:
        assert reader.execute("SELECT count(*) FROM published.churn_predictions").fetchone() == (2,)
        with pytest.raises(psycopg.Error, match="permission denied"):
            reader.execute("SELECT count(*) FROM public.customer_activity")
