"""The warehouse as its clients see it (infra/warehouse_clients.py): the keys, Feast's offline store
as Feast's own RepoConfig loads it, the Airflow connection, and the stack output BI tools read."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pulumi
import pytest
import yaml

from infra import pipeline_config, warehouse_clients
from infra.contract import FeatureStoreSettings, WarehouseEndpoint, WarehouseLogin
from mlops_jobs import pipeline_names as names
from tests.conftest import is_secret
from tests.unit.test_pipeline_config import endpoints

WAREHOUSE = WarehouseEndpoint(
    kind="postgres", auth="password", host="postgres.mlops.svc.cluster.local", port=5432, database="warehouse",
    schema="published", sslmode="disable", user="warehouse", password="Owner/Pass:1",
    readers={"tableau": WarehouseLogin(user="tableau", password="Reader-2")},
)


def test_every_key_is_there_on_every_stack_and_empty_without_a_warehouse():
    without, with_one = warehouse_clients.env(None), warehouse_clients.env(WAREHOUSE)
    assert set(without) == set(with_one) and not any(without.values())
    assert with_one[names.WAREHOUSE_KIND] == "postgres" and with_one[names.WAREHOUSE_CONN_ID] == "mlops_warehouse"
    assert (with_one[names.WAREHOUSE_HOST], with_one[names.WAREHOUSE_PORT], with_one[names.WAREHOUSE_DATABASE]) == (
        "postgres.mlops.svc.cluster.local", "5432", "warehouse")
    # Documented, so the generated reference lists them (docs/reference/pipeline-config.md).
    assert set(with_one) <= {key.name for key in names.KEYS}
    assert warehouse_clients.secret_env(WAREHOUSE) == {names.WAREHOUSE_PASSWORD: "Owner/Pass:1"}
    assert warehouse_clients.secret_env(replace(WAREHOUSE, auth="iam", password=None)) == {}


def test_the_password_is_only_in_the_secret_half_of_the_pipeline_config():
    config = pipeline_config.render(replace(endpoints(), warehouse=WAREHOUSE, feature_store=FeatureStoreSettings("warehouse")))
    assert config.secret_env[names.WAREHOUSE_PASSWORD] == "Owner/Pass:1"
    public = "".join(config.env.values()) + "".join(config.files.values())
    assert "Owner/Pass:1" not in public and "Reader-2" not in public and "Reader-2" not in config.dotenv
    assert yaml.safe_load(config.files[names.PIPELINE_YAML])["warehouse"]["connection"] == "mlops_warehouse"


def test_feast_loads_the_generated_offline_store_with_its_own_repo_config(tmp_path, monkeypatch):
    from feast.repo_config import load_repo_config

    config = pipeline_config.render(replace(endpoints(), warehouse=WAREHOUSE, feature_store=FeatureStoreSettings("warehouse")))
    (tmp_path / "feature_store.yaml").write_text(config.files[names.FEATURE_STORE_YAML])
    for key, value in {**config.env, **config.secret_env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(names.postgres_key("feast", "USER"), "feast")
    loaded = load_repo_config(tmp_path, tmp_path / "feature_store.yaml")
    offline = loaded.offline_store
    assert (offline.type, offline.host, offline.port, offline.database, offline.user, offline.password, offline.sslmode) == (
        "postgres", "postgres.mlops.svc.cluster.local", 5432, "warehouse", "warehouse", "Owner/Pass:1", "disable")
    assert offline.db_schema == warehouse_clients.FEAST_WORK_SCHEMA


def test_a_kind_without_a_feast_store_or_connection_is_refused_by_name():
    redshift = replace(WAREHOUSE, kind="redshift")
    with pytest.raises(ValueError, match="warehouse kind 'redshift': no Feast offline store yet; allowed: postgres, athena"):
        warehouse_clients.feast_offline_store(redshift)
    with pytest.raises(ValueError, match="warehouse kind 'redshift': no Airflow connection yet; allowed: postgres, athena"):
        warehouse_clients.airflow_connection(redshift)


def test_the_airflow_connection_is_a_postgres_uri_with_the_owners_login_quoted():
    uri = urlsplit(pipeline_config.airflow_connections(replace(endpoints(), warehouse=WAREHOUSE))["mlops_warehouse"])
    assert (uri.scheme, uri.username, uri.hostname, uri.port, uri.path) == ("postgres", "warehouse", "postgres.mlops.svc.cluster.local", 5432, "/warehouse")
    assert uri.password == "Owner%2FPass%3A1" and parse_qs(uri.query) == {"sslmode": ["disable"]}
    assert "mlops_warehouse" not in pipeline_config.airflow_connections(endpoints())


@pytest.mark.parametrize("reader_password", [pulumi.Output.from_input("Reader-2"), pulumi.Output.secret("Reader-2")])
def test_the_stack_output_gives_bi_tools_what_they_connect_with_and_keeps_passwords_secret(reader_password):
    output = warehouse_clients.stack_output(replace(WAREHOUSE, readers={"tableau": WarehouseLogin("tableau", reader_password)}))
    assert {k: output[k] for k in ("kind", "host", "port", "database", "schema", "sslmode")} == {
        "kind": "postgres", "host": "postgres.mlops.svc.cluster.local", "port": 5432, "database": "warehouse",
        "schema": "published", "sslmode": "disable"}
    assert output["readers"]["tableau"]["user"] == "tableau" and is_secret(output["readers"]["tableau"]["password"])
    assert "password" not in {k for k in output if k != "readers"} and warehouse_clients.stack_output(None) is None


ATHENA = WarehouseEndpoint(
    kind="athena", auth="iam", host="athena.eu-west-1.amazonaws.com", port=443, database="mlops_production_warehouse",
    schema="mlops_production_warehouse_published", region="eu-west-1", workgroup="mlops-production",
    staging="s3://mlops-production-athena-results-1/staging/", results="s3://mlops-production-athena-results-1/results/",
    readers={"tableau": WarehouseLogin(user="arn:aws:iam::1:role/warehouse-reader-tableau")},
)


def test_feast_loads_the_generated_athena_offline_store_with_its_own_repo_config(tmp_path, monkeypatch):
    from feast.repo_config import load_repo_config

    config = pipeline_config.render(replace(endpoints(), warehouse=ATHENA, feature_store=FeatureStoreSettings("warehouse")))
    assert names.WAREHOUSE_PASSWORD not in config.secret_env  # the pod's IAM role signs in
    (tmp_path / "feature_store.yaml").write_text(config.files[names.FEATURE_STORE_YAML])
    for key, value in config.secret_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(names.postgres_key("feast", "USER"), "feast")
    offline = load_repo_config(tmp_path, tmp_path / "feature_store.yaml").offline_store
    assert (offline.type, offline.region, offline.database, offline.workgroup, offline.data_source, offline.s3_staging_location) == (
        "athena", "eu-west-1", "mlops_production_warehouse", "mlops-production", "AwsDataCatalog", "s3://mlops-production-athena-results-1/staging/")


def test_the_athena_connection_names_the_database_workgroup_and_region_and_holds_no_key():
    uri = urlsplit(pipeline_config.airflow_connections(replace(endpoints(), warehouse=ATHENA))["mlops_warehouse"])
    assert (uri.scheme, uri.username, uri.password, uri.path) == ("athena", None, None, "/mlops_production_warehouse")
    assert parse_qs(uri.query) == {"region_name": ["eu-west-1"], "work_group": ["mlops-production"]}
    output = warehouse_clients.stack_output(ATHENA)
    assert output["readers"] == {"tableau": {"user": "arn:aws:iam::1:role/warehouse-reader-tableau", "password": None}}
    assert (output["workgroup"], output["region"], output["resultsLocation"]) == (
        "mlops-production", "eu-west-1", "s3://mlops-production-athena-results-1/results/")
