"""The rollout state machine as tables: commands, assignments, reports, the planner's decisions."""

from __future__ import annotations

import re

import pytest

from central.rollout.policy import (
    COMMANDS,
    FINAL,
    Command,
    Decision,
    HaltPolicy,
    LabelMix,
    RolloutState,
    RolloutView,
    StoreState,
    StoreView,
    TransitionError,
    apply,
    assigned,
    choose_canaries,
    decide,
    is_canary,
    js_distance,
    store_state_from_report,
)
from retail_common.rollout import FailureCode

S, St, C = RolloutState, StoreState, Command
POLICY = HaltPolicy(max_failures=1, observe_s=600, heartbeat_lost_s=120, shift_threshold=0.15, min_labelled_visits=50)
T0 = 1_800_000_000.0
INCONCLUSIVE = FailureCode.INCONCLUSIVE
EVEN = {"decisive": 40, "interested": 40, "hesitant": 20}


@pytest.mark.parametrize(
    ("command", "state", "paused_from", "expected"),
    [
        (C.PROMOTE, S.CANARY, None, S.RAMPING),
        (C.PROMOTE, S.HALTED, None, S.RAMPING),
        (C.PROMOTE, S.PAUSED, S.OBSERVING, S.RAMPING),
        (C.PAUSE, S.OBSERVING, None, S.PAUSED),
        (C.PAUSE, S.RAMPING, None, S.PAUSED),
        (C.RESUME, S.PAUSED, S.RAMPING, S.RAMPING),  # back where it paused
        (C.RESUME, S.PAUSED, S.OBSERVING, S.OBSERVING),
        (C.RESUME, S.PAUSED, None, S.CANARY),
        (C.RESUME, S.HALTED, None, S.CANARY),  # a halted canary is watched again from the start
        (C.ROLLBACK, S.COMPLETED, None, S.ROLLING_BACK),
        (C.ROLLBACK, S.HALTED, None, S.ROLLING_BACK),
        (C.ABORT, S.ROLLING_BACK, None, S.ABORTED),
        (C.PROMOTE, S.RAMPING, None, "cannot promote a rollout that is ramping"),
        (C.PAUSE, S.HALTED, None, "cannot pause a rollout that is halted"),
        (C.RESUME, S.OBSERVING, None, "cannot resume a rollout that is observing (only when paused, halted)"),
        (C.ROLLBACK, S.ROLLED_BACK, None, "cannot rollback a rollout that is rolled_back"),
        (C.ABORT, S.COMPLETED, None, "cannot abort a rollout that is completed"),
        (C.PROMOTE, S.SUPERSEDED, None, "cannot promote a rollout that is superseded"),
    ],
)
def test_commands(command: Command, state: RolloutState, paused_from: RolloutState | None, expected: object) -> None:
    if isinstance(expected, RolloutState):
        assert apply(command, state, paused_from) is expected
    else:
        with pytest.raises(TransitionError, match=re.escape(str(expected))):
            apply(command, state, paused_from)


def test_every_state_has_a_way_out() -> None:
    """Each state that is not final can be left by a command, and every final state is only reached, not left
    (a new rollout of the model is the way on)."""
    leaving = {s for targets in COMMANDS.values() for s in targets}
    assert set(S) - FINAL - leaving == set()
    assert FINAL & leaving == set()


@pytest.mark.parametrize(
    ("state", "canary", "expected"),
    [
        (S.CANARY, True, "new"),
        (S.CANARY, False, None),
        (S.OBSERVING, False, None),
        (S.HALTED, True, "new"),  # a halt keeps what canaries run until an operator decides
        (S.RAMPING, False, "new"),
        (S.COMPLETED, False, "new"),
        (S.ROLLING_BACK, True, "previous"),
        (S.ROLLED_BACK, False, "previous"),
        (S.SUPERSEDED, True, None),
        (S.ABORTED, True, None),
    ],
)
def test_what_a_store_is_assigned(state: RolloutState, canary: bool, expected: str | None) -> None:
    assert assigned(state, canary) == expected


def test_canaries_are_chosen_by_hash_stably_and_at_least_one() -> None:
    stores = [f"store-{i:03d}" for i in range(400)]
    chosen = choose_canaries(stores, "r1", 10)
    assert chosen == choose_canaries(list(reversed(stores)), "r1", 10)  # order of the list does not matter
    assert 20 <= len(chosen) <= 60  # about 10 %
    assert chosen == {s for s in stores if is_canary(s, "r1", 10)}
    assert chosen != choose_canaries(stores, "r2", 10)  # another rollout, other canaries
    assert len(choose_canaries(["a", "b"], "r1", 1)) == 1  # a small fleet still gets one
    assert choose_canaries(stores, "r1", 0) == set()


@pytest.mark.parametrize(
    ("rollout", "version", "state", "expected"),
    [
        (S.CANARY, "2", 2, St.DOWNLOADING),
        (S.CANARY, "2", 6, St.ACTIVE),
        (S.CANARY, "2", 8, St.FAILED),  # the agent rolled it back after a runtime failure
        (S.CANARY, "1", 6, None),  # another version: not this rollout's business
        (S.CANARY, "2", 0, None),  # unspecified
        (S.ROLLING_BACK, "1", 6, St.ROLLED_BACK),
        (S.ROLLING_BACK, "2", 6, None),
        (S.ROLLING_BACK, "1", 2, None),
    ],
)
def test_install_reports(rollout: RolloutState, version: str, state: int, expected: StoreState | None) -> None:
    assert store_state_from_report(rollout, version, "2", "1", state) == expected


