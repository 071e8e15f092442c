"""`mlops_jobs.capture`, the in-cluster capture sidecar: a real model server stand-in behind the real
proxy, over loopback HTTP. The lake is a recording writer here; the loop test writes to the real one."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_jobs import capture


class Model(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._answer(200, b"", "text/plain")

    def do_POST(self):
        rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"]
        if rows == "boom":
            return self._answer(500, b'{"error": "boom"}', "application/json")
        self._answer(200, json.dumps({"predictions": [0.25] * len(rows), "seen": self.headers.get("X-Request-Id")}).encode(),
                     "application/json")

    def _answer(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Lake:
    """Objects by key; `gate` holds every write until it is set (a slow or absent lake)."""

    def __init__(self, open_=True, fail=False):
        self.objects: dict[str, bytes] = {}
        self.gate = threading.Event()
        self.fail = fail
        if open_:
            self.gate.set()

    def write(self, key, body):
        self.gate.wait()
        if self.fail:
            raise ConnectionError("lake unreachable")
        self.objects[key] = body

    def records(self):
        return [json.loads(line) for body in self.objects.values() for line in body.decode().splitlines()]


@pytest.fixture
def model():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def proxied(model, lake, rate=1.0, sample=None, **writer):
    w = capture.CaptureWriter(lake.write, "churn", "b", flush_seconds=writer.pop("flush_seconds", 0.2), **writer).start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), capture.handler(model, w, rate, **({"sample": sample} if sample else {})))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", w, server


def post(url, rows, request_id=None, timeout=5):
    headers = {"Content-Type": "application/json", **({"X-Request-Id": request_id} if request_id else {})}
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps({"inputs": rows}).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.headers["X-Request-Id"], json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Request-Id"], json.loads(error.read())


def test_every_request_is_answered_by_the_model_and_captured_with_its_response_under_the_variants_hour(model):
    lake = Lake()
    url, writer, server = proxied(model, lake)
    answers = [post(url, [{"tenure": i}], request_id=f"req-{i}" if i % 2 else None) for i in range(6)]
    server.shutdown()
    writer.stop()
    assert all(status == 200 for status, _, _ in answers)
    # The model sees the request id the caller gets back: the gateway's, or one of the sidecar's.
    assert [a[1] for a in answers][1::2] == ["req-1", "req-3", "req-5"]
    assert all(body["seen"] == rid for _, rid, body in answers)
    records = lake.records()
    assert sorted(r["eventMetadata"]["eventId"] for r in records) == sorted(rid for _, rid, _ in answers)
    first = records[0]["captureData"]
    assert first["endpointInput"]["encoding"] == "JSON" and json.loads(first["endpointInput"]["data"])["inputs"][0]["tenure"] >= 0
    assert first["endpointOutput"]["mode"] == "OUTPUT" and json.loads(first["endpointOutput"]["data"])["predictions"] == [0.25]
    for key in lake.objects:
        stamp = records[0]["eventMetadata"]["inferenceTime"]  # 2026-12-03T10:04:05.123Z
        assert key.startswith(f"inference/churn/b/{stamp[:4]}/{stamp[5:7]}/{stamp[8:10]}/{stamp[11:13]}/"), key
        assert key.endswith(".jsonl")


def test_the_sampling_rate_decides_which_requests_are_kept_and_pings_and_failures_are_never_captured(model):
    lake = Lake()
    draws = iter([0.1, 0.9, 0.3, 0.7])
    url, writer, server = proxied(model, lake, rate=0.5, sample=lambda: next(draws))
    ids = [post(url, [{"tenure": i}])[1] for i in range(4)]
    assert post(url, "boom")[0] == 500
    with urllib.request.urlopen(f"{url}/ping", timeout=5) as ping:
        assert ping.status == 200
    server.shutdown()
    writer.stop()
    assert sorted(r["eventMetadata"]["eventId"] for r in lake.records()) == sorted([ids[0], ids[2]])


def test_nothing_is_captured_at_rate_zero(model):
    lake = Lake()
    url, writer, server = proxied(model, lake, rate=0.0)
    assert post(url, [{"tenure": 1}])[0] == 200
    server.shutdown()
    writer.stop()
    assert lake.objects == {}


def test_requests_are_answered_while_the_lake_hangs_and_their_captures_follow_when_it_answers(model):
    lake = Lake(open_=False)
    url, writer, server = proxied(model, lake)
    # Each call would time out if the request path waited for the lake.
    answers = [post(url, [{"tenure": i}], timeout=3) for i in range(5)]
    assert [a[0] for a in answers] == [200] * 5 and lake.objects == {}
    lake.gate.set()
    server.shutdown()
    writer.stop()
    assert len(lake.records()) == 5


def test_a_full_queue_drops_captures_and_counts_them_never_the_request(model):
    lake = Lake(open_=False)
    url, writer, server = proxied(model, lake, limit=2, flush_seconds=30)
    assert [post(url, [{"tenure": i}], timeout=3)[0] for i in range(5)] == [200] * 5
    assert writer.dropped == 3
    lake.gate.set()
    server.shutdown()
    writer.stop()
    assert len(lake.records()) == 2 and writer.written == 2


def test_a_failed_write_is_retried_at_the_next_flush_and_logs_no_payload(model, capsys):
    lake = Lake(fail=True)
    url, writer, server = proxied(model, lake)
    post(url, [{"secret_column": "alice@example.com"}])
    while not writer.failures:
        threading.Event().wait(0.05)
    lake.fail = False
    server.shutdown()
    writer.stop()
    assert len(lake.records()) == 1
    assert "alice@example.com" not in capsys.readouterr().err


def test_a_rate_outside_zero_to_one_is_one_clear_error(capsys):
    with pytest.raises(SystemExit):
        capture.main(["--port", "1", "--upstream", "x:1", "--endpoint", "churn", "--variant", "a", "--rate", "1.5"])
    assert "--rate: 1.5 is not allowed; allowed: 0 to 1" in capsys.readouterr().err
