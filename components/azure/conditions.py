"""Azure ABAC conditions on blob role assignments: a role that holds on a container, narrowed to a
path prefix. Conditions are the only way Azure narrows a data role below a container."""

from __future__ import annotations

BLOB_ACTIONS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
READ = f"{BLOB_ACTIONS}/read"
# What changes a blob: writing, appending, deleting and renaming (a rename on the dfs API).
CHANGES = tuple(f"{BLOB_ACTIONS}/{action}" for action in ("write", "add/action", "delete", "move/action"))
PATH = f"@Resource[{BLOB_ACTIONS}:path]"
VERSION = "2.0"


def _unless(actions: tuple[str, ...], test: str) -> str:
    """The actions are allowed only where `test` holds; every other action of the role is unaffected."""
    allowed = " AND ".join(f"!(ActionMatches{{'{action}'}})" for action in actions)
    return f"(({allowed}) OR ({test}))"


def no_reads_under(prefix: str) -> str:
    """Reads anywhere but under the prefix (inference/: the captured requests)."""
    return _unless((READ,), f"{PATH} NOT StringStartsWith '{prefix}'")


def only_under(prefix: str) -> str:
    """Reads and changes under the prefix only: a writer of that prefix and nothing else."""
    return _unless((READ, *CHANGES), f"{PATH} StringStartsWith '{prefix}'")
