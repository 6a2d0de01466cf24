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

from edge_agent.status import AgentStatus, CameraStatus, Health, WorkerState

logger = logging.getLogger(__name__)

StatusSource = Callable[[], AgentStatus]

_CAMERA_GAUGES: tuple[tuple[str, str, Callable[[CameraStatus], float]], ...] = (
    ("retail_edge_camera_fps", "frames per second handed to the detector", lambda c: c.fps),
    ("retail_edge_camera_connected", "1 while the camera is open", lambda c: float(c.connected)),
    ("retail_edge_open_tracks", "tracks in progress", lambda c: c.open_tracks),
)
_CAMERA_COUNTERS: tuple[tuple[str, str, Callable[[CameraStatus], float]], ...] = (
    ("retail_edge_frames_read", "frames read from the camera", lambda c: c.frames_read),
    ("retail_edge_frames_dropped", "frames dropped because the detector fell behind", lambda c: c.frames_dropped),
    ("retail_edge_frames_skipped", "frames not sampled (adaptive frame rate)", lambda c: c.frames_skipped),
    ("retail_edge_camera_reconnects", "times the camera was reopened", lambda c: c.reconnects),
    ("retail_edge_tracks", "tracks summarised", lambda c: c.tracks),
)


class AgentCollector(Collector):
    """Turns the agent's status into metrics at scrape time (cameras come and go with SIGHUP)."""

    def __init__(self, status: StatusSource) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        s = self.status()
        cams = sorted(s.cameras, key=lambda c: c.camera_id)
        for name, doc, value in _CAMERA_GAUGES:
            gauge = GaugeMetricFamily(name, doc, labels=["camera"])
            for cam in cams:
                gauge.add_metric([cam.camera_id], float(value(cam)))
            yield gauge
        for name, doc, value in _CAMERA_COUNTERS:
            counter = CounterMetricFamily(name, doc, labels=["camera"])
            for cam in cams:
                counter.add_metric([cam.camera_id], float(value(cam)))
            yield counter
        for name, doc, total_value in (
            ("retail_edge_inference_seconds", "time spent in detector inference", s.inference_s),
            ("retail_edge_detector_batches", "detector calls", float(s.batches)),
            ("retail_edge_detector_frames", "frames through the detector", float(s.batched_frames)),
        ):
            total = CounterMetricFamily(name, doc)
            total.add_metric([], total_value)
            yield total
        restarts = CounterMetricFamily(
            "retail_edge_worker_restarts", "times the supervisor restarted a worker thread that died", labels=["worker"]
        )
        failed = GaugeMetricFamily(
            "retail_edge_worker_failed", "1 when a worker died too often and is no longer restarted", labels=["worker"]
        )
        for worker_name, worker in s.workers():
            restarts.add_metric([worker_name], float(worker.restarts))
            failed.add_metric([worker_name], 1.0 if worker.state is WorkerState.FAILED else 0.0)
        yield restarts
        yield failed
        backlog = GaugeMetricFamily("retail_edge_outbox_backlog", "items not yet acknowledged by central")
        backlog.add_metric([], float(s.backlog))
        yield backlog
        last = GaugeMetricFamily("retail_edge_last_sync_timestamp_seconds", "Unix time of the last complete sync")
        last.add_metric([], float(s.sync.last_success or 0.0) if s.sync is not None else 0.0)
        yield last
        refused = CounterMetricFamily("retail_edge_sync_rejected", "items central refused as bad data")
        refused.add_metric([], float(s.sync.rejected) if s.sync is not None else 0.0)
        yield refused
        store = GaugeMetricFamily("retail_edge_store_bytes", "bytes the local store uses")
        store.add_metric([], float(s.store_bytes))
        yield store
        full = GaugeMetricFamily("retail_edge_disk_budget_exhausted", "1 when unsynced data alone fills the budget")
        full.add_metric([], 1.0 if s.budget_exhausted else 0.0)
        yield full
        models = GaugeMetricFamily("retail_edge_model_info", "models in use", labels=["kind", "version"])
        for model in sorted(s.models, key=lambda m: m.kind):
            models.add_metric([model.kind, model.version], 1.0)
        yield models
        fallback = GaugeMetricFamily(
            "retail_edge_behavior_model_fallback",
            "1 while the packaged default behaviour model runs because no delivered or configured one could be loaded",
        )
        fallback.add_metric([], 1.0 if s.behavior_model_fallback else 0.0)
        yield fallback
        installs = GaugeMetricFamily(
            "retail_edge_model_install",
            "the latest state of each model install (1 for the state it is in)",
            labels=["rollout", "model", "state", "failure_code"],
        )
        for r in s.installs:
            code = r.failure_code.value if r.failure_code else ""
            installs.add_metric([r.rollout_id, f"{r.name}/{r.version}", r.state.value, code], 1.0)
        yield installs
        runtimes = GaugeMetricFamily(
            "retail_edge_model_runtime_info",
            "what runs each model and in which precision (fp32, int8, bf16...)",
            labels=["kind", "version", "runtime", "precision"],
        )
        for model in sorted(s.models, key=lambda m: m.kind):
            if model.runtime:
                runtimes.add_metric([model.kind, model.version, model.runtime, model.precision], 1.0)
        yield runtimes


class HealthServer:
    def __init__(self, host: str, port: int, status: StatusSource, registry: CollectorRegistry) -> None:
        self.status = status
        self.registry = registry
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(outer.registry), "text/plain; version=0.0.4")
                elif self.path == "/healthz":
                    s = outer.status()
                    body = json.dumps(s.to_json()).encode()
                    self._send(200 if s.health is Health.OK else 503, body, "application/json")
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
