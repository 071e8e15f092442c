"""The scheduled monitoring job: an Evidently drift report of current data against reference data,
added as a snapshot to a project of the Evidently UI.

Configured by the pipeline config (MLOPS_EVIDENTLY_URL, MLOPS_EVIDENTLY_TOKEN, MLOPS_BUCKET_LAKE_URL and the
object store settings) and by its own arguments: the project and the two Parquet keys in the lake bucket.

    python -m mlops_jobs.monitor --project mlops --reference example/churn/reference.parquet \\
        --current example/churn/current.parquet
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd


def read_lake_parquet(key: str) -> pd.DataFrame:
    """A Parquet object of the lake bucket, read with the object store settings of the pipeline config."""
    from mlops_jobs.buckets import bucket

    return bucket("lake").read_parquet(key)


def workspace():
    from evidently.ui.workspace import RemoteWorkspace

    url = os.environ.get("MLOPS_EVIDENTLY_URL")
    if not url:
        raise SystemExit("MLOPS_EVIDENTLY_URL is not set: is the pipeline config in this pod's environment?")
    return RemoteWorkspace(url, secret=os.environ.get("MLOPS_EVIDENTLY_TOKEN") or None)


def project_named(ws, name: str):
    found = ws.search_project(name)
    return found[0] if found else ws.create_project(name, description="Data drift, written by mlops-stack")


def drift_snapshot(reference: pd.DataFrame, current: pd.DataFrame, ws, project_name: str, tags: list[str]) -> str:
    """Run a data drift report and add it to the project; returns the snapshot id."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in reference.columns if c in current.columns]
    run = Report([DataDriftPreset()], tags=tags).run(current_data=current[columns], reference_data=reference[columns])
    project = project_named(ws, project_name)
    return str(ws.add_run(project.id, run, include_data=False).id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_jobs.monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True, help="Evidently project the snapshot goes to")
    parser.add_argument("--reference", required=True, help="Parquet key in the lake bucket: reference data")
    parser.add_argument("--current", required=True, help="Parquet key in the lake bucket: data to check")
    args = parser.parse_args(argv)
    try:
        reference, current = read_lake_parquet(args.reference), read_lake_parquet(args.current)
    except FileNotFoundError as missing:
        print(f"monitor: dataset not found: {missing}", file=sys.stderr)
        return 2
    snapshot = drift_snapshot(reference, current, workspace(), args.project, tags=["scheduled"])
    print(f"monitor: snapshot {snapshot} added to project {args.project!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
