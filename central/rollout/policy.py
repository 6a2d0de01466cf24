"""The rollout state machine and its decisions, as pure code (no database, no gRPC): tested with tables.

A rollout moves a registry version (snapshotted with its SHA-256 at the start) onto a set of stores: first a
few canary stores, then, when those run it and their shoppers' behaviour mix still looks like the rest of the
fleet's, every store. Operators can promote, pause, resume, roll back and abort at any point that allows it;
the planner halts or pauses by itself, always with a :class:`~retail_common.rollout.FailureCode`, a message
and the numbers behind it.

::

    canary --all canary stores active--> observing --observed, mix close--> ramping --all active--> completed
      |  \\                                  |    \\--too little data--> paused (resume: back where it was)
      |   \\--too many failures, a canary silent, mix shifted-->  halted
      every live state --rollback--> rolling_back --every store back--> rolled_back
      every live state --abort--> aborted;  a newer rollout of the model --> superseded

Which version each store is told to run follows from the rollout's state and the store's role
(:func:`assigned`): canary stores get the new version from the start, every store once it is promoted, and
every store the previous version while rolling back.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from retail_common.rollout import FailureCode


class RolloutState(str, Enum):
    CANARY = "canary"  # canary stores install the version
    OBSERVING = "observing"  # every canary store runs it: watching their data for observe_s
    RAMPING = "ramping"  # promoted: every store installs it
    COMPLETED = "completed"  # every store runs it; stays the stores' baseline until a newer rollout
    PAUSED = "paused"  # waits for an operator (or too little data to judge the canary)
    HALTED = "halted"  # stopped by a failure: the stores keep what they run; rollback or resume
    ROLLING_BACK = "rolling_back"  # every store goes back to the previous version
    ROLLED_BACK = "rolled_back"
    SUPERSEDED = "superseded"  # a newer rollout of the same model took over
    ABORTED = "aborted"  # stopped by an operator; stores follow the model's older rollouts again


class StoreState(str, Enum):
    PENDING = "pending"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    STAGED = "staged"
    SMOKE_TESTED = "smoke_tested"
    ACTIVE = "active"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class Command(str, Enum):
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    ROLLBACK = "rollback"
    ABORT = "abort"


S = RolloutState
LIVE = frozenset({S.CANARY, S.OBSERVING, S.RAMPING, S.PAUSED, S.HALTED, S.ROLLING_BACK})  # the planner's work
FINAL = frozenset({S.ROLLED_BACK, S.SUPERSEDED, S.ABORTED})  # nothing moves them; a new rollout is the way on
IN_PROGRESS = frozenset({S.CANARY, S.OBSERVING, S.RAMPING})  # moving forward

# command -> {from state: to state}; RESUME's target is where the rollout paused from (see :func:`apply`)
COMMANDS: Mapping[Command, Mapping[RolloutState, RolloutState]] = {
    Command.PROMOTE: dict.fromkeys((S.CANARY, S.OBSERVING, S.PAUSED, S.HALTED), S.RAMPING),
    Command.PAUSE: dict.fromkeys((S.CANARY, S.OBSERVING, S.RAMPING), S.PAUSED),
    Command.RESUME: {S.PAUSED: S.CANARY, S.HALTED: S.CANARY},
    Command.ROLLBACK: dict.fromkeys((*IN_PROGRESS, S.PAUSED, S.HALTED, S.COMPLETED), S.ROLLING_BACK),
    Command.ABORT: dict.fromkeys((*IN_PROGRESS, S.PAUSED, S.HALTED, S.ROLLING_BACK), S.ABORTED),
}


class TransitionError(ValueError):
    """A command the rollout's state does not allow; the message says which states would."""


def apply(command: Command, state: RolloutState, paused_from: RolloutState | None) -> RolloutState:
    """Where ``command`` takes a rollout in ``state``; :class:`TransitionError` if it cannot."""
    targets = COMMANDS[command]
    if state not in targets:
        allowed = ", ".join(s.value for s in targets)
        raise TransitionError(f"cannot {command.value} a rollout that is {state.value} (only when {allowed})")
    if command is Command.RESUME and state is S.PAUSED and paused_from in IN_PROGRESS:
        return paused_from
    return targets[state]


def assigned(state: RolloutState, canary: bool) -> str | None:
    """Which of the rollout's versions a store of it runs: ``"new"``, ``"previous"`` or None (the rollout says
    nothing: the store follows the model's older rollouts)."""
    if state in (S.RAMPING, S.COMPLETED):
        return "new"
    if state in (S.CANARY, S.OBSERVING, S.PAUSED, S.HALTED):
        return "new" if canary else None
    if state in (S.ROLLING_BACK, S.ROLLED_BACK):
        return "previous"
    return None


