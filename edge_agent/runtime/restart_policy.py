"""When a dead worker thread is restarted, and when it is given up on: pure decisions, no threads.

A worker that dies is restarted after an exponential, capped, fully jittered
wait (so a camera that crashes on every open does not spin), and at most
``max_restarts`` times within a sliding ``window_s``; one more death within the
window marks it failed for good (reported, never restarted in a tight loop; a
reload or a restart of the agent starts it with a fresh policy). A worker
that has not died for a whole window starts again from the first, short wait.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from edge_agent.config.models import SupervisorConfig
from retail_common.backoff import Backoff


@dataclass(frozen=True)
class RestartDecision:
    """``restart`` after ``delay_s`` seconds, or give up (``restart`` False: the worker has failed)."""

    restart: bool
    delay_s: float
    restarts_in_window: int  # counting this one when it restarts


class RestartPolicy:
    """One worker's restart history; :meth:`on_death` says what to do about each death."""

    def __init__(self, config: SupervisorConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s, rng=rng or random.Random())
        self._restarts: deque[float] = deque()
        self.failed = False

    def on_death(self, now: float) -> RestartDecision:
        """The worker died at ``now`` (monotonic seconds)."""
        while self._restarts and self._restarts[0] <= now - self.config.window_s:
            self._restarts.popleft()
        if self.failed or len(self._restarts) >= self.config.max_restarts:
            self.failed = True
            return RestartDecision(restart=False, delay_s=0.0, restarts_in_window=len(self._restarts))
        if not self._restarts:
            self.backoff.reset()
        self._restarts.append(now)
        return RestartDecision(restart=True, delay_s=self.backoff.next_delay(), restarts_in_window=len(self._restarts))
