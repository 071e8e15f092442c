"""The scheduled monitoring job: Evidently drift reports, added as snapshots to a project of the
Evidently UI, and retraining asked for where a variant's traffic drifted.

- **Per variant:** for every endpoint that captures (MLOPS_SERVING_<E>_CAPTURE), each variant's
  captured requests and predictions of the last `--window-hours` are compared with the reference, the
  data the model was trained on. One report per variant. When the share of drifted columns reaches
  `--threshold`, an Airflow asset event on `<endpoint>_drift` (pipeline_names.drift_asset) starts the
  DAGs scheduled on it: the example's churn_training.
- **A dataset** (`--current`): a Parquet key of the lake compared with the reference, as before.

One line per report: `monitor: churn/b drift share 0.67 (threshold 0.50): drifted, retraining asked`.
Configured by the pipeline config (MLOPS_EVIDENTLY_*, MLOPS_SERVING_*, MLOPS_AIRFLOW_* and the
object store settings) and by the arguments, which services.evidently.monitoring renders.

    python -m mlops_jobs.monitor --project mlops --reference example/churn/reference.parquet \\
        --threshold 0.5 --window-hours 24 [--current example/churn/current.parquet]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Optional

import pandas as pd

from mlops_jobs import drift
from mlops_jobs import pipeline_names as names

AZURE_ML = "azure-ml"


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


@dataclass(frozen=True)
class DriftResult:
    snapshot: str
    share: float  # of the compared columns, those that drifted
    columns: int


def drift_snapshot(reference: pd.DataFrame, current: pd.DataFrame, ws, project_name: str, tags: list[str],
                   threshold: float = 0.5) -> DriftResult:
    """Run a data drift report of the columns both frames have, and add it to the project."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in reference.columns if c in current.columns]
    run = Report([DataDriftPreset(drift_share=threshold)], tags=tags).run(
        current_data=current[columns], reference_data=reference[columns])
    counted = next(m["value"] for m in run.dict()["metrics"] if m["config"]["type"].endswith("DriftedColumnsCount"))
    project = project_named(ws, project_name)
    snapshot = str(ws.add_run(project.id, run, include_data=False).id)
    return DriftResult(snapshot=snapshot, share=float(counted["share"]), columns=len(columns))


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: str
    capture: str  # its prefix in the lake
    variants: tuple[str, ...]


def captured_endpoints(env: Optional[dict] = None) -> list[Endpoint]:
    """The pipeline config's endpoints that capture, with their variants."""
    env = os.environ if env is None else env
    found = []
    for name in filter(None, env.get(names.SERVING_ENDPOINTS, "").split(",")):
        capture = env.get(names.serving_key(name, "CAPTURE"), "")
        weights = env.get(names.serving_key(name, "WEIGHTS"), "")
        if capture:
            variants = tuple(part.split("=", 1)[0] for part in weights.split(",") if part)
            found.append(Endpoint(name, env.get(names.serving_key(name, "KIND"), ""), capture, variants))
    return found


def read_captures(lake, endpoint: Endpoint, variant: str, columns: list[str], now: dt.datetime, hours: int) -> pd.DataFrame:
    """A variant's captures of the window, as rows with their predictions."""
    def lines(folders: list[str]) -> list[str]:
        return [line for folder in folders for key in lake.keys(folder)
                for line in lake.read_bytes(key).decode("utf-8").splitlines() if line.strip()]

    if endpoint.kind == AZURE_ML:
        requests, responses = (lines(drift.capture_folders(endpoint.capture, variant, now, hours, c)) for c in names.AZURE_ML_COLLECTIONS)
        pairs = drift.azure_pairs(requests, responses)
    else:
        pairs = drift.sagemaker_pairs(lines(drift.capture_folders(endpoint.capture, variant, now, hours)))
    return drift.captured_frame(pairs, columns)


class AirflowAssets:
    """Asset events through Airflow's REST API, signed in as the pipelines' user."""

    def __init__(self, url: str, user: str, password: str):
        self.url, self.user, self.password = url.rstrip("/"), user, password
        self.token: Optional[str] = None  # signed in at the first event

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if path != "/auth/token":
            if self.token is None:
                self.token = self._call("POST", "/auth/token", {"username": self.user, "password": self.password})["access_token"]
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def emit(self, asset: str, extra: dict) -> Optional[int]:
        """An event on the asset named `asset`; None when no DAG declares it (nothing to start)."""
        found = self._call("GET", "/api/v2/assets?" + urllib.parse.urlencode({"name_pattern": asset}))
        ids = [a["id"] for a in found.get("assets", []) if a.get("name") == asset]
        if not ids:
            return None
        event = self._call("POST", "/api/v2/assets/events", {"asset_id": ids[0], "extra": extra})
        return int(event["id"])


