"""The warehouse, where historical data lives: as a database of the platform's PostgreSQL (the
ensemble's, or RDS or Flexible Server), its BI readers, and its endpoint in PlatformEndpoints."""

from __future__ import annotations

from typing import Mapping, Optional

from components.kubernetes.postgres import WarehouseReaders
from infra.config import StackConfig
from infra.contract import Database, WarehouseEndpoint, WarehouseLogin
from mlops_jobs.pipeline_names import WAREHOUSE_CONSUMER


def platform_database_readers(cfg: StackConfig) -> Optional[WarehouseReaders]:
    """The readers the PostgreSQL setup Job creates, where the warehouse is one of its databases."""
    warehouse = cfg.warehouse
    if warehouse is None or not warehouse.in_platform_database:
        return None
    return WarehouseReaders(database=WAREHOUSE_CONSUMER, schema=warehouse.published_schema, readers=warehouse.readers)


def platform_database_warehouse(cfg: StackConfig, database: Database, readers: Mapping[str, WarehouseLogin]) -> Optional[WarehouseEndpoint]:
    """The warehouse database's endpoint: its owner's login for the pipelines, and the readers' logins."""
    warehouse = cfg.warehouse
    if warehouse is None or not warehouse.in_platform_database:
        return None
    owner = database.logins[WAREHOUSE_CONSUMER]
    return WarehouseEndpoint(
        kind=warehouse.kind.value, auth="password", host=database.host, port=database.port, database=owner.database,
        schema=warehouse.published_schema, sslmode=database.sslmode, user=owner.user, password=owner.password,
        readers=dict(readers),
    )
