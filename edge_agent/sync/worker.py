"""The sync worker: pushes the local store's outbox to central until every item is acknowledged.

Everything the agent records is committed to SQLite first; this thread reads
what central has not acknowledged, pushes it in batches and marks items only
on acknowledgement, so a restart (or a crash) resumes where it stopped and a
batch whose answer was lost is simply sent again (central stores it once).
Items central refuses as bad data are kept with the reason and not resent.
While central is unreachable it waits with capped exponential backoff.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from edge_agent.config.models import SyncConfig
from edge_agent.status import AgentStatus
from edge_agent.store.sqlite_store import EdgeStore, Outbox
from edge_agent.sync.client import CentralClient, ItemOutcome, Outcome, ProtocolError
from edge_agent.sync.heartbeat import assignments_of, heartbeat_pb
from edge_agent.updater.policy import Assignment
from retail_common.backoff import Backoff

logger = logging.getLogger(__name__)


@dataclass
class SyncStatus:
    """What the health endpoint and heartbeats report about sync."""

    acknowledged: int = 0
    rejected: int = 0
    backlog: int = 0
    last_success: float | None = None
    last_error: str = ""
    failures_in_a_row: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class SyncFailedError(RuntimeError):
    """A push did not complete; what was acknowledged before it is marked."""


class SyncWorker:
    def __init__(
        self,
        store: EdgeStore,
        client: CentralClient,
        config: SyncConfig,
        store_id: str,
        agent_id: str,
        status: Callable[[], AgentStatus] | None = None,
        clock: Callable[[], float] = time.time,
        on_assignments: Callable[[list[Assignment]], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.config = config
        self.store_id = store_id
        self.agent_id = agent_id
        self.agent_status = status  # what the heartbeat reports; no heartbeat without it
        self.clock = clock
        self.on_assignments = on_assignments  # the updater, told the models central wants after each heartbeat
        self.status = SyncStatus()
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._next_heartbeat = 0.0

    def sync_once(self, stop: threading.Event | None = None, deadline: float | None = None) -> int:
        """Push until nothing ready is pending (or ``stop`` is set, or the monotonic ``deadline`` passes);
        returns the items acknowledged. Raises :class:`SyncFailedError`."""
        done = 0
        while not (stop is not None and stop.is_set()) and not (deadline is not None and time.monotonic() > deadline):
            now = self.clock()
            outbox = self.store.pending(self.config.batch_size, now - self.config.bucket_grace_s, now)
            if not outbox:
                break
            try:
                outcomes = self.client.push(self.store_id, self.agent_id, uuid.uuid4().hex, outbox)
            except grpc.RpcError as e:
                raise SyncFailedError(f"push of {len(outbox)} item(s) failed: {_describe(e)}") from e
            except ProtocolError as e:
                raise SyncFailedError(str(e)) from e
            acknowledged, retry = self._apply(outbox, outcomes)
            done += acknowledged
            if retry:
                raise SyncFailedError(f"central asked to retry {retry} item(s): {_first_retry_reason(outcomes)}")
        with self.status.lock:
            self.status.backlog = self.store.backlog()
            self.status.last_success = self.clock()
            self.status.last_error = ""
        return done

    def _apply(self, outbox: Outbox, outcomes: list[ItemOutcome]) -> tuple[int, int]:
        """Mark acknowledged and refused items; returns (acknowledged, to retry)."""
        acked = outbox.where(outcomes, lambda o: o.outcome is Outcome.ACKNOWLEDGED)
        refused = outbox.where(outcomes, lambda o: o.outcome is Outcome.REJECTED)
        retry = outbox.where(outcomes, lambda o: o.outcome is Outcome.RETRY)
        if retry and acked:  # central stores others of the push: these items fail by themselves
            aside = self.store.mark_retry(retry, self.clock(), self.config.max_item_retries, self.config.set_aside_s)
            if aside:
                logger.error(
                    "store %s: %d item(s) asked to retry %d times while others were stored; set aside for %.0f s "
                    "(kept, tried again then): %s",
                    self.store_id,
                    len(aside),
                    self.config.max_item_retries,
                    self.config.set_aside_s,
                    _first_retry_reason(outcomes),
                )
        reasons = [o.reason or "refused by central" for o in outcomes if o.outcome is Outcome.REJECTED]
        self.store.mark_synced(acked, self.clock())
        if refused:
            self.store.mark_rejected(refused, reasons)
            logger.error(
                "store %s: central refused %d item(s), kept locally and not resent; first: %s",
                self.store_id,
                len(refused),
                reasons[0],
            )
        with self.status.lock:
            self.status.acknowledged += len(acked)
            self.status.rejected += len(refused)
        return len(acked), len(outbox) - len(acked) - len(refused)

    def heartbeat_if_due(self) -> None:
        if self.agent_status is None or self.clock() < self._next_heartbeat:
            return
        self._next_heartbeat = self.clock() + self.config.heartbeat_s
        with self.status.lock:
            self.status.backlog = self.store.backlog()
        try:
            reply = self.client.heartbeat(heartbeat_pb(self.agent_status(), self.clock()))
            if self.on_assignments is not None:
                self.on_assignments(assignments_of(reply))
        except grpc.RpcError as e:
            logger.warning("store %s: heartbeat failed: %s", self.store_id, _describe(e))
        except Exception:  # a heartbeat must never take the sync thread down with it
            logger.exception("store %s: heartbeat could not be built or sent", self.store_id)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set: push, heartbeat, wait the interval (or the backoff after a failure)."""
        while not stop.is_set():
            self.heartbeat_if_due()
            try:
                self.sync_once(stop)
            except Exception as e:  # SyncFailedError, or the store locked too long: keep trying, say so
                if not isinstance(e, SyncFailedError):
                    logger.exception("store %s: sync failed unexpectedly", self.store_id)
                delay = self.backoff.next_delay()
                with self.status.lock:
                    self.status.last_error = str(e)
                    self.status.failures_in_a_row = self.backoff.failures
                logger.warning("store %s: %s; next attempt in %.1f s", self.store_id, e, delay)
                stop.wait(delay)
                continue
            self.backoff.reset()
            with self.status.lock:
                self.status.failures_in_a_row = 0
            stop.wait(self.config.interval_s)

    def final_sync(self, deadline_s: float) -> bool:
        """One last push at shutdown, bounded by ``deadline_s``; True when nothing ready is left."""
        self.client.config = self.client.config.model_copy(update={"timeout_s": max(0.1, deadline_s)})
        try:
            self.sync_once(deadline=time.monotonic() + deadline_s)
        except SyncFailedError as e:
            logger.warning("store %s: last sync before stopping failed: %s (kept for next start)", self.store_id, e)
            return False
        return True


def _first_retry_reason(outcomes: list[ItemOutcome]) -> str:
    return next((o.reason for o in outcomes if o.outcome is Outcome.RETRY), "")


def _describe(e: grpc.RpcError) -> str:
    code = e.code() if isinstance(e, grpc.Call) else None
    details = e.details() if isinstance(e, grpc.Call) else str(e)
    return f"{code.name if code else 'error'}: {details}"
