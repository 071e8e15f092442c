"""warehouse: where historical data already lives, created by the stack or bound to one that exists;
its kind per backend, its BI readers, Feast's offline store on it, and its checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from pydantic import Field

from .choices import Backend, Environment, by_environment
from .errors import Problems
from .services import OfflineStore
from .types import InputModel, Pattern
from mlops_jobs.pipeline_names import DATABASE_CONSUMERS, HUB_DATABASE_CONSUMER, WAREHOUSE_CONSUMER


class WarehouseKind(str, Enum):
    POSTGRES = "postgres"  # a database of the platform's PostgreSQL, or an existing PostgreSQL
    ATHENA = "athena"  # aws: a Glue database over the lake and an Athena workgroup
    REDSHIFT = "redshift"  # aws: Redshift Serverless
    AZURE_SQL = "azure-sql"  # azure: Azure SQL Database, serverless, Entra ID only


class WarehouseMode(str, Enum):
    CREATE = "create"
    EXISTING = "existing"  # bound: the stack creates only the access


class SecretStore(str, Enum):
    KUBERNETES = "kubernetes-secret"
    SECRETS_MANAGER = "secrets-manager"  # aws
    KEY_VAULT = "key-vault"  # azure


DEFAULT_KIND = {Backend.ENSEMBLE: WarehouseKind.POSTGRES, Backend.AWS: WarehouseKind.ATHENA, Backend.AZURE: WarehouseKind.AZURE_SQL}
ALLOWED_KINDS = {
    Backend.ENSEMBLE: (WarehouseKind.POSTGRES,),
    Backend.AWS: (WarehouseKind.ATHENA, WarehouseKind.REDSHIFT, WarehouseKind.POSTGRES),
    Backend.AZURE: (WarehouseKind.AZURE_SQL, WarehouseKind.POSTGRES),
}
# What the program builds so far. The other kinds and binding are refused by name, never ignored.
BUILT = ((WarehouseKind.POSTGRES, WarehouseMode.CREATE), (WarehouseKind.ATHENA, WarehouseMode.CREATE))
# Days Athena's query results (and Feast's uploads) are kept: they can hold copies of any table.
DEFAULT_RESULTS_RETENTION_DAYS = {Environment.LOCAL: 3, Environment.STAGING: 7, Environment.PRODUCTION: 30}
ALLOWED_STORES = {
    Backend.ENSEMBLE: (SecretStore.KUBERNETES,),
    Backend.AWS: (SecretStore.SECRETS_MANAGER, SecretStore.KUBERNETES),
    Backend.AZURE: (SecretStore.KEY_VAULT, SecretStore.KUBERNETES),
}
# A login or role name every engine takes unquoted: lowercase, starting with a letter.
# The platform's own logins in its PostgreSQL (and the admin's): a reader may not take one.
RESERVED_LOGINS = {*DATABASE_CONSUMERS, HUB_DATABASE_CONSUMER, WAREHOUSE_CONSUMER, "postgres"}
SQL_NAME = Pattern(r"^[a-z][a-z0-9_]{0,62}$", "a SQL name: a lowercase letter, then lowercase letters, digits and '_', at most 63")
SqlName = SQL_NAME.type


class SecretRefConfig(InputModel):
    """Where the bound warehouse's password is: never the password itself."""

    store: SecretStore = Field(..., description="kubernetes-secret, secrets-manager (aws) or key-vault (azure)")
    name: str = Field(..., min_length=1, description="The secret's name (Secrets Manager: its name or ARN; Key Vault: its secret URI)")
    key: Optional[str] = Field(None, description="kubernetes-secret only: the key in the Secret that holds the password")


class ExistingWarehouseConfig(InputModel):
    host: Optional[str] = Field(None, description="postgres, redshift, azure-sql: the server's host name")
    port: Optional[int] = Field(None, ge=1, le=65535, description="Its port; default the engine's")
    database: str = Field(..., min_length=1, description="The database (athena: the Glue database)")
    user: Optional[str] = Field(None, description="The login the platform uses; unset with an IAM or Entra ID sign-in")
    password_secret: Optional[SecretRefConfig] = Field(None, description="Where that login's password is")
    workgroup: Optional[str] = Field(None, description="athena, redshift: the workgroup")


class AthenaConfig(InputModel):
    """kind athena: the workgroup's limits."""

    bytes_scanned_cutoff_gb: int = Field(100, ge=1, le=1_000_000, description="A query that scans more than this many GB is stopped")
    results_retention_days: Optional[int] = Field(
        None, ge=1, le=3650, description="Days query results are kept; default " + by_environment(DEFAULT_RESULTS_RETENTION_DAYS))


