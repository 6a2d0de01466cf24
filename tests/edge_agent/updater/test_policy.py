"""The updater's decisions as tables: install state transitions, what to do with an assignment, and the verdict
on a freshly swapped model."""

from __future__ import annotations

import pytest

from edge_agent.updater.policy import (
    BEHAVIOR,
    DETECTOR,
    Action,
    Assignment,
    Installed,
    InstallState,
    LastFailure,
    Probation,
    RuntimeLimits,
    Step,
    TransitionError,
    Verdict,
    judge,
    next_state,
    plan,
)
from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL, FailureCode

S = InstallState

TRANSITIONS = [
    (S.PENDING, Step.START_DOWNLOAD, S.DOWNLOADING),
    (S.PENDING, Step.FROM_DISK, S.VERIFYING),
    (S.DOWNLOADING, Step.DOWNLOADED, S.VERIFYING),
    (S.VERIFYING, Step.VERIFIED, S.STAGED),
    (S.STAGED, Step.SMOKE_PASSED, S.SMOKE_TESTED),
    (S.SMOKE_TESTED, Step.SWAPPED, S.ACTIVE),
    (S.ACTIVE, Step.RUNTIME_FAILURE, S.ROLLED_BACK),
    (S.PENDING, Step.FAIL, S.FAILED),
    (S.DOWNLOADING, Step.FAIL, S.FAILED),
    (S.VERIFYING, Step.FAIL, S.FAILED),
    (S.STAGED, Step.FAIL, S.FAILED),
    (S.SMOKE_TESTED, Step.FAIL, S.FAILED),
]


@pytest.mark.parametrize(("state", "step", "expected"), TRANSITIONS)
def test_each_step_leads_to_its_state(state: InstallState, step: Step, expected: InstallState) -> None:
    assert next_state(state, step) is expected


ALLOWED = {(state, step) for state, step, _ in TRANSITIONS}


@pytest.mark.parametrize(
    ("state", "step"), [(state, step) for state in S for step in Step if (state, step) not in ALLOWED]
)
def test_every_other_step_is_refused(state: InstallState, step: Step) -> None:
    """No skipping a check (downloading straight to active), no failing an install that is over."""
    with pytest.raises(TransitionError, match=state.value):
        next_state(state, step)


SHA_A, SHA_B = "a" * 64, "b" * 64
V2 = Assignment(BEHAVIOR_MODEL, "2", SHA_B, 1000, "r1")
V1_ON_DISK = Installed(BEHAVIOR_MODEL, "1", SHA_A, 900, "behavior-classifier-1-aaaa.onnx", "r0")
V2_ON_DISK = Installed(BEHAVIOR_MODEL, "2", SHA_B, 1000, "behavior-classifier-2-bbbb.onnx", "r1")
NOW = 10_000.0
MB = 1 << 20


def failure(code: FailureCode, at: float = NOW - 10, rollout: str = "r1", sha: str = SHA_B) -> LastFailure:
    return LastFailure(rollout, sha, code, at)


