"""The supervisor's restart policy as a table: when a dead worker is restarted, after how long, and when it is
given up on."""

from __future__ import annotations

import random

import pytest

from edge_agent.config.models import SupervisorConfig
from edge_agent.runtime.restart_policy import RestartPolicy

FAILED = None  # in the expected column: not restarted, the worker has failed


@pytest.mark.parametrize(
    ("max_restarts", "deaths", "expected_caps"),
    [
        pytest.param(3, [0, 100, 200], [1, 1, 1], id="deaths a window apart always restart after the first wait"),
        pytest.param(3, [0, 1, 2, 3], [1, 2, 4, FAILED], id="a burst doubles the wait, then fails"),
        pytest.param(3, [0, 1, 2, 3, 4, 500], [1, 2, 4, FAILED, FAILED, FAILED], id="failed stays failed"),
        pytest.param(3, [0, 10, 20, 61], [1, 2, 4, 8], id="the window slides: the death at 0 no longer counts"),
        pytest.param(6, [0, 1, 2, 3, 4, 5], [1, 2, 4, 8, 8, 8], id="the wait is capped"),
        pytest.param(0, [0], [FAILED], id="no restarts allowed"),
    ],
)
def test_restart_policy(max_restarts: int, deaths: list[float], expected_caps: list[float | None]) -> None:
    config = SupervisorConfig(backoff_initial_s=1, backoff_max_s=8, max_restarts=max_restarts, window_s=60)
    policy = RestartPolicy(config, random.Random(1))
    for now, cap in zip(deaths, expected_caps, strict=True):
        decision = policy.on_death(now)
        if cap is FAILED:
            assert not decision.restart, f"death at {now} s should fail the worker"
        else:
            assert decision.restart, f"death at {now} s should restart the worker"
            assert cap / 2 <= decision.delay_s <= cap  # full jitter in the upper half: agents spread out


def test_restarts_in_window_counts_this_restart() -> None:
    policy = RestartPolicy(SupervisorConfig(max_restarts=2, window_s=60), random.Random(1))
    assert [policy.on_death(t).restarts_in_window for t in (0, 1, 2)] == [1, 2, 2]
