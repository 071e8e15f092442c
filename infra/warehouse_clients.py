"""The warehouse as its clients see it: the pipeline config's MLOPS_WAREHOUSE_* keys, Feast's offline
store, the `mlops_warehouse` Airflow connection, and the stack output BI tools connect with.

Pure functions of a resolved WarehouseEndpoint (see contract.resolve), except `stack_output`, which
takes the unresolved one so that the readers' passwords stay secret Outputs.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote, urlencode

import pulumi

from infra.contract import WarehouseEndpoint
from mlops_jobs import pipeline_names as names

# Feast's offline store type for each kind this program builds so far (config refuses the others).
FEAST_OFFLINE_TYPES = {"postgres": "postgres", "athena": "athena"}
ATHENA_CATALOG = "AwsDataCatalog"  # the account's Glue Data Catalog, as Athena names it
# Feast keeps its own tables (the uploaded entity rows) here; BI readers see only the published schema.
FEAST_WORK_SCHEMA = "public"


ENV_KEYS = (names.WAREHOUSE_KIND, names.WAREHOUSE_HOST, names.WAREHOUSE_PORT, names.WAREHOUSE_DATABASE, names.WAREHOUSE_SCHEMA,
            names.WAREHOUSE_SSLMODE, names.WAREHOUSE_AUTH, names.WAREHOUSE_USER, names.WAREHOUSE_REGION, names.WAREHOUSE_WORKGROUP,
            names.WAREHOUSE_STAGING, names.WAREHOUSE_CONN_ID)


def env(w: Optional[WarehouseEndpoint]) -> dict[str, str]:
    """Every key on every stack: empty values where there is no warehouse, or where its kind has none."""
    if w is None:
        return {key: "" for key in ENV_KEYS}
    return {
        names.WAREHOUSE_KIND: w.kind,
        names.WAREHOUSE_HOST: str(w.host),
        names.WAREHOUSE_PORT: str(int(w.port)) if w.port else "",
        names.WAREHOUSE_DATABASE: str(w.database),
        names.WAREHOUSE_SCHEMA: w.schema,
        names.WAREHOUSE_SSLMODE: w.sslmode,
        names.WAREHOUSE_AUTH: w.auth,
        names.WAREHOUSE_USER: str(w.user),
        names.WAREHOUSE_REGION: w.region,
        names.WAREHOUSE_WORKGROUP: str(w.workgroup),
        names.WAREHOUSE_STAGING: str(w.staging),
        names.WAREHOUSE_CONN_ID: names.WAREHOUSE_CONNECTION,
    }


def secret_env(w: Optional[WarehouseEndpoint]) -> dict[str, str]:
    if w is None or w.auth != "password":
        return {}
    return {names.WAREHOUSE_PASSWORD: str(w.password or "")}


def feast_offline_store(w: WarehouseEndpoint) -> dict[str, Any]:
    """The offline_store block of feature_store.yaml; a password is Feast's ${VAR} reference."""
    if w.kind not in FEAST_OFFLINE_TYPES:
        raise ValueError(f"warehouse kind {w.kind!r}: no Feast offline store yet; allowed: {', '.join(FEAST_OFFLINE_TYPES)}")
    if w.kind == "athena":  # signed in by the pod's IAM role
        return {"type": "athena", "region": w.region, "data_source": ATHENA_CATALOG, "database": str(w.database),
                "workgroup": str(w.workgroup), "s3_staging_location": str(w.staging)}
    # Where it is, as the pipeline config's own variables: the file follows MLOPS_WAREHOUSE_HOST and
    # _PORT, e.g. `localhost` and a port-forward's port in a laptop's .env.
    return {
        "type": FEAST_OFFLINE_TYPES[w.kind],
        "host": f"${{{names.WAREHOUSE_HOST}}}",
        "port": f"${{{names.WAREHOUSE_PORT}}}",
        "database": str(w.database),
        "db_schema": FEAST_WORK_SCHEMA,
        "user": str(w.user),
        "password": f"${{{names.WAREHOUSE_PASSWORD}}}",
        "sslmode": w.sslmode,
    }


def airflow_connection(w: WarehouseEndpoint) -> str:
    """The `mlops_warehouse` connection as an Airflow URI (AIRFLOW_CONN_MLOPS_WAREHOUSE)."""
    if w.kind == "athena":  # AthenaSQLHook (conn_type athena); no keys: the pod's IAM role
        extras = {"region_name": w.region, "work_group": str(w.workgroup)}
        return f"athena:///{quote(str(w.database), safe='')}?{urlencode(extras)}"
    if w.kind != "postgres":
        raise ValueError(f"warehouse kind {w.kind!r}: no Airflow connection yet; allowed: postgres, athena")
    return (f"postgres://{quote(str(w.user), safe='')}:{quote(str(w.password or ''), safe='')}"
            f"@{w.host}:{int(w.port)}/{quote(str(w.database), safe='')}?{urlencode({'sslmode': w.sslmode})}")


def described(w: Optional[WarehouseEndpoint]) -> Optional[dict[str, Any]]:
    """pipeline.yaml's `warehouse` section: where it is, never a password."""
    if w is None:
        return None
    return {"kind": w.kind, "host": w.host, "port": int(w.port) if w.port else None, "database": w.database,
            "schema": w.schema, "auth": w.auth, "user": w.user, "region": w.region, "workgroup": w.workgroup,
            "connection": names.WAREHOUSE_CONNECTION}


def stack_output(w: Optional[WarehouseEndpoint]) -> Optional[dict[str, Any]]:
    """The `warehouse` output: what a BI tool connects with. Each reader's password is a secret Output."""
    if w is None:
        return None
    return {
        "kind": w.kind, "host": w.host, "port": w.port, "database": w.database, "schema": w.schema, "sslmode": w.sslmode,
        "region": w.region, "workgroup": w.workgroup, "resultsLocation": w.results,
        "readers": {
            name: {"user": login.user, "password": None if login.password is None else pulumi.Output.secret(login.password)}
            for name, login in sorted(w.readers.items())
        },
    }
