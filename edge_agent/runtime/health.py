"""``/healthz`` (JSON) and ``/metrics`` (Prometheus) on a local port, read from the agent's live status."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

Snapshot = Callable[[], dict[str, Any]]


class AgentCollector(Collector):
    """Turns the agent's status snapshot into metrics at scrape time (cameras come and go with SIGHUP)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot()
        cams = s["cameras"]
        gauges = (
            ("retail_edge_camera_fps", "frames per second handed to the detector", "fps"),
            ("retail_edge_camera_connected", "1 while the camera is open", "connected"),
            ("retail_edge_open_tracks", "tracks in progress", "open_tracks"),
        )
        counters = (
            ("retail_edge_frames_read", "frames read from the camera", "frames_read"),
            ("retail_edge_frames_dropped", "frames dropped because the detector fell behind", "frames_dropped"),
            ("retail_edge_frames_skipped", "frames not sampled (adaptive frame rate)", "frames_skipped"),
            ("retail_edge_camera_reconnects", "times the camera was reopened", "reconnects"),
            ("retail_edge_tracks", "tracks summarised", "tracks"),
        )
        for name, doc, key in gauges:
            gauge = GaugeMetricFamily(name, doc, labels=["camera"])
            for cam_id, cam in sorted(cams.items()):
                gauge.add_metric([cam_id], float(cam[key]))
            yield gauge
        for name, doc, key in counters:
            counter = CounterMetricFamily(name, doc, labels=["camera"])
            for cam_id, cam in sorted(cams.items()):
                counter.add_metric([cam_id], float(cam[key]))
            yield counter
        for name, doc, key in (
            ("retail_edge_inference_seconds", "time spent in detector inference", "inference_s"),
            ("retail_edge_detector_batches", "detector calls", "batches"),
            ("retail_edge_detector_frames", "frames through the detector", "batched_frames"),
        ):
            total = CounterMetricFamily(name, doc)
            total.add_metric([], float(s[key]))
            yield total
        sync = s["sync"]
        backlog = GaugeMetricFamily("retail_edge_outbox_backlog", "items not yet acknowledged by central")
        backlog.add_metric([], float(s["backlog"]))
        yield backlog
        last = GaugeMetricFamily("retail_edge_last_sync_timestamp_seconds", "Unix time of the last complete sync")
        last.add_metric([], float(sync.get("last_success") or 0.0))
        yield last
        refused = CounterMetricFamily("retail_edge_sync_rejected", "items central refused as bad data")
        refused.add_metric([], float(sync.get("rejected", 0)))
        yield refused
        store = GaugeMetricFamily("retail_edge_store_bytes", "bytes the local store uses")
        store.add_metric([], float(s["store_bytes"]))
        yield store
        full = GaugeMetricFamily("retail_edge_disk_budget_exhausted", "1 when unsynced data alone fills the budget")
        full.add_metric([], 1.0 if s["budget_exhausted"] else 0.0)
        yield full
        models = GaugeMetricFamily("retail_edge_model_info", "models in use", labels=["kind", "version"])
        for kind, version in sorted(s["models"].items()):
            models.add_metric([kind, version], 1.0)
        yield models


class HealthServer:
    def __init__(self, host: str, port: int, snapshot: Snapshot, registry: CollectorRegistry) -> None:
        self.snapshot = snapshot
        self.registry = registry
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(outer.registry), "text/plain; version=0.0.4")
                elif self.path == "/healthz":
                    s = outer.snapshot()
                    body = json.dumps(s, default=str).encode()
                    self._send(200 if s["status"] == "ok" else 503, body, "application/json")
                else:
                    self._send(404, b'{"error": "not found: try /healthz or /metrics"}', "application/json")

            def _send(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("health: " + format, *args)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