class WarehouseConfig(InputModel):
    """The warehouse the pipelines and Feast read historical data from, and BI tools read results from."""

    enabled: bool = Field(False, description="Create or bind a warehouse")
    kind: Optional[WarehouseKind] = Field(None, description="postgres, athena or redshift (aws), azure-sql (azure); default athena on aws, azure-sql on azure, postgres on the ensemble")
    mode: WarehouseMode = Field(WarehouseMode.CREATE, description="create, or existing: bind the one named under `existing`")
    existing: Optional[ExistingWarehouseConfig] = None
    published_schema: SqlName = Field("published", description="The schema BI readers may SELECT from")
    readers: list[SqlName] = Field(default_factory=list, description="BI consumers: each gets a read-only login on the published schema")
    athena: AthenaConfig = AthenaConfig()


@dataclass(frozen=True)
class Warehouse:
    kind: WarehouseKind
    mode: WarehouseMode
    published_schema: str
    readers: tuple[str, ...]
    existing: Optional[ExistingWarehouseConfig]
    bytes_scanned_cutoff: int = 0  # athena: bytes per query
    results_retention_days: int = 0  # athena

    @property
    def in_platform_database(self) -> bool:
        """A database of the platform's PostgreSQL, made by its setup Job like every consumer's."""
        return self.kind is WarehouseKind.POSTGRES and self.mode is WarehouseMode.CREATE


def resolve(raw: WarehouseConfig, backend: Backend, environment: Environment, problems: Problems) -> Optional[Warehouse]:
    if not raw.enabled:
        return None
    kind = raw.kind or DEFAULT_KIND[backend]
    before = len(problems.lines)
    if kind not in ALLOWED_KINDS[backend]:
        problems.not_allowed("warehouse.kind", kind.value, f"{', '.join(k.value for k in ALLOWED_KINDS[backend])} with backend {backend.value!r}")
    taken = sorted(set(raw.readers) & RESERVED_LOGINS)
    if taken:
        problems.not_allowed("warehouse.readers", taken, f"names other than the platform's logins ({', '.join(sorted(RESERVED_LOGINS))})")
    if len(set(raw.readers)) != len(raw.readers):
        problems.not_allowed("warehouse.readers", sorted({r for r in raw.readers if raw.readers.count(r) > 1}), "names that differ")
    if raw.mode is WarehouseMode.EXISTING:
        _check_existing(raw.existing, kind, backend, problems)
    elif raw.existing is not None:
        problems.not_allowed("warehouse.existing", "set", "existing only with mode: existing")
    # Said only of a section that is otherwise right: a fix for the other problems comes first.
    if len(problems.lines) == before and (kind, raw.mode) not in BUILT:
        problems.not_allowed("warehouse", f"kind {kind.value} with mode {raw.mode.value}",
                             " or ".join(f"kind {k.value} with mode {m.value}" for k, m in BUILT) + " (the others are not built yet)")
    return Warehouse(kind=kind, mode=raw.mode, published_schema=raw.published_schema, readers=tuple(raw.readers), existing=raw.existing,
                     bytes_scanned_cutoff=raw.athena.bytes_scanned_cutoff_gb * 1024**3,
                     results_retention_days=raw.athena.results_retention_days or DEFAULT_RESULTS_RETENTION_DAYS[environment])


def _check_existing(existing: Optional[ExistingWarehouseConfig], kind: WarehouseKind, backend: Backend, problems: Problems) -> None:
    if existing is None:
        problems.missing("warehouse.existing", "the bound warehouse: database, and host, user and passwordSecret as its kind needs")
        return
    if kind is not WarehouseKind.ATHENA and not existing.host:
        problems.missing("warehouse.existing.host", f"the {kind.value} server's host name")
    # A password login (postgres; azure-sql and redshift without identity sign-in) needs its secret's place.
    if existing.user and existing.password_secret is None:
        problems.missing("warehouse.existing.passwordSecret", "a secret reference: {store, name} (a password never goes in the stack file)")
    secret = existing.password_secret
    if secret is not None and secret.store not in ALLOWED_STORES[backend]:
        problems.not_allowed("warehouse.existing.passwordSecret.store", secret.store.value,
                             f"{', '.join(s.value for s in ALLOWED_STORES[backend])} with backend {backend.value!r}")
    if secret is not None and secret.store is SecretStore.KUBERNETES and not secret.key:
        problems.missing("warehouse.existing.passwordSecret.key", "the key in the Secret that holds the password")


def feast_offline_store(given: Optional[OfflineStore], warehouse: Optional[Warehouse], problems: Problems) -> OfflineStore:
    """Feast reads historical features from the warehouse when there is one, unless config says otherwise."""
    if given is OfflineStore.WAREHOUSE and warehouse is None:
        problems.not_allowed("services.feast.offlineStore", given.value, "file or postgres (warehouse needs mlops:warehouse.enabled)")
    if given is not None:
        return given
    return OfflineStore.WAREHOUSE if warehouse is not None else OfflineStore.FILE