def _view(
    state: RolloutState, *stores: tuple[bool, StoreState, str], since: float = T0, seen: float = T0
) -> RolloutView:
    return RolloutView(
        state=state,
        state_since=since,
        observe_from=since if state is S.OBSERVING else None,
        stores=[StoreView(f"s{i}", canary, st, code, seen) for i, (canary, st, code) in enumerate(stores)],
    )


CANARY_OK = (True, St.ACTIVE, "")
REST = (False, St.PENDING, "")
FAILED = (True, St.FAILED, "sha256_mismatch")


@pytest.mark.parametrize(
    ("view", "now", "mix", "to", "code"),
    [
        (_view(S.CANARY, (True, St.DOWNLOADING, ""), REST), T0 + 10, None, None, None),
        (_view(S.CANARY, CANARY_OK, CANARY_OK, REST), T0 + 10, None, S.OBSERVING, None),
        (_view(S.CANARY, FAILED, CANARY_OK, REST), T0 + 10, None, None, None),  # one failure is allowed
        (_view(S.CANARY, FAILED, FAILED, REST), T0 + 10, None, S.HALTED, FailureCode.SHA256_MISMATCH),
        (_view(S.CANARY, CANARY_OK, REST, seen=T0 - 3600), T0 + 121, None, S.HALTED, FailureCode.HEARTBEAT_LOST),
        (_view(S.CANARY, CANARY_OK, REST, seen=T0 - 3600), T0 + 100, None, S.OBSERVING, None),
        (_view(S.OBSERVING, CANARY_OK, REST, seen=T0 + 590), T0 + 599, None, None, None),  # still observing
        (_view(S.OBSERVING, CANARY_OK, REST, seen=T0 + 590), T0 + 600, LabelMix(EVEN, EVEN), S.RAMPING, None),
        (
            _view(S.OBSERVING, CANARY_OK, REST, seen=T0 + 590),
            T0 + 600,
            LabelMix({"decisive": 10}, EVEN),
            S.PAUSED,
            FailureCode.INCONCLUSIVE,
        ),
        (
            _view(S.OBSERVING, CANARY_OK, REST, seen=T0 + 590),
            T0 + 600,
            LabelMix(EVEN, {}),
            S.PAUSED,
            FailureCode.INCONCLUSIVE,
        ),
        (
            _view(S.OBSERVING, CANARY_OK, REST, seen=T0 + 590),
            T0 + 600,
            LabelMix({"confused": 80, "decisive": 20}, EVEN),
            S.HALTED,
            FailureCode.DISTRIBUTION_SHIFT,
        ),
        (_view(S.RAMPING, CANARY_OK, (False, St.STAGED, "")), T0 + 10, None, None, None),
        (_view(S.RAMPING, CANARY_OK, (False, St.ACTIVE, "")), T0 + 10, None, S.COMPLETED, None),
        (_view(S.RAMPING, CANARY_OK, REST, seen=T0 - 3600), T0 + 999, None, None, None),  # no heartbeat halt now
        (_view(S.ROLLING_BACK, (True, St.ACTIVE, ""), (False, St.ROLLED_BACK, "")), T0, None, None, None),
        (_view(S.ROLLING_BACK, (True, St.ROLLED_BACK, ""), REST, FAILED), T0, None, S.ROLLED_BACK, None),
        (_view(S.PAUSED, CANARY_OK), T0 + 9999, None, None, None),  # waits for an operator
        (_view(S.HALTED, CANARY_OK), T0 + 9999, None, None, None),
    ],
)
def test_planner_decisions(
    view: RolloutView, now: float, mix: LabelMix | None, to: RolloutState | None, code: FailureCode | None
) -> None:
    decision = decide(view, POLICY, now, mix)
    if to is None:
        assert decision is None
        return
    assert isinstance(decision, Decision)
    assert (decision.to, decision.code) == (to, code)
    assert decision.message


def test_halt_messages_carry_the_numbers() -> None:
    shifted = decide(
        _view(S.OBSERVING, CANARY_OK, REST, seen=T0 + 590),
        POLICY,
        T0 + 600,
        LabelMix({"confused": 80, "decisive": 20}, EVEN),
    )
    assert shifted is not None
    assert "Jensen-Shannon distance 0." in shifted.message
    assert "> 0.15 (100 canary and 100 other visits)" in shifted.message
    assert shifted.details["canary_mix"] == {"confused": 80, "decisive": 20}
    thin = decide(
        _view(S.OBSERVING, CANARY_OK, REST, seen=T0 + 590), POLICY, T0 + 600, LabelMix({"decisive": 10}, EVEN)
    )
    assert thin is not None
    assert "10 classified visits at canary stores and 100 at the rest (at least 50 each)" in thin.message
    failed = decide(_view(S.CANARY, FAILED, FAILED, REST), POLICY, T0, None)
    assert failed is not None
    assert failed.message.startswith("2 of 2 canary stores failed")
    assert "sha256_mismatch x2" in failed.message


@pytest.mark.parametrize(
    ("p", "q", "expected"),
    [
        ({"a": 5}, {"a": 1}, 0.0),  # same mix, whatever the volume
        ({"a": 1}, {"b": 1}, 1.0),  # nothing in common
        ({"a": 1, "b": 1}, {"a": 1}, 0.5579),
    ],
)
def test_jensen_shannon_distance(p: dict[str, int], q: dict[str, int], expected: float) -> None:
    assert js_distance(p, q) == pytest.approx(expected, abs=1e-4)
    assert js_distance(q, p) == pytest.approx(expected, abs=1e-4)
