"""The agent's model updater: central's assignments in, tested models handed to the scheduler, outcomes reported.

Its thread (supervised like the sync worker) takes the latest assignments from
the heartbeat reply and, for each model role, decides what to do
(:func:`edge_agent.updater.policy.plan`): keep, download, take the kept previous
version from disk, wait or refuse. An install goes pending, downloading,
verifying (size, SHA-256, contract), staged, smoke-tested, active; any failure
leaves the working model in place. Each install's latest state is reported in
the next heartbeat. At start it picks the models to run: the manifest's active
ones, else their previous ones, else the configured ones, and the packaged
default behaviour model only when nothing else loads (said in the heartbeat).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.behavior.classifier import BehaviorClassifier, BehaviorModelError
from edge_agent.config.models import AgentConfig
from edge_agent.detect.base import Detector, build_detector
from edge_agent.updater import checks
from edge_agent.updater.download import Downloader, Fetch, file_name
from edge_agent.updater.manifest import Manifest, ManifestError, intact
from edge_agent.updater.policy import (
    BEHAVIOR,
    DETECTOR,
    Action,
    Assignment,
    Installed,
    InstallError,
    InstallReport,
    InstallState,
    LastFailure,
    RuntimeLimits,
    Step,
    next_state,
    plan,
)
from edge_agent.updater.swap import Swap, SwapBox
from retail_common.backoff import Backoff
from retail_common.rollout import FailureCode

logger = logging.getLogger(__name__)

MAX_REPORTS = 8  # installs reported per heartbeat: the latest per rollout and model
MAX_FAILURES = 64  # remembered failed artifacts (a bounded memory of what not to try again)
POLL_S = 1.0


@dataclass(frozen=True)
class StartModels:
    detector: Detector[Any, Any]
    classifier: BehaviorClassifier
    behavior_fallback: bool  # the packaged default runs because nothing else could be loaded


class ModelUpdater:
    def __init__(self, config: AgentConfig, fetch: Fetch | None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.fetch = fetch
        self.clock = clock
        self.folder = config.models_dir
        self.manifest = Manifest(self.folder)
        self.swaps = SwapBox()
        self.behavior_fallback = False
        self.fallback_reason = ""
        self.warnings: dict[str, str] = {}  # role -> the latest run-time warning about its model
        self._lock = threading.Lock()  # manifest, reports, failures: the updater's and the scheduler's threads
        self._reports: OrderedDict[tuple[str, str], InstallReport] = OrderedDict()
        self._failures: OrderedDict[tuple[str, str, str], LastFailure] = OrderedDict()
        self._assignments: list[Assignment] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        u = config.updates
        self.limits = RuntimeLimits(u.probation_s, u.silent_detector_s, u.silent_previous_rate)

    # --- start-up ---------------------------------------------------------------------------------------

    def start_models(self) -> StartModels:
        """The models to start on (see the module's docstring); raises only where the configured ones fail and
        the manifest names none."""
        try:
            self.manifest.load()
        except ManifestError as e:
            logger.error("model manifest ignored, starting on the configured models: %s", e)
        detector = self._start_detector()
        classifier = self._start_classifier()
        return StartModels(detector, classifier, self.behavior_fallback)

    def _from_manifest(self, kind: str) -> Any | None:
        for which, entry in (
            ("active", self.manifest.active.get(kind)),
            ("previous", self.manifest.previous.get(kind)),
        ):
            if entry is None:
                continue
            problem = intact(self.folder, entry)
            if problem is None:
                try:
                    model = checks.open_model(kind, self.folder / entry.file, entry.ref, self.config)
                except InstallError as e:
                    problem = e.message
                else:
                    if which == "previous":
                        logger.error(
                            "%s model: the active one is unusable; starting on the previous, %s", kind, entry.ref
                        )
                        with self._lock:  # the broken file is dropped, not kept as the previous one
                            self._write(lambda: self.manifest.roll_back(kind, self.manifest.active[kind]))
                    return model
            logger.error("%s model %s (%s in the manifest) cannot be used: %s", kind, entry.ref, which, problem)
        return None

    def _start_detector(self) -> Detector[Any, Any]:
        model = self._from_manifest(DETECTOR)
        return model if model is not None else build_detector(self.config.detector)

    def _start_classifier(self) -> BehaviorClassifier:
        model = self._from_manifest(BEHAVIOR)
        if model is not None:
            return model  # type: ignore[no-any-return]
        wanted = BEHAVIOR in self.manifest.active
        cfg = self.config.behavior
        if not wanted:
            return BehaviorClassifier(cfg.model, threads=cfg.threads)  # a bad configured model stops the start
        if cfg.model is not None:
            try:
                return BehaviorClassifier(cfg.model, threads=cfg.threads)
            except BehaviorModelError as e:
                logger.error("the configured behaviour model cannot be used either: %s", e)
        self.behavior_fallback = True
        self.fallback_reason = "no delivered or configured behaviour model could be loaded"
        classifier = BehaviorClassifier(None, threads=cfg.threads)
        logger.error(
            "FALLBACK: running the packaged default behaviour model %s: %s",
            classifier.model_version,
            self.fallback_reason,
        )
        return classifier

    # --- assignments and reports --------------------------------------------------------------------------

    def assign(self, assignments: Sequence[Assignment]) -> None:
        """The models central wants now (from a heartbeat reply; called from the sync thread)."""
        with self._lock:
            changed = list(assignments) != self._assignments
            self._assignments = list(assignments)
        if changed:
            self._wake.set()

    def reports(self) -> tuple[InstallReport, ...]:
        with self._lock:
            return tuple(self._reports.values())

    def _report(
        self,
        a: Assignment,
        state: InstallState,
        code: FailureCode | None = None,
        message: str = "",
        bytes_done: int = 0,
    ) -> None:
        key = (a.rollout_id, a.name)
        with self._lock:
            self._reports.pop(key, None)
            self._reports[key] = InstallReport(
                a.rollout_id, a.name, a.version, a.sha256, state, code, message[:500], self.clock(), bytes_done
            )
            while len(self._reports) > MAX_REPORTS:
                self._reports.popitem(last=False)

    def _failed(self, a: Assignment, state: InstallState, code: FailureCode, message: str) -> None:
        logger.error("%s (rollout %s): install failed, %s: %s", a.ref, a.rollout_id, code.value, message)
        self._report(a, state, code, message)
        with self._lock:
            self._failures[(a.name, a.version, a.sha256)] = LastFailure(a.rollout_id, a.sha256, code, self.clock())
            while len(self._failures) > MAX_FAILURES:
                self._failures.popitem(last=False)

    # --- the thread ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: works through the current assignments, then waits for new ones (or a retry)."""
        self._stop = stop
        while not stop.is_set():
            with self._lock:
                assignments = list(self._assignments)
            for a in assignments:
                if stop.is_set():
                    break
                self.handle(a)
            self._wake.wait(POLL_S)
            self._wake.clear()

    def handle(self, a: Assignment) -> None:
        """Brings one assignment as far as it goes now."""
        kind = a.kind
        u = self.config.updates
        with self._lock:
            active = self.manifest.active.get(kind) if kind else None
            previous = self.manifest.previous.get(kind) if kind else None
            last = self._failures.get((a.name, a.version, a.sha256))
        action = plan(a, active, previous, last, self.clock(), u.retry_failed_s, int(u.max_model_mb * 1024 * 1024))
        if action is Action.KEEP:
            if (a.rollout_id, a.name) not in self._reports:
                self._report(a, InstallState.ACTIVE, message="already running it")
            return
        if action is Action.IGNORE:
            if (a.rollout_id, a.name) not in self._reports:
                logger.warning(
                    "%s: assignment ignored (not a model this agent runs, or %d bytes is past %s MB)",
                    a.ref,
                    a.size_bytes,
                    u.max_model_mb,
                )
                self._report(
                    a,
                    InstallState.FAILED,
                    FailureCode.CONTRACT_MISMATCH,
                    f"not a model this agent runs, or larger than {u.max_model_mb:g} MB",
                )
            return
        if action in (Action.WAIT, Action.REFUSED) or kind is None:
            return
        self._install(a, kind, action)

    def _install(self, a: Assignment, kind: str, action: Action) -> None:
        if action is Action.FROM_DISK:
            kept = Installed(a.name, a.version, a.sha256, a.size_bytes, file_name(a), a.rollout_id)
            problem = intact(self.folder, kept)
            if problem is not None:
                logger.warning("%s: the kept file cannot be used (%s); downloading it again", a.ref, problem)
                action = Action.DOWNLOAD
        state = InstallState.PENDING
        self._report(a, state)
        try:
            if action is Action.FROM_DISK:
                state = next_state(state, Step.FROM_DISK)
                self._report(a, state, message="the kept previous version, from disk")
                path = self.folder / file_name(a)
            else:
                state = next_state(state, Step.START_DOWNLOAD)
                self._report(a, state)
                path = self._download(a)
                state = next_state(state, Step.DOWNLOADED)
                self._report(a, state, bytes_done=a.size_bytes)
            model = checks.open_model(kind, path, a.ref, self.config)  # the contract, in a new session
            state = next_state(state, Step.VERIFIED)
            self._report(a, state)
            limit = self.config.updates.smoke_behavior_ms if kind == BEHAVIOR else self.config.updates.smoke_detector_ms
            ms = checks.smoke_test(kind, model, limit)
            state = next_state(state, Step.SMOKE_PASSED)
            self._report(a, state, message=f"smoke test passed in {ms:.0f} ms")
        except InstallError as e:
            self._failed(a, next_state(state, Step.FAIL), e.code, e.message)
            with self._lock:
                self._remove_unkept()  # a refused file does not stay on the box's disk
            return
        installed = Installed(a.name, a.version, a.sha256, a.size_bytes, path.name, a.rollout_id)
        swap = Swap(kind, model, installed, a.rollout_id)
        self.swaps.offer(swap)
        deadline = time.monotonic() + self.config.updates.swap_wait_s
        while not swap.taken.wait(0.1) and time.monotonic() < deadline and not self._stop.is_set():
            pass
        if not swap.taken.is_set() and self.swaps.withdraw(swap):
            logger.warning(
                "%s: the scheduler did not take the model within %.0f s; tried again later",
                a.ref,
                self.config.updates.swap_wait_s,
            )
            self._report(a, InstallState.PENDING, message="tested, waiting for the scheduler")

    def _download(self, a: Assignment) -> Path:
        if self.fetch is None:
            raise InstallError(FailureCode.DOWNLOAD_FAILED, "the agent has no connection to central configured")
        u = self.config.updates
        downloader = Downloader(
            self.fetch,
            self.folder,
            u.download_attempts,
            Backoff(u.backoff_initial_s, u.backoff_max_s),
            self._stop,
            progress=lambda done: self._progress(a, done),
        )
        return downloader.download(a)

    def _progress(self, a: Assignment, done: int) -> None:
        with self._lock:
            report = self._reports.get((a.rollout_id, a.name))
        if report is not None and report.state is InstallState.DOWNLOADING:
            self._report(a, InstallState.DOWNLOADING, bytes_done=done)

    # --- what the scheduler tells (its thread) ---------------------------------------------------------------

    def swapped(self, swap: Swap) -> None:
        with self._lock:
            self._write(lambda: self.manifest.activate(swap.kind, swap.installed))
            self._remove_unkept()
            if swap.kind == BEHAVIOR:
                self.behavior_fallback = False
            self.warnings.pop(swap.kind, None)
        self._report(_assignment_of(swap.installed), InstallState.ACTIVE, message="swapped in between two batches")

    def rolled_back(self, swap: Swap, reason: str) -> None:
        with self._lock:
            self._write(lambda: self.manifest.roll_back(swap.kind, swap.installed))
        a = _assignment_of(swap.installed)
        self._failed(a, next_state(InstallState.ACTIVE, Step.RUNTIME_FAILURE), FailureCode.RUNTIME_FAILURE, reason)

    def confirmed(self, swap: Swap) -> None:
        logger.info(
            "%s model %s passed its probation; the previous one is unloaded (kept on disk)",
            swap.kind,
            swap.installed.ref,
        )

    def warned(self, swap: Swap, reason: str) -> None:
        with self._lock:
            self.warnings[swap.kind] = reason
        self._report(_assignment_of(swap.installed), InstallState.ACTIVE, message=f"warning: {reason}")

    def _write(self, change: Callable[[], None]) -> None:
        """A change of the manifest, written to disk; a full or failing disk is logged, never raised: the swap
        it records has happened (this runs in the scheduler's thread), only a restart would not know it."""
        try:
            change()
        except OSError as e:
            logger.error(
                "the model manifest %s could not be written (%s): a restart without central starts on the models "
                "it named before",
                self.manifest.path,
                e.strerror or e,
            )

    def _remove_unkept(self) -> None:
        """Only the active and previous file of each role stay on disk (the disk of an edge box is small)."""
        kept = self.manifest.kept_files()
        for path in self.folder.glob("*.onnx"):
            if path.name not in kept:
                try:
                    path.unlink(missing_ok=True)
                except OSError as e:
                    logger.warning("cannot remove %s: %s", path, e.strerror or e)
                    continue
                logger.info("removed %s (neither active nor previous)", path.name)


def _assignment_of(m: Installed) -> Assignment:
    return Assignment(m.name, m.version, m.sha256, m.size_bytes, m.rollout_id)
