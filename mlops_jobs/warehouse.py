"""The warehouse, as the pipeline config names it (MLOPS_WAREHOUSE_*), for pipelines that read and
write tables: the same calls wherever the warehouse runs.

    from mlops_jobs import warehouse

    if warehouse.configured():
        warehouse.write_table(frame, "customer_activity")                # the pipelines' schema
        warehouse.write_table(scores, "churn_predictions", published=True, replace=False)  # BI readers see it
        warehouse.read_sql("SELECT count(*) AS n FROM customer_activity")

- `postgres`: SQLAlchemy with psycopg 3, the password from the pipeline config's Secret.
- `athena`: a table is Parquet files in the lake under warehouse/<database>/<table>/ and its entry in
  the Glue Data Catalog; queries run in the stack's workgroup (PyAthena). The pod's IAM role signs in.
"""

from __future__ import annotations

import io
import os
import uuid
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy

from mlops_jobs import pipeline_names as names

KINDS = ("postgres", "athena")
# postgres: where pipelines keep their own tables (feature sources, Feast's uploads); BI readers see only the published schema.
WORK_SCHEMA = "public"
TABLES_PREFIX = "warehouse/"  # athena: in the lake, warehouse/<database>/<table>/ (components/aws/athena.py)
_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


def configured() -> bool:
    return bool(os.environ.get(names.WAREHOUSE_KIND))


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: is a warehouse configured (mlops:warehouse), and the pipeline config in this pod's environment?")
    return value


def kind() -> str:
    given = _setting(names.WAREHOUSE_KIND)
    if given not in KINDS:
        raise RuntimeError(f"{names.WAREHOUSE_KIND}={given!r}: mlops_jobs.warehouse reads and writes {', '.join(KINDS)}")
    return given


def work_schema() -> str:
    """Where write_table puts the pipelines' tables: `public` on postgres, the pipelines' Glue database on athena."""
    return _setting(names.WAREHOUSE_DATABASE) if kind() == "athena" else WORK_SCHEMA


def published_schema() -> str:
    return _setting(names.WAREHOUSE_SCHEMA)


def engine() -> "sqlalchemy.Engine":
    """postgres: an engine signed in as the pipelines' login."""
    import sqlalchemy

    if kind() != "postgres":
        raise RuntimeError(f"{names.WAREHOUSE_KIND}={kind()!r}: an SQLAlchemy engine is for postgres; use read_sql")
    url = (f"postgresql+psycopg://{quote(_setting(names.WAREHOUSE_USER), safe='')}:{quote(_setting(names.WAREHOUSE_PASSWORD), safe='')}"
           f"@{_setting(names.WAREHOUSE_HOST)}:{_setting(names.WAREHOUSE_PORT)}/{quote(_setting(names.WAREHOUSE_DATABASE), safe='')}")
    return sqlalchemy.create_engine(url, connect_args={"sslmode": os.environ.get(names.WAREHOUSE_SSLMODE) or "prefer"}, pool_pre_ping=True)


def write_table(frame: "pd.DataFrame", table: str, *, published: bool = False, replace: bool = True) -> str:
    """Write a frame as a table (replacing it, or appending); returns its qualified name."""
    schema = published_schema() if published else work_schema()
    if kind() == "athena":
        _write_lake_table(frame, schema, table, replace)
    else:
        with engine().begin() as connection:
            frame.to_sql(table, connection, schema=schema, if_exists="replace" if replace else "append", index=False)
    return f"{schema}.{table}"


def has_table(table: str) -> bool:
    """Whether the pipelines' schema has the table."""
    if kind() == "athena":
        glue = _glue()
        try:
            glue.get_table(DatabaseName=work_schema(), Name=table)
            return True
        except glue.exceptions.EntityNotFoundException:
            return False
    import sqlalchemy

    return sqlalchemy.inspect(engine()).has_table(table, schema=WORK_SCHEMA)


def read_sql(query: str) -> "pd.DataFrame":
    import pandas as pd

    if kind() == "athena":
        from pyathena import connect

        cursor = connect(region_name=_setting(names.WAREHOUSE_REGION), work_group=_setting(names.WAREHOUSE_WORKGROUP),
                         schema_name=work_schema()).cursor()
        cursor.execute(query)
        return pd.DataFrame(cursor.fetchall(), columns=[column[0] for column in cursor.description])
    with engine().connect() as connection:
        return pd.read_sql_query(query, connection)


def _glue():
    import boto3

    return boto3.client("glue", region_name=_setting(names.WAREHOUSE_REGION))


def athena_type(dtype) -> str:
    """The Athena (Hive) column type of a pandas dtype."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "string"


def _write_lake_table(frame: "pd.DataFrame", database: str, table: str, replace: bool) -> None:
    from mlops_jobs.buckets import bucket

    lake = bucket("lake")
    prefix = f"{TABLES_PREFIX}{database}/{table}/"
    stale = lake.keys(prefix) if replace else []
    body = io.BytesIO()
    # Microseconds: Athena reads no nanosecond timestamps.
    frame.to_parquet(body, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    written = f"{prefix}{uuid.uuid4().hex}.parquet"
    lake.write_bytes(written, body.getvalue())
    for key in stale:  # after the new file is there: a reader sees old rows or new, never none
        lake.fs.rm(f"{lake.name}/{key}")
    glue = _glue()
    entry = {
        "Name": table, "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "StorageDescriptor": {"Columns": [{"Name": str(c), "Type": athena_type(t)} for c, t in frame.dtypes.items()],
                              "Location": f"s3://{lake.name}/{prefix}", **_PARQUET},
    }
    try:
        glue.update_table(DatabaseName=database, TableInput=entry)
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=entry)
