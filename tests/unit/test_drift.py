"""mlops_jobs.drift: the captures of a window read back as the rows a drift report compares, in the
layout the capture sidecar writes (SageMaker's) and in Azure ML's; and the monitor's choice of what
to report and whom to tell."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from mlops_jobs import drift, monitor
from mlops_jobs.capture import capture_record

FEATURES = ["tenure_months", "monthly_charges", "support_calls"]
AT = dt.datetime(2026, 12, 4, 10, 17, tzinfo=dt.timezone.utc)


def test_the_window_covers_every_hour_folder_from_its_start_to_now():
    folders = drift.capture_folders("inference/churn/", "b", AT, hours=2)
    assert folders == ["inference/churn/b/2026/12/04/08/", "inference/churn/b/2026/12/04/09/", "inference/churn/b/2026/12/04/10/"]
    # Across midnight, in UTC whatever the caller's zone.
    late = dt.datetime(2026, 12, 5, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert drift.capture_folders("inference/x/", "a", late, hours=1) == ["inference/x/a/2026/12/04/22/", "inference/x/a/2026/12/04/23/"]
    assert drift.capture_folders("inference/churn/", "a", AT, 0, "request") == ["inference/churn/a/request/2026/12/04/10/"]


def record(request, response, request_type="application/json") -> str:
    body = request if isinstance(request, str) else json.dumps(request)
    return json.dumps(capture_record("id-1", AT, request_type, body.encode(), "application/json", json.dumps(response).encode()))


@pytest.mark.parametrize("request_body", [
    {"inputs": [[1, 20.0, 0], [30, 80.5, 4]]},
    {"instances": [[1, 20.0, 0], [30, 80.5, 4]]},
    {"dataframe_split": {"columns": FEATURES, "data": [[1, 20.0, 0], [30, 80.5, 4]]}},
    {"dataframe_records": [dict(zip(FEATURES, [1, 20.0, 0])), dict(zip(FEATURES, [30, 80.5, 4]))]},
    {"inputs": {"tenure_months": [1, 30], "monthly_charges": [20.0, 80.5], "support_calls": [0, 4]}},
])
def test_what_the_sidecar_captured_reads_back_as_rows_with_their_predictions(request_body):
    frame = drift.captured_frame(drift.sagemaker_pairs([record(request_body, {"predictions": [0, 1]})]), FEATURES)
    assert frame.to_dict("records") == [
        {"tenure_months": 1, "monthly_charges": 20.0, "support_calls": 0, "prediction": 0},
        {"tenure_months": 30, "monthly_charges": 80.5, "support_calls": 4, "prediction": 1},
    ]


def test_csv_and_base64_payloads_read_back_and_unreadable_ones_are_skipped():
    csv_line = record("1,20.0,0\n30,80.5,4\n", [1, 0], request_type="text/csv")
    binary = json.dumps(capture_record("id-2", AT, "application/octet-stream", b"\x89PNG\x00", "application/json", b"[1]"))
    frame = drift.captured_frame(drift.sagemaker_pairs([csv_line, binary, "not json", json.dumps({"other": 1})]), FEATURES)
    assert frame[FEATURES].values.tolist() == [[1.0, 20.0, 0.0], [30.0, 80.5, 4.0]]
    assert frame["prediction"].tolist() == [1, 0]


def test_predictions_that_do_not_match_the_rows_are_left_out_not_misaligned():
    frame = drift.captured_frame(drift.sagemaker_pairs([record({"inputs": [[1, 2.0, 3]]}, {"predictions": [0, 1]})]), FEATURES)
    assert list(frame.columns) == FEATURES


def test_azure_mls_request_and_response_collections_pair_by_request_id():
    def event(kind: str, request_id: str, data) -> str:
        return json.dumps({"specversion": "1.0", "id": f"{kind}-{request_id}", "type": f"azureml.inference.{kind}",
                           "datacontenttype": "application/json", "data": data, "xrequestid": request_id})

    requests = [event("request", "r1", {"inputs": [[1, 20.0, 0]]}), event("request", "r2", json.dumps({"inputs": [[5, 50.0, 1]]}))]
    responses = [event("response", "r2", [1]), event("response", "r1", {"predictions": [0]})]
    frame = drift.captured_frame(drift.azure_pairs(requests, responses), FEATURES)
    assert frame.sort_values("tenure_months").to_dict("records") == [
        {"tenure_months": 1, "monthly_charges": 20.0, "support_calls": 0, "prediction": 0},
        {"tenure_months": 5, "monthly_charges": 50.0, "support_calls": 1, "prediction": 1},
    ]


def test_no_captures_make_an_empty_frame_with_the_references_columns():
    frame = drift.captured_frame([], FEATURES)
    assert frame.empty and list(frame.columns) == FEATURES


def test_the_monitor_reads_the_capturing_endpoints_and_their_variants_from_the_pipeline_config():
    env = {
        "MLOPS_SERVING_ENDPOINTS": "churn,fraud,legacy",
        "MLOPS_SERVING_CHURN_CAPTURE": "inference/churn/", "MLOPS_SERVING_CHURN_WEIGHTS": "a=90,b=10",
        "MLOPS_SERVING_CHURN_KIND": "in-cluster",
        "MLOPS_SERVING_FRAUD_CAPTURE": "inference/mlops-production-fraud-1a2b3c/", "MLOPS_SERVING_FRAUD_WEIGHTS": "v1=100",
        "MLOPS_SERVING_FRAUD_KIND": "sagemaker",
        "MLOPS_SERVING_LEGACY_CAPTURE": "", "MLOPS_SERVING_LEGACY_WEIGHTS": "a=100",
    }
    assert monitor.captured_endpoints(env) == [
        monitor.Endpoint("churn", "in-cluster", "inference/churn/", ("a", "b")),
        monitor.Endpoint("fraud", "sagemaker", "inference/mlops-production-fraud-1a2b3c/", ("v1",)),
    ]


class Assets:
    """Airflow's answer to an asset event: its id, or None for an asset no DAG declares."""

    def __init__(self, event_id):
        self.event_id, self.emitted = event_id, []

    def emit(self, asset, extra):
        self.emitted.append((asset, extra))
        return self.event_id


