"""mlops:warehouse, as config: the kind per backend, bound warehouses only with a secret reference,
what is not built yet refused by name, Feast's offline store on it, and one line naming the key for
every bad value."""

from __future__ import annotations

import pytest

from infra import config
from infra.config import ConfigError, OfflineStore
from infra.config.warehouse import WarehouseKind, WarehouseMode

AWS = {"backend": "aws", "owner": "ml-platform"}
AZURE = {"backend": "azure", "owner": "ml-platform", "azure": {"location": "westeurope"}}


def test_the_ensemble_creates_a_postgres_warehouse_by_default():
    warehouse = config.load("staging", {"warehouse": {"enabled": True, "readers": ["tableau"]}}).warehouse
    assert (warehouse.kind, warehouse.mode, warehouse.readers, warehouse.published_schema) == (
        WarehouseKind.POSTGRES, WarehouseMode.CREATE, ("tableau",), "published")


def test_aws_creates_athena_by_default_with_the_environments_results_retention():
    staging = config.load("staging", {**AWS, "warehouse": {"enabled": True}}).warehouse
    assert (staging.kind, staging.results_retention_days, staging.bytes_scanned_cutoff) == (WarehouseKind.ATHENA, 7, 100 * 1024**3)
    production = config.load("production", {**AWS, "warehouse": {"enabled": True, "athena": {"bytesScannedCutoffGb": 5}}}).warehouse
    assert (production.results_retention_days, production.bytes_scanned_cutoff) == (30, 5 * 1024**3)


def test_azures_default_kind_is_refused_by_name_until_it_is_built():
    with pytest.raises(ConfigError) as raised:
        config.load("staging", {**AZURE, "warehouse": {"enabled": True}})
    assert str(raised.value) == ("mlops:warehouse: 'kind azure-sql with mode create' is not allowed; "
                                 "allowed: kind postgres with mode create or kind athena with mode create (the others are not built yet)")
    # kind: postgres is built on the clouds too: a database of RDS or Flexible Server.
    chosen = config.load("staging", {**AZURE, "warehouse": {"enabled": True, "kind": "postgres"}})
    assert chosen.warehouse.in_platform_database and "warehouse" in chosen.database_consumers


def test_no_warehouse_unless_enabled():
    assert config.load("staging", {}).warehouse is None


BAD = [
    ({"warehouse": {"enabled": True, "kind": "athena"}}, "mlops:warehouse.kind: 'athena' is not allowed; allowed: postgres with backend 'ensemble'"),
    ({"warehouse": {"enabled": True, "kind": "bigquery"}}, "mlops:warehouse.kind: 'bigquery' is not allowed"),
    ({"warehouse": {"enabled": True, "readers": ["Tableau"]}}, "mlops:warehouse.readers.0: 'Tableau' is not allowed; allowed: a SQL name"),
    ({"warehouse": {"enabled": True, "readers": ["tableau", "tableau"]}}, "mlops:warehouse.readers: [\"tableau\"] is not allowed; allowed: names that differ"),
    ({"warehouse": {"enabled": True, "readers": ["feast"]}}, "mlops:warehouse.readers: [\"feast\"] is not allowed; allowed: names other than the platform's logins"),
    ({"warehouse": {"enabled": True, "mode": "existing"}}, "mlops:warehouse.existing: not set"),
    ({"warehouse": {"enabled": True, "mode": "existing", "existing": {"host": "db.example.com", "database": "dw", "user": "mlops"}}},
     "mlops:warehouse.existing.passwordSecret: not set; allowed: a secret reference"),
    ({"warehouse": {"enabled": True, "mode": "existing", "existing": {"host": "db.example.com", "database": "dw", "user": "mlops",
                                                                      "passwordSecret": {"store": "key-vault", "name": "dw"}}}},
     "mlops:warehouse.existing.passwordSecret.store: 'key-vault' is not allowed; allowed: kubernetes-secret with backend 'ensemble'"),
    ({"warehouse": {"enabled": True, "mode": "existing", "existing": {"host": "db.example.com", "database": "dw", "user": "mlops",
                                                                      "passwordSecret": {"store": "kubernetes-secret", "name": "dw"}}}},
     "mlops:warehouse.existing.passwordSecret.key: not set"),
    ({"warehouse": {"enabled": True, "existing": {"database": "dw"}}}, "mlops:warehouse.existing: 'set' is not allowed; allowed: existing only with mode: existing"),
    ({**AWS, "warehouse": {"enabled": True, "athena": {"bytesScannedCutoffGb": 0}}}, "mlops:warehouse.athena.bytesScannedCutoffGb: 0 is not allowed"),
    ({**AWS, "warehouse": {"enabled": True, "athena": {"resultsRetentionDays": "forever"}}}, "mlops:warehouse.athena.resultsRetentionDays: 'forever' is not allowed"),
]


@pytest.mark.parametrize("values, message", BAD, ids=[m.split(":", 2)[1] for _, m in BAD])
def test_bad_warehouse_config_gets_one_line_naming_the_key(values, message):
    with pytest.raises(ConfigError) as raised:
        config.load("staging", values)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bound_warehouse_with_its_secret_reference_passes_every_check_but_is_not_built_yet():
    with pytest.raises(ConfigError) as raised:
        config.load("staging", {"warehouse": {"enabled": True, "mode": "existing", "existing": {
            "host": "dw.example.com", "database": "dw", "user": "mlops",
            "passwordSecret": {"store": "kubernetes-secret", "name": "dw-login", "key": "password"}}}})
    assert str(raised.value).startswith("mlops:warehouse: 'kind postgres with mode existing' is not allowed")


def test_a_created_postgres_warehouse_is_a_database_of_the_platforms_postgresql():
    created = config.load("staging", {"warehouse": {"enabled": True}})
    assert "warehouse" in created.database_consumers
    assert "warehouse" not in config.load("staging", {}).database_consumers


def test_feast_reads_from_the_warehouse_unless_told_otherwise():
    assert config.load("staging", {"warehouse": {"enabled": True}}).feast.offline_store is OfflineStore.WAREHOUSE
    assert config.load("staging", {}).feast.offline_store is OfflineStore.FILE
    told = config.load("staging", {"warehouse": {"enabled": True}, "services": {"feast": {"offlineStore": "file"}}})
    assert told.feast.offline_store is OfflineStore.FILE
    with pytest.raises(ConfigError) as raised:
        config.load("staging", {"services": {"feast": {"offlineStore": "warehouse"}}})
    assert str(raised.value) == ("mlops:services.feast.offlineStore: 'warehouse' is not allowed; "
                                 "allowed: file or postgres (warehouse needs mlops:warehouse.enabled)")