PLANS = [
    # assignment, active, previous, last failure, expected
    (V2, None, None, None, Action.DOWNLOAD),
    (V2, V1_ON_DISK, None, None, Action.DOWNLOAD),
    (V2, V2_ON_DISK, V1_ON_DISK, None, Action.KEEP),
    # the rollback: version 1 is the kept previous one, no download
    (Assignment(BEHAVIOR_MODEL, "1", SHA_A, 900, "r1"), V2_ON_DISK, V1_ON_DISK, None, Action.FROM_DISK),
    # the same version with other bytes is another artifact: downloaded
    (Assignment(BEHAVIOR_MODEL, "1", "c" * 64, 900, "r1"), V2_ON_DISK, V1_ON_DISK, None, Action.DOWNLOAD),
    # a bad artifact is not tried again within its rollout ...
    (V2, V1_ON_DISK, None, failure(FailureCode.SHA256_MISMATCH), Action.REFUSED),
    (V2, V1_ON_DISK, None, failure(FailureCode.SMOKE_TEST_FAILED), Action.REFUSED),
    (V2, V1_ON_DISK, None, failure(FailureCode.RUNTIME_FAILURE), Action.REFUSED),
    # ... but a new rollout of it is, and so are other bytes
    (V2, V1_ON_DISK, None, failure(FailureCode.SHA256_MISMATCH, rollout="r0"), Action.DOWNLOAD),
    (V2, V1_ON_DISK, None, failure(FailureCode.SHA256_MISMATCH, sha=SHA_A), Action.DOWNLOAD),
    # a passing failure waits, then is tried again
    (V2, V1_ON_DISK, None, failure(FailureCode.DOWNLOAD_FAILED), Action.WAIT),
    (V2, V1_ON_DISK, None, failure(FailureCode.DISK_FULL), Action.WAIT),
    (V2, V1_ON_DISK, None, failure(FailureCode.DISK_FULL, at=NOW - 301), Action.DOWNLOAD),
    # not ours, or too large, or empty
    (Assignment("some-other-model", "1", SHA_A, 10, "r1"), None, None, None, Action.IGNORE),
    (Assignment(DETECTOR_MODEL, "1", SHA_A, 2 * MB, "r1"), None, None, None, Action.IGNORE),
    (Assignment(DETECTOR_MODEL, "1", SHA_A, 0, "r1"), None, None, None, Action.IGNORE),
]


@pytest.mark.parametrize(("assignment", "active", "previous", "last", "expected"), PLANS)
def test_plan(
    assignment: Assignment,
    active: Installed | None,
    previous: Installed | None,
    last: LastFailure | None,
    expected: Action,
) -> None:
    assert plan(assignment, active, previous, last, NOW, retry_after_s=300, max_bytes=MB) is expected


LIMITS = RuntimeLimits(probation_s=600, silent_detector_s=120, previous_people_rate=0.2)


def probation(kind: str = DETECTOR, **values: object) -> Probation:
    fields: dict[str, object] = {"seconds": 10.0, "runs": 50, "errors": 0, "non_finite": 0} | values
    return Probation(kind=kind, **fields)  # type: ignore[arg-type]


VERDICTS = [
    (probation(), Verdict.KEEP, ""),
    (probation(errors=1), Verdict.ROLLBACK, "raised 1 error"),
    (probation(BEHAVIOR, non_finite=2), Verdict.ROLLBACK, "non-finite outputs 2"),
    # an error after the probation is still one within it: the record is judged when the error happens
    (probation(seconds=601, errors=1), Verdict.ROLLBACK, "raised"),
    (probation(seconds=601), Verdict.CONFIRM, ""),
    # nobody seen for long where the previous detector saw people: a warning, never a rollback
    (probation(seconds=130, frames=1300, previous_people_rate=0.6), Verdict.WARN, "found nobody in 1300 frames"),
    (probation(seconds=130, frames=1300, previous_people_rate=0.6, warned=True), Verdict.KEEP, ""),
    (probation(seconds=700, frames=7000, previous_people_rate=0.6, warned=True), Verdict.CONFIRM, ""),
    # not long enough, or the previous saw nobody either (an empty store), or someone was seen
    (probation(seconds=60, frames=600, previous_people_rate=0.6), Verdict.KEEP, ""),
    (probation(seconds=130, frames=1300, previous_people_rate=0.05), Verdict.KEEP, ""),
    (probation(seconds=130, frames=1300, frames_with_people=3, previous_people_rate=0.6), Verdict.KEEP, ""),
    # a behaviour model is never judged by people found
    (probation(BEHAVIOR, seconds=130, frames=1300, previous_people_rate=0.6), Verdict.KEEP, ""),
]


@pytest.mark.parametrize(("record", "verdict", "reason"), VERDICTS)
def test_judge(record: Probation, verdict: Verdict, reason: str) -> None:
    got, said = judge(record, LIMITS)
    assert got is verdict
    assert reason in said
    assert bool(said) == bool(reason)
