"""The watchdog of the agent's worker threads (camera readers, sync), as Frigate's watchdog is of its processes.

The scheduler calls :meth:`Supervisor.check` on every round of its loop. A
thread that died with an exception is started again after the backoff its
:class:`~edge_agent.runtime.restart_policy.RestartPolicy` decides, or marked
failed when it died more often than the policy allows within its window; a
thread that returned by itself (a file that ended) is left stopped. No thread
of its own: a hung scheduler is systemd's watchdog's business.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from edge_agent.config.models import SupervisorConfig
from edge_agent.runtime.restart_policy import RestartPolicy
from edge_agent.status import WorkerState, WorkerStatus

logger = logging.getLogger(__name__)


def describe(e: BaseException) -> str:
    """An exception as a person reads it in a status: ``OSError: [Errno 5] Input/output error``."""
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class SupervisedThread:
    """One worker's thread, started again by the supervisor each time it dies."""

    def __init__(self, name: str, target: Callable[[], None], policy: RestartPolicy) -> None:
        self.name = name
        self.target = target
        self.policy = policy
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._died_of: str | None = None  # set by the thread when ``target`` raised
        self._state = WorkerState.STOPPED
        self._restarts = 0
        self._last_error = ""
        self.restart_at = 0.0  # monotonic; while RESTARTING

    def start(self) -> None:
        thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        with self._lock:
            self._thread = thread
            self._died_of = None
            self._state = WorkerState.RUNNING
        thread.start()

    def _run(self) -> None:
        try:
            self.target()
        except Exception as e:  # any death is the supervisor's to handle: record it, the thread ends
            logger.exception("%s: worker died", self.name)
            with self._lock:
                self._died_of = describe(e)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> WorkerStatus:
        with self._lock:
            return WorkerStatus(self._state, self._restarts, self._last_error)

    def check(self, now: float) -> None:
        """Notices a death and applies the policy; restarts when the wait is over."""
        with self._lock:
            state, died_of = self._state, self._died_of
        if state is WorkerState.RUNNING and self._thread is not None and not self._thread.is_alive():
            if died_of is None:
                with self._lock:
                    self._state = WorkerState.STOPPED
                return
            decision = self.policy.on_death(now)
            with self._lock:
                self._last_error = died_of
                self._state = WorkerState.RESTARTING if decision.restart else WorkerState.FAILED
            if decision.restart:
                self.restart_at = now + decision.delay_s
                logger.warning(
                    "%s: died (%s); restart %d of %d allowed within %.0f s, in %.1f s",
                    self.name,
                    died_of,
                    decision.restarts_in_window,
                    self.policy.config.max_restarts,
                    self.policy.config.window_s,
                    decision.delay_s,
                )
            else:
                logger.error(
                    "%s: died more than %d times within %.0f s; not restarted (reload or restart the agent "
                    "once fixed): %s",
                    self.name,
                    self.policy.config.max_restarts,
                    self.policy.config.window_s,
                    died_of,
                )
        elif state is WorkerState.RESTARTING and now >= self.restart_at:
            logger.info("%s: restarting", self.name)
            with self._lock:
                self._restarts += 1
            self.start()


class Supervisor:
    """The supervised threads by name; the scheduler's loop calls :meth:`check`."""

    def __init__(
        self,
        config: SupervisorConfig,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        self._threads: dict[str, SupervisedThread] = {}

    def start(self, name: str, target: Callable[[], None]) -> SupervisedThread:
        """Starts ``target`` in a supervised thread called ``name`` (replacing a stopped one of that name)."""
        supervised = SupervisedThread(name, target, RestartPolicy(self.config, random.Random(self.rng.random())))
        self._threads[name] = supervised
        supervised.start()
        return supervised

    def remove(self, name: str) -> SupervisedThread:
        """No longer watched (the caller stops and joins it)."""
        return self._threads.pop(name)

    def check(self) -> None:
        now = self.clock()
        for supervised in list(self._threads.values()):
            supervised.check(now)

    def status(self, name: str) -> WorkerStatus:
        supervised = self._threads.get(name)
        return supervised.status() if supervised is not None else WorkerStatus(WorkerState.STOPPED)

    def join(self, name: str, timeout: float) -> None:
        supervised = self._threads.get(name)
        if supervised is not None:
            supervised.join(timeout)

    def is_alive(self, name: str) -> bool:
        supervised = self._threads.get(name)
        return supervised is not None and supervised.is_alive()
