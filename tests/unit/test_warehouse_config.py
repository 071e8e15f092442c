"""mlops:warehouse, as config: the kind per backend, bound warehouses only with a secret reference,
and one line naming the key for every bad value. (Nothing renders from it yet: branch `warehouse`.)"""

from __future__ import annotations

import pytest

from infra import config
from infra.config import ConfigError
from infra.config.warehouse import WarehouseKind, WarehouseMode

AWS = {"backend": "aws", "owner": "ml-platform"}
AZURE = {"backend": "azure", "owner": "ml-platform", "azure": {"location": "westeurope"}}


@pytest.mark.parametrize("values, kind", [({}, WarehouseKind.POSTGRES), (AWS, WarehouseKind.ATHENA), (AZURE, WarehouseKind.AZURE_SQL)])
def test_each_backend_creates_its_own_kind_by_default(values, kind):
    warehouse = config.load("staging", {**values, "warehouse": {"enabled": True, "readers": ["tableau"]}}).warehouse
    assert (warehouse.kind, warehouse.mode, warehouse.readers, warehouse.published_schema) == (kind, WarehouseMode.CREATE, ("tableau",), "published")


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
]


@pytest.mark.parametrize("values, message", BAD, ids=[m.split(":", 2)[1] for _, m in BAD])
def test_bad_warehouse_config_gets_one_line_naming_the_key(values, message):
    with pytest.raises(ConfigError) as raised:
        config.load("staging", values)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bound_warehouse_with_its_secret_reference_is_accepted():
    warehouse = config.load("staging", {"warehouse": {"enabled": True, "mode": "existing", "existing": {
        "host": "dw.example.com", "database": "dw", "user": "mlops",
        "passwordSecret": {"store": "kubernetes-secret", "name": "dw-login", "key": "password"}}}}).warehouse
    assert warehouse.mode is WarehouseMode.EXISTING and warehouse.existing.password_secret.name == "dw-login"


def test_a_created_postgres_warehouse_is_a_database_of_the_platforms_postgresql():
    created = config.load("staging", {"warehouse": {"enabled": True}})
    assert "warehouse" in created.database_consumers
    bound = config.load("staging", {"warehouse": {"enabled": True, "mode": "existing", "existing": {"host": "dw.example.com", "database": "dw"}}})
    assert "warehouse" not in bound.database_consumers and "warehouse" not in config.load("staging", {}).database_consumers
