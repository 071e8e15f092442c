"""The capture sidecar of an in-cluster model server: a proxy in front of it that records a share of
the requests to `POST /invocations` with their responses, and writes them to the lake in batches.

The request path never waits for the lake: a request is forwarded and answered first, then its record
goes into a bounded queue, and a writer thread flushes the queue every `--flush-seconds` or every
`--batch` records. When the queue is full (the lake is slow or down), records are dropped and counted,
never the request. Nothing of a payload is ever logged.

Each record is a line in SageMaker's data capture format, so one reader serves both backends:

    {"captureData": {"endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                                        "data": "...", "encoding": "JSON"},
                     "endpointOutput": {...,"mode": "OUTPUT"}},
     "eventMetadata": {"eventId": "<request id>", "inferenceTime": "2026-12-03T10:00:00.123Z"},
     "eventVersion": "0"}

under inference/<endpoint>/<variant>/<yyyy>/<MM>/<dd>/<HH>/ of the lake (pipeline_names.capture_folder).
The request id is the caller's X-Request-Id (the gateway sets one), else a new one; it is returned.

    python -m mlops_jobs.capture --port 8090 --upstream 127.0.0.1:8080 --endpoint churn --variant a --rate 0.5
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import queue
import random
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from mlops_jobs import pipeline_names as names

CAPTURED_PATH = "/invocations"
QUEUE_LIMIT = 20_000  # records held while the lake is slow; beyond it, new records are dropped
# Not forwarded: they describe one connection, not the request (RFC 9110, 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}


def _payload(content_type: str, body: bytes, mode: str) -> dict:
    """SageMaker's encoding: JSON or CSV text as it came, anything else in base64."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and (kind == "application/json" or kind.endswith("+json")):
        encoding, data = "JSON", text
    elif text is not None and kind == "text/csv":
        encoding, data = "CSV", text
    else:
        encoding, data = "BASE64", base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def capture_record(request_id: str, at: dt.datetime, request_type: str, request: bytes,
                   response_type: str, response: bytes) -> dict:
    return {
        "captureData": {"endpointInput": _payload(request_type, request, "INPUT"),
                        "endpointOutput": _payload(response_type, response, "OUTPUT")},
        "eventMetadata": {"eventId": request_id, "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"},
        "eventVersion": "0",
    }


class CaptureWriter:
    """Batches records and writes each hour's share as one JSON-lines object; `put` never blocks."""

    def __init__(self, write: Callable[[str, bytes], None], endpoint: str, variant: str,
                 batch: int = 500, flush_seconds: float = 30.0, limit: int = QUEUE_LIMIT):
        self.write, self.endpoint, self.variant = write, endpoint, variant
        self.batch, self.flush_seconds = batch, flush_seconds
        self.records: queue.Queue = queue.Queue()
        self.limit = limit
        self.dropped = self.written = self.failures = 0
        self._held = 0  # records queued or pending, not yet written
        self._count = threading.Lock()
        self._stop = threading.Event()
        self._left: list = []
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)

    def start(self) -> "CaptureWriter":
        self._thread.start()
        return self

    def put(self, at: dt.datetime, record: dict) -> None:
        with self._count:
            if self._held >= self.limit:
                self.dropped += 1
                return
            self._held += 1
        self.records.put_nowait((at, record))

    def _settled(self, written: int = 0, dropped: int = 0) -> None:
        with self._count:
            self._held -= written + dropped
            self.written += written
            self.dropped += dropped

    def _take(self, pending: list) -> None:
        deadline = time.monotonic() + self.flush_seconds
        while len(pending) < self.batch and not self._stop.is_set():
            try:
                pending.append(self.records.get(timeout=max(0.05, min(1.0, deadline - time.monotonic()))))
            except queue.Empty:
                pass
            if time.monotonic() >= deadline:
                return

    def _run(self) -> None:
        pending: list = []
        while not self._stop.is_set():
            self._take(pending)
            pending = self.flush(pending)
        self._left = pending

    def flush(self, pending: list) -> list:
        """Writes what is pending and queued; returns what could not be written (kept for the next try)."""
        while True:
            try:
                pending.append(self.records.get_nowait())
            except queue.Empty:
                break
        by_hour: dict[dt.datetime, list] = {}
        for at, record in pending:
            by_hour.setdefault(at.replace(minute=0, second=0, microsecond=0), []).append((at, record))
        kept: list = []
        for hour, items in sorted(by_hour.items()):
            first = items[0][0]
            key = f"{names.capture_folder(self.endpoint, self.variant, hour)}{first:%M-%S-%f}-{uuid.uuid4().hex[:12]}.jsonl"
            body = "".join(json.dumps(record, separators=(",", ":")) + "\n" for _, record in items).encode()
            try:
                self.write(key, body)
                self._settled(written=len(items))
            except Exception as error:  # the lake is down: keep the records, up to the queue's limit
                self.failures += 1
                print(f"capture: writing {len(items)} records failed ({type(error).__name__}); kept for the next flush",
                      file=sys.stderr, flush=True)
                kept.extend(items)
        return kept

    def stop(self) -> None:
        """Flushes everything left, once."""
        self._stop.set()
        self._thread.join(timeout=self.flush_seconds + 5)
        left = self.flush(self._left)
        self._settled(dropped=len(left))
        print(f"capture: stopped; {self.written} records written, {self.dropped} dropped", file=sys.stderr, flush=True)


