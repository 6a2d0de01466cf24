"""What a person sees of model updates: ``retail-edge status`` and ``/metrics`` from a real health server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from edge_agent.cli import app
from edge_agent.runtime.health import AgentCollector, HealthServer
from edge_agent.status import AgentStatus, Health, ModelInfo, WorkerState, WorkerStatus
from edge_agent.updater.policy import InstallReport, InstallState
from retail_common.rollout import FailureCode

STATUS = AgentStatus(
    health=Health.OK,
    store_id="s1",
    agent_id="edge-s1",
    agent_version="0.1.0",
    cameras=(),
    sync=None,
    backlog=0,
    store_bytes=0,
    budget_exhausted=False,
    inference_s=0.0,
    batches=0,
    batched_frames=0,
    models=(ModelInfo("detector", "person-detector/4"), ModelInfo("behavior", "behavior-classifier/2")),
    installs=(
        InstallReport(
            "r9", "behavior-classifier", "9", "a" * 64, InstallState.FAILED, FailureCode.SMOKE_TEST_FAILED, "sums", 1e9
        ),
        InstallReport("r4", "person-detector", "4", "b" * 64, InstallState.ACTIVE, None, "swapped", 1e9),
    ),
    behavior_model_fallback=True,
    model_warnings=("the new detector found nobody in 1200 frames over 120 s",),
    updater=WorkerStatus(WorkerState.RUNNING),
)


@pytest.fixture
def health_url() -> Iterator[str]:
    registry = CollectorRegistry()
    registry.register(AgentCollector(lambda: STATUS))
    server = HealthServer("127.0.0.1", 0, lambda: STATUS, registry)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_status_says_fallback_installs_and_warnings(health_url: str) -> None:
    result = CliRunner().invoke(app, ["status", "--url", f"{health_url}/healthz"])
    assert result.exit_code == 0, result.output
    assert "behavior model: behavior-classifier/2 (FALLBACK: packaged default" in result.output
    assert "install behavior-classifier/9 (rollout r9): failed smoke_test_failed: sums" in result.output
    assert "install person-detector/4 (rollout r4): active: swapped" in result.output
    assert "model warning: the new detector found nobody" in result.output


def test_metrics_carry_the_fallback_and_each_install(health_url: str) -> None:
    text = httpx.get(f"{health_url}/metrics", timeout=5).text
    assert "retail_edge_behavior_model_fallback 1.0" in text
    assert (
        'retail_edge_model_install{failure_code="smoke_test_failed",model="behavior-classifier/9",rollout="r9",'
        'state="failed"} 1.0'
    ) in text
    assert 'retail_edge_worker_failed{worker="updater"} 0.0' in text