def is_canary(store_id: str, rollout_id: str, percent: float) -> bool:
    """Deterministic and explainable: the store is a canary when the first 8 bytes of SHA-256(rollout id, store
    id) as a fraction of 2**64 fall below ``percent``/100. Stable across restarts and replicas."""
    digest = hashlib.sha256(f"{rollout_id}\x00{store_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < percent / 100.0


def choose_canaries(stores: Sequence[str], rollout_id: str, percent: float) -> set[str]:
    """The stores :func:`is_canary` picks, and at least one when ``percent`` > 0 and there are stores (the one
    with the lowest hash), so a small fleet still gets a canary."""
    if percent <= 0 or not stores:
        return set()
    chosen = {s for s in stores if is_canary(s, rollout_id, percent)}
    if not chosen:
        chosen = {min(stores, key=lambda s: hashlib.sha256(f"{rollout_id}\x00{s}".encode()).digest())}
    return chosen


# --- install reports ---------------------------------------------------------------------------

REPORTED = {
    1: StoreState.PENDING,
    2: StoreState.DOWNLOADING,
    3: StoreState.VERIFYING,
    4: StoreState.STAGED,
    5: StoreState.SMOKE_TESTED,
    6: StoreState.ACTIVE,
    7: StoreState.FAILED,
    8: StoreState.ROLLED_BACK,
}  # InstallState numbers of the proto


def store_state_from_report(
    rollout: RolloutState, report_version: str, new_version: str, previous_version: str | None, install_state: int
) -> StoreState | None:
    """The store's state after an install report, or None when the report does not concern the rollout now
    (another version, or an unknown state). While rolling back, the previous version active means the store is
    back (ROLLED_BACK); a store whose agent rolled the new version back by itself has FAILED."""
    reported = REPORTED.get(install_state)
    if reported is None:
        return None
    if rollout in (S.ROLLING_BACK, S.ROLLED_BACK):
        if report_version == previous_version and reported is StoreState.ACTIVE:
            return StoreState.ROLLED_BACK
        return None
    if report_version != new_version:
        return None
    return StoreState.FAILED if reported is StoreState.ROLLED_BACK else reported


# --- the planner's decisions -------------------------------------------------------------------


@dataclass(frozen=True)
class StoreView:
    store_id: str
    canary: bool
    state: StoreState
    failure_code: str
    last_heartbeat: float | None  # the store's latest agent heartbeat (None: never)


@dataclass(frozen=True)
class LabelMix:
    """Classified visits per behaviour label of the canary stores and of the rest, over the same hours."""

    canary: Mapping[str, int]
    rest: Mapping[str, int]


@dataclass(frozen=True)
class HaltPolicy:
    max_failures: int  # canary stores that may fail before the rollout halts
    observe_s: float
    heartbeat_lost_s: float
    shift_threshold: float  # Jensen-Shannon distance
    min_labelled_visits: int  # per side


@dataclass(frozen=True)
class RolloutView:
    state: RolloutState
    state_since: float
    observe_from: float | None
    stores: Sequence[StoreView]


@dataclass(frozen=True)
class Decision:
    to: RolloutState
    code: FailureCode | None = None
    message: str = ""
    details: Mapping[str, object] = field(default_factory=dict)
    observe_from: float | None = None  # set when the canary is complete and observation starts


def js_distance(p: Mapping[str, int], q: Mapping[str, int]) -> float:
    """Jensen-Shannon distance (base 2: 0 same mix, 1 no label in common) of two label counts."""
    labels = sorted(set(p) | set(q))
    sp, sq = sum(p.values()), sum(q.values())
    if sp <= 0 or sq <= 0:
        raise ValueError("both label counts need at least one visit")
    a = [p.get(k, 0) / sp for k in labels]
    b = [q.get(k, 0) / sq for k in labels]
    m = [(x + y) / 2 for x, y in zip(a, b, strict=True)]

    def kl(x: list[float]) -> float:
        return sum(xi * math.log2(xi / mi) for xi, mi in zip(x, m, strict=True) if xi > 0)

    return math.sqrt(max(0.0, (kl(a) + kl(b)) / 2))


def decide(view: RolloutView, policy: HaltPolicy, now: float, mix: LabelMix | None) -> Decision | None:
    """What the planner does with the rollout now, or None (nothing yet). ``mix`` is read only when the
    canary's observation is over (:func:`needs_mix`)."""
    if view.state not in IN_PROGRESS:
        return _rolled_back(view)
    scope = [s for s in view.stores if s.canary] if view.state is not S.RAMPING else list(view.stores)
    halt = _too_many_failures(view.state, scope, policy) or _heartbeats_lost(view, scope, policy, now)
    if halt is not None:
        return halt
    active = all(s.state is StoreState.ACTIVE for s in scope)
    if view.state is S.CANARY and active:
        return Decision(S.OBSERVING, message="every canary store runs the version", observe_from=now)
    if view.state is S.RAMPING and active:
        return Decision(S.COMPLETED, message=f"all {len(scope)} stores run the version")
    if needs_mix(view, policy, now):
        return _judge(mix or LabelMix({}, {}), policy)
    return None


def _rolled_back(view: RolloutView) -> Decision | None:
    """Rolling back is over when no store is left on the new version (a store that never got it counts as back)."""
    back = (StoreState.ROLLED_BACK, StoreState.PENDING, StoreState.FAILED)
    if view.state is S.ROLLING_BACK and all(s.state in back for s in view.stores):
        return Decision(S.ROLLED_BACK, message="every store runs the previous version")
    return None


def _too_many_failures(state: RolloutState, scope: Sequence[StoreView], policy: HaltPolicy) -> Decision | None:
    failed = [s for s in scope if s.state is StoreState.FAILED]
    if len(failed) <= policy.max_failures:
        return None
    codes: dict[str, int] = {}
    for s in failed:
        codes[s.failure_code] = codes.get(s.failure_code, 0) + 1
    where = "stores" if state is S.RAMPING else "canary stores"
    return Decision(
        S.HALTED,
        _code_of(codes),
        f"{len(failed)} of {len(scope)} {where} failed to install or run the version "
        f"(at most {policy.max_failures} allowed): {', '.join(f'{c} x{n}' for c, n in sorted(codes.items()))}",
        {"failed": len(failed), "stores": len(scope), "max_failures": policy.max_failures, "codes": codes},
    )


def _heartbeats_lost(view: RolloutView, scope: Sequence[StoreView], policy: HaltPolicy, now: float) -> Decision | None:
    """Canary agents silent for longer than allowed (counted from when the rollout entered its state, so that a
    store silent before the rollout started gets the whole time to show up)."""
    if view.state is S.RAMPING:
        return None
    since = max(view.state_since, view.observe_from or 0.0)
    lost = sorted(s.store_id for s in scope if now - max(s.last_heartbeat or 0.0, since) > policy.heartbeat_lost_s)
    if not lost:
        return None
    return Decision(
        S.HALTED,
        FailureCode.HEARTBEAT_LOST,
        f"{len(lost)} canary store(s) sent no heartbeat for over {policy.heartbeat_lost_s:.0f} s: "
        f"{', '.join(lost[:10])}",
        {"lost": lost[:100], "heartbeat_lost_s": policy.heartbeat_lost_s},
    )


def needs_mix(view: RolloutView, policy: HaltPolicy, now: float) -> bool:
    """Whether the canary's observation is over, so that its behaviour mix is to be judged now."""
    start = view.observe_from if view.observe_from is not None else view.state_since
    return view.state is S.OBSERVING and now - start >= policy.observe_s


def _judge(mix: LabelMix, policy: HaltPolicy) -> Decision:
    nc, nr = sum(mix.canary.values()), sum(mix.rest.values())
    details: dict[str, object] = {
        "canary_visits": nc,
        "rest_visits": nr,
        "min_labelled_visits": policy.min_labelled_visits,
        "threshold": policy.shift_threshold,
        "canary_mix": dict(mix.canary),
        "rest_mix": dict(mix.rest),
    }
    if nc < policy.min_labelled_visits or nr < policy.min_labelled_visits:
        return Decision(
            S.PAUSED,
            FailureCode.INCONCLUSIVE,
            f"too little data to judge the canary: {nc} classified visits at canary stores and {nr} at the rest "
            f"(at least {policy.min_labelled_visits} each); resume to observe again, or promote",
            details,
        )
    distance = js_distance(mix.canary, mix.rest)
    details["js_distance"] = round(distance, 4)
    if distance > policy.shift_threshold:
        return Decision(
            S.HALTED,
            FailureCode.DISTRIBUTION_SHIFT,
            f"the canary stores' behaviour mix moved away from the rest of the fleet: Jensen-Shannon distance "
            f"{distance:.3f} > {policy.shift_threshold} ({nc} canary and {nr} other visits)",
            details,
        )
    return Decision(
        S.RAMPING,
        message=f"canary passed: Jensen-Shannon distance {distance:.3f} <= {policy.shift_threshold} "
        f"({nc} canary and {nr} other visits); promoted",
        details=details,
    )


def _code_of(codes: Mapping[str, int]) -> FailureCode:
    """The most frequent failure code among the failed stores (ties: the first in FailureCode's order).
    Install reports are refused without a known code, so every failed store has one."""
    order = list(FailureCode)
    return min((FailureCode(c) for c in codes), key=lambda c: (-codes[c.value], order.index(c)))