def handler(upstream: str, writer: CaptureWriter, rate: float,
            sample: Callable[[], float] = random.random) -> type[BaseHTTPRequestHandler]:
    host, port = upstream.rsplit(":", 1)
    local = threading.local()

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - no request line (or payload) in the logs
            pass

        def _connection(self) -> http.client.HTTPConnection:
            if getattr(local, "connection", None) is None:
                local.connection = http.client.HTTPConnection(host, int(port), timeout=300)
            return local.connection

        def _forward(self, body: bytes, headers: dict) -> tuple[int, list, bytes]:
            for attempt in (1, 2):  # a kept-alive connection the server closed is opened again, once
                connection = self._connection()
                try:
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    answer = connection.getresponse()
                    return answer.status, answer.getheaders(), answer.read()
                except (http.client.HTTPException, OSError):
                    connection.close()
                    local.connection = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request_id = self.headers.get("X-Request-Id") or str(uuid.uuid4())
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Request-Id"] = request_id
            at = dt.datetime.now(dt.timezone.utc)
            try:
                status, answer_headers, answer = self._forward(body, headers)
            except (http.client.HTTPException, OSError) as error:
                status, answer_headers, answer = 502, [("Content-Type", "text/plain")], f"model server: {error}\n".encode()
            self.send_response(status)
            for key, value in answer_headers:
                if key.lower() not in HOP_BY_HOP and key.lower() != "x-request-id":
                    self.send_header(key, value)
            self.send_header("X-Request-Id", request_id)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)
            # After the answer: the caller never waits for the capture.
            if self.command == "POST" and self.path.split("?")[0] == CAPTURED_PATH and status < 500 and sample() < rate:
                answer_type = dict((k.lower(), v) for k, v in answer_headers).get("content-type", "")
                writer.put(at, capture_record(request_id, at, self.headers.get("Content-Type", ""), body, answer_type, answer))

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return Proxy


def lake_writer() -> Callable[[str, bytes], None]:
    from mlops_jobs.buckets import bucket

    return bucket("lake").write_bytes


def serve(port: int, upstream: str, writer: CaptureWriter, rate: float) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("0.0.0.0", port), handler(upstream, writer, rate))
    server.daemon_threads = True
    return server


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_jobs.capture", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="where callers connect")
    parser.add_argument("--upstream", required=True, help="the model server, host:port")
    parser.add_argument("--endpoint", required=True, help="the endpoint's folder under inference/")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--rate", type=float, required=True, help="share of requests captured, 0 to 1")
    parser.add_argument("--batch", type=int, default=500, help="records per object at most")
    parser.add_argument("--flush-seconds", type=float, default=30.0, help="longest a record waits to be written")
    args = parser.parse_args(argv)
    if not 0 <= args.rate <= 1:
        parser.error(f"--rate: {args.rate} is not allowed; allowed: 0 to 1")
    writer = CaptureWriter(lake_writer(), args.endpoint, args.variant, args.batch, args.flush_seconds).start()
    server = serve(args.port, args.upstream, writer, args.rate)
    # SIGTERM (a rollout, a drain): stop taking requests, write what was captured, exit.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"capture: :{args.port} -> {args.upstream}, {args.rate:g} of {CAPTURED_PATH} to "
          f"{names.capture_prefix(args.endpoint, args.variant)}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        writer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