def test_drift_asks_for_retraining_through_the_endpoints_asset_and_says_when_it_cannot():
    drifted = [{"variant": "b", "drift_share": 0.67, "snapshot": "s1"}]
    assets = Assets(42)
    assert monitor.ask_retraining(assets, "churn", drifted) == "monitor: churn: drifted (b), retraining asked: asset event 42 on 'churn_drift'"
    assert assets.emitted == [("churn_drift", {"endpoint": "churn", "drifted": drifted})]
    assert monitor.ask_retraining(Assets(None), "churn", drifted).endswith("no DAG is scheduled on asset 'churn_drift'")
    assert monitor.ask_retraining(None, "churn", drifted).endswith("no Airflow API user in the pipeline config")


@pytest.mark.parametrize("argv, message", [
    (["--threshold", "1.5"], "--threshold: 1.5 is not allowed; allowed: above 0, up to 1"),
    (["--threshold", "0"], "--threshold: 0.0 is not allowed; allowed: above 0, up to 1"),
    (["--window-hours", "0"], "--window-hours: 0 is not allowed; allowed: 1 or more"),
])
def test_bad_arguments_get_one_line_naming_the_argument(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        monitor.main(["--project", "p", "--reference", "r.parquet", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_frame_from_the_lake_keeps_its_dtypes():
    frame = drift.captured_frame(drift.sagemaker_pairs([record({"inputs": [[1, 20.5, 0]]}, {"predictions": [1]})]), FEATURES)
    assert pd.api.types.is_numeric_dtype(frame["monthly_charges"]) and pd.api.types.is_integer_dtype(frame["prediction"])
