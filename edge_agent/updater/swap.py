"""The hand-over of a tested model from the updater's thread to the scheduler, and its probation there.

The updater loads and smoke-tests a model in its own thread, then offers it here;
the scheduler takes it at the start of its next round, between two detector
batches, so no frame waits for a model to load and none is dropped for the swap.
The model it replaced stays loaded while the new one is on probation, so that a
failure at run time swaps it back at once (:mod:`edge_agent.updater.policy` judges).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge_agent.updater.policy import Installed, Probation


@dataclass
class Swap:
    """A tested model waiting for the scheduler: ``model`` is a Detector or a BehaviorClassifier."""

    kind: str
    model: Any
    installed: Installed
    rollout_id: str
    taken: threading.Event = field(default_factory=threading.Event)


class SwapBox:
    """At most one waiting model per role; a newer offer replaces a waiting one (never seen by a frame)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, Swap] = {}

    def offer(self, swap: Swap) -> None:
        with self._lock:
            self._waiting[swap.kind] = swap

    def withdraw(self, swap: Swap) -> bool:
        """Takes ``swap`` back unless the scheduler took it already; True when withdrawn."""
        with self._lock:
            if self._waiting.get(swap.kind) is swap and not swap.taken.is_set():
                del self._waiting[swap.kind]
                return True
            return False

    def take(self) -> list[Swap]:
        with self._lock:
            if not self._waiting:
                return []
            out, self._waiting = list(self._waiting.values()), {}
        return out


@dataclass
class OnProbation:
    """A swapped-in model's record since the swap, with the model it replaced (kept loaded until confirmed)."""

    swap: Swap
    previous: Any
    previous_people_rate: float = 0.0
    since: float = field(default_factory=time.monotonic)
    runs: int = 0
    errors: int = 0
    non_finite: int = 0
    frames: int = 0
    frames_with_people: int = 0
    warned: bool = False

    def probation(self, now: float) -> Probation:
        return Probation(
            kind=self.swap.kind,
            seconds=now - self.since,
            runs=self.runs,
            errors=self.errors,
            non_finite=self.non_finite,
            frames=self.frames,
            frames_with_people=self.frames_with_people,
            previous_people_rate=self.previous_people_rate,
            warned=self.warned,
        )


class SwapEvents(Protocol):
    """What the scheduler tells the updater about a swapped model (called from the scheduler's thread)."""

    def swapped(self, swap: Swap) -> None: ...

    def rolled_back(self, swap: Swap, reason: str) -> None: ...

    def confirmed(self, swap: Swap) -> None: ...

    def warned(self, swap: Swap, reason: str) -> None: ...
