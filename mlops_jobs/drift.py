"""A variant's captured requests as data: the captures of a time window, read from the lake and turned
into the frame that its drift report compares with the model's reference.

Two layouts are read. SageMaker's, which the in-cluster sidecar (mlops_jobs.capture) writes too: one
JSON record per request under <capture>/<variant>/<yyyy>/<MM>/<dd>/<HH>/, holding the request and the
response. Azure ML's data collector: the collections request/ and response/ one folder further down,
each record a CloudEvent whose `data` is the payload, paired by their request id.

Requests are read as MLflow's scoring server reads them (`dataframe_split`, `dataframe_records`,
`inputs` or `instances`, or CSV without a header); unnamed columns take the reference's names in
order. A response's `predictions` become the column PREDICTION_COLUMN.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from typing import Any, Iterable, Optional, Sequence

import pandas as pd

from mlops_jobs import pipeline_names as names

PREDICTION_COLUMN = names.PREDICTION_COLUMN


def window_hours(now: dt.datetime, hours: int) -> list[dt.datetime]:
    """The hours (UTC, oldest first) whose folders hold the captures of the last `hours` hours."""
    last = now.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return [last - dt.timedelta(hours=back) for back in range(hours, -1, -1)]


def capture_folders(capture: str, variant: str, now: dt.datetime, hours: int, collection: str = "") -> list[str]:
    """`capture` is the endpoint's prefix (MLOPS_SERVING_<E>_CAPTURE); `collection`, Azure ML's."""
    return [names.variant_folder(capture, variant, collection) + hour.strftime(names.HOUR_FOLDER) for hour in window_hours(now, hours)]


def _decoded(payload: dict) -> Any:
    """A captured payload's body: parsed JSON, CSV text, or None when it is neither."""
    data, encoding = payload.get("data", ""), payload.get("encoding", "JSON")
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        encoding = "CSV" if "csv" in payload.get("observedContentType", "") else "JSON"
    if encoding == "CSV":
        return data
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return None


def input_frame(body: Any, columns: Sequence[str]) -> Optional[pd.DataFrame]:
    """The rows of one request; None for a body that is not a table."""
    if isinstance(body, str):  # CSV, no header
        rows = [[float(value) for value in row] for row in csv.reader(io.StringIO(body)) if row]
        return _unnamed(rows, columns)
    if not isinstance(body, dict):
        return _unnamed(body, columns) if isinstance(body, list) else None
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        return pd.DataFrame(split.get("data", []), columns=split.get("columns"))
    if "dataframe_records" in body:
        return pd.DataFrame(body["dataframe_records"])
    for key in ("inputs", "instances"):
        if key in body:
            rows = body[key]
            if isinstance(rows, dict):
                return pd.DataFrame(rows)
            return _unnamed(rows, columns)
    return None


def _unnamed(rows: Any, columns: Sequence[str]) -> Optional[pd.DataFrame]:
    if not isinstance(rows, list) or not rows:
        return None
    if all(isinstance(row, dict) for row in rows):
        return pd.DataFrame(rows)
    rows = [row if isinstance(row, list) else [row] for row in rows]
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        return None
    names_ = list(columns[:width]) if len(columns) >= width else [f"input_{i}" for i in range(width)]
    return pd.DataFrame(rows, columns=names_)


def predictions(body: Any) -> Optional[list]:
    """A response's predictions, one scalar per row; None when they are not that."""
    values = body.get("predictions") if isinstance(body, dict) else body
    if isinstance(body, str):
        values = [row[0] for row in csv.reader(io.StringIO(body)) if row]
    if not isinstance(values, list):
        return None
    flat = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in values]
    return flat if all(isinstance(v, (int, float, str, bool)) for v in flat) else None


def captured_frame(pairs: Iterable[tuple[Any, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Requests with their predictions, from (request body, response body) pairs."""
    frames = []
    for request, response in pairs:
        rows = input_frame(request, columns)
        if rows is None or rows.empty:
            continue
        predicted = predictions(response)
        if predicted is not None and len(predicted) == len(rows):
            rows = rows.assign(**{PREDICTION_COLUMN: predicted})
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def sagemaker_pairs(lines: Iterable[str]) -> list[tuple[Any, Any]]:
    """(request, response) bodies of SageMaker-format records, one JSON document a line."""
    pairs = []
    for line in lines:
        try:
            data = json.loads(line)["captureData"]
        except (ValueError, KeyError, TypeError):
            continue
        pairs.append((_decoded(data.get("endpointInput", {})), _decoded(data.get("endpointOutput", {}))))
    return pairs


def azure_pairs(requests: Iterable[str], responses: Iterable[str]) -> list[tuple[Any, Any]]:
    """(request, response) bodies of Azure ML's collections, paired by request id (or correlation id)."""
    def by_id(lines: Iterable[str]) -> dict[str, Any]:
        found = {}
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            key = event.get("xrequestid") or event.get("correlationid") or event.get("id")
            data = event.get("data")
            if isinstance(data, str) and "csv" not in str(event.get("datacontenttype", "")):
                try:
                    data = json.loads(data)
                except ValueError:
                    continue
            if key:
                found[key] = data
        return found

    answered = by_id(responses)
    return [(body, answered.get(key)) for key, body in by_id(requests).items()]
