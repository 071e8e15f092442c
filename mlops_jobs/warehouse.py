"""The warehouse, as the pipeline config names it (MLOPS_WAREHOUSE_*), for pipelines that read and
write tables: the same calls wherever the warehouse runs.

    from mlops_jobs import warehouse

    if warehouse.configured():
        warehouse.write_table(frame, "customer_activity")                # the pipelines' schema
        warehouse.write_table(scores, "churn_predictions", published=True, replace=False)  # BI readers see it
        warehouse.read_sql("SELECT count(*) AS n FROM customer_activity")

Kinds built so far: postgres (SQLAlchemy with psycopg 3, the password from the pipeline config's Secret).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy

from mlops_jobs import pipeline_names as names

# Where pipelines keep their own tables (feature sources, Feast's uploads); BI readers see only the published schema.
WORK_SCHEMA = "public"


def configured() -> bool:
    return bool(os.environ.get(names.WAREHOUSE_KIND))


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: is a warehouse configured (mlops:warehouse), and the pipeline config in this pod's environment?")
    return value


def kind() -> str:
    given = _setting(names.WAREHOUSE_KIND)
    if given != "postgres":
        raise RuntimeError(f"{names.WAREHOUSE_KIND}={given!r}: mlops_jobs.warehouse reads and writes postgres only so far")
    return given


def published_schema() -> str:
    return _setting(names.WAREHOUSE_SCHEMA)


def engine() -> "sqlalchemy.Engine":
    import sqlalchemy

    kind()
    url = (f"postgresql+psycopg://{quote(_setting(names.WAREHOUSE_USER), safe='')}:{quote(_setting(names.WAREHOUSE_PASSWORD), safe='')}"
           f"@{_setting(names.WAREHOUSE_HOST)}:{_setting(names.WAREHOUSE_PORT)}/{quote(_setting(names.WAREHOUSE_DATABASE), safe='')}")
    return sqlalchemy.create_engine(url, connect_args={"sslmode": os.environ.get(names.WAREHOUSE_SSLMODE) or "prefer"}, pool_pre_ping=True)


def write_table(frame: "pd.DataFrame", table: str, *, published: bool = False, replace: bool = True) -> str:
    """Write a frame as a table (replacing it, or appending); returns its qualified name."""
    schema = published_schema() if published else WORK_SCHEMA
    with engine().begin() as connection:
        frame.to_sql(table, connection, schema=schema, if_exists="replace" if replace else "append", index=False)
    return f"{schema}.{table}"


def read_sql(query: str) -> "pd.DataFrame":
    import pandas as pd

    with engine().connect() as connection:
        return pd.read_sql_query(query, connection)