def airflow_assets() -> Optional[AirflowAssets]:
    url, user = os.environ.get(names.AIRFLOW_URL, ""), os.environ.get(names.AIRFLOW_USER, "")
    if not (url and user):
        return None  # MWAA: no user of ours in its REST API
    return AirflowAssets(url, user, os.environ.get(names.AIRFLOW_PASSWORD, ""))


def monitor_variants(reference: pd.DataFrame, ws, project: str, threshold: float, hours: int,
                     now: Optional[dt.datetime] = None, assets=None, lake=None) -> list[str]:
    """A report per variant of every capturing endpoint, and an asset event where one drifted."""
    now = now or dt.datetime.now(dt.timezone.utc)
    lines = []
    columns = list(reference.columns)
    for endpoint in captured_endpoints():
        drifted = []
        for variant in endpoint.variants:
            label = f"{endpoint.name}/{variant}"
            current = read_captures(lake, endpoint, variant, columns, now, hours)
            if current.empty:
                lines.append(f"monitor: {label}: no captures in the last {hours} h")
                continue
            result = drift_snapshot(reference, current, ws, project, tags=["captures", endpoint.name, variant], threshold=threshold)
            verdict = "drifted" if result.share >= threshold else "no drift"
            lines.append(f"monitor: {label} drift share {result.share:.2f} (threshold {threshold:.2f}) over {len(current)} "
                         f"rows: {verdict}; snapshot {result.snapshot}")
            if result.share >= threshold:
                drifted.append({"variant": variant, "drift_share": round(result.share, 4), "snapshot": result.snapshot})
        if drifted:
            lines.append(ask_retraining(assets, endpoint.name, drifted))
    return lines


def ask_retraining(assets: Optional[AirflowAssets], endpoint: str, drifted: list[dict]) -> str:
    asset = names.drift_asset(endpoint)
    variants = ", ".join(d["variant"] for d in drifted)
    if assets is None:
        return f"monitor: {endpoint}: drifted ({variants}), retraining not asked: no Airflow API user in the pipeline config"
    event = assets.emit(asset, {"endpoint": endpoint, "drifted": drifted})
    if event is None:
        return f"monitor: {endpoint}: drifted ({variants}), retraining not asked: no DAG is scheduled on asset {asset!r}"
    return f"monitor: {endpoint}: drifted ({variants}), retraining asked: asset event {event} on {asset!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_jobs.monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True, help="Evidently project the snapshots go to")
    parser.add_argument("--reference", required=True, help="Parquet key in the lake bucket: what the model was trained on")
    parser.add_argument("--current", help="Parquet key in the lake bucket: a dataset to check as well")
    parser.add_argument("--threshold", type=float, default=0.5, help="share of drifted columns that asks for retraining, 0 to 1")
    parser.add_argument("--window-hours", type=int, default=24, help="hours of captures each variant's report covers")
    args = parser.parse_args(argv)
    if not 0 < args.threshold <= 1:
        parser.error(f"--threshold: {args.threshold} is not allowed; allowed: above 0, up to 1")
    if args.window_hours < 1:
        parser.error(f"--window-hours: {args.window_hours} is not allowed; allowed: 1 or more")
    try:
        reference = read_lake_parquet(args.reference)
    except FileNotFoundError as missing:
        print(f"monitor: the reference {args.reference} is not in the lake (has the model been trained?): {missing}", file=sys.stderr)
        return 2
    ws = workspace()
    if args.current:
        try:
            current = read_lake_parquet(args.current)
        except FileNotFoundError:
            print(f"monitor: the dataset {args.current} is not in the lake: not reported", flush=True)
        else:
            result = drift_snapshot(reference, current, ws, args.project, tags=["scheduled"], threshold=args.threshold)
            print(f"monitor: snapshot {result.snapshot} added to project {args.project!r} "
                  f"(drift share {result.share:.2f} of {result.columns} columns)", flush=True)
    from mlops_jobs.buckets import bucket

    try:
        lines = monitor_variants(reference, ws, args.project, args.threshold, args.window_hours,
                                 assets=airflow_assets(), lake=bucket("lake"))
    except urllib.error.URLError as error:
        print(f"monitor: Airflow's API refused the asset event: {error}", file=sys.stderr)
        return 1
    for line in lines:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
