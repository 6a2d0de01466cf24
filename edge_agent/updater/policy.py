"""The updater's decisions, free of gRPC, files and ONNX Runtime: install states, what to do with an assignment,
and whether a freshly swapped model stays, is rolled back, or only earns a warning.

Everything here is a function of plain values so that it is tested with tables
(``tests/edge_agent/updater/test_policy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from retail_common.models import ModelRef
from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL, FailureCode

# the role a registered model plays on the agent
BEHAVIOR = "behavior"
DETECTOR = "detector"
KIND_OF_MODEL = {BEHAVIOR_MODEL: BEHAVIOR, DETECTOR_MODEL: DETECTOR}


class InstallState(str, Enum):
    """Where the agent is with one assigned model version (the proto's ``InstallState``, without protobuf)."""

    PENDING = "pending"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    STAGED = "staged"
    SMOKE_TESTED = "smoke_tested"
    ACTIVE = "active"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class Step(str, Enum):
    """What happened to an install; :func:`next_state` says where it leads."""

    START_DOWNLOAD = "start_download"
    DOWNLOADED = "downloaded"  # every byte staged
    VERIFIED = "verified"  # size, SHA-256 and contract match
    SMOKE_PASSED = "smoke_passed"
    SWAPPED = "swapped"  # the new model serves frames
    FAIL = "fail"  # any check failed: the working model stays
    RUNTIME_FAILURE = "runtime_failure"  # failed after the swap: the previous model is back
    FROM_DISK = "from_disk"  # the version is already on disk (a rollback to the kept previous one)


_TRANSITIONS: dict[tuple[InstallState, Step], InstallState] = {
    (InstallState.PENDING, Step.START_DOWNLOAD): InstallState.DOWNLOADING,
    (InstallState.PENDING, Step.FROM_DISK): InstallState.VERIFYING,
    (InstallState.DOWNLOADING, Step.DOWNLOADED): InstallState.VERIFYING,
    (InstallState.VERIFYING, Step.VERIFIED): InstallState.STAGED,
    (InstallState.STAGED, Step.SMOKE_PASSED): InstallState.SMOKE_TESTED,
    (InstallState.SMOKE_TESTED, Step.SWAPPED): InstallState.ACTIVE,
    (InstallState.ACTIVE, Step.RUNTIME_FAILURE): InstallState.ROLLED_BACK,
}
_FAILABLE = (
    InstallState.PENDING,
    InstallState.DOWNLOADING,
    InstallState.VERIFYING,
    InstallState.STAGED,
    InstallState.SMOKE_TESTED,
)
TERMINAL = frozenset({InstallState.ACTIVE, InstallState.FAILED, InstallState.ROLLED_BACK})


class TransitionError(ValueError):
    """A step that cannot happen in the install's state (a bug in the updater, never bad input)."""


def next_state(state: InstallState, step: Step) -> InstallState:
    """The state an install reaches by ``step``; :class:`TransitionError` for an impossible one."""
    if step is Step.FAIL and state in _FAILABLE:
        return InstallState.FAILED
    try:
        return _TRANSITIONS[(state, step)]
    except KeyError:
        raise TransitionError(f"an install {state.value} cannot take the step {step.value}") from None


@dataclass(frozen=True)
class Assignment:
    """A model version central wants this store to run (from the heartbeat reply)."""

    name: str
    version: str
    sha256: str  # 64 lower-case hex digits
    size_bytes: int
    rollout_id: str

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.version)

    @property
    def kind(self) -> str | None:
        return KIND_OF_MODEL.get(self.name)


@dataclass(frozen=True)
class Installed:
    """A model version on disk that the agent ran or runs: what the manifest records."""

    name: str
    version: str
    sha256: str
    size_bytes: int
    file: str  # name within the models folder
    rollout_id: str = ""

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.version)

    def same_artifact(self, a: Assignment) -> bool:
        return (self.name, self.version, self.sha256) == (a.name, a.version, a.sha256)


@dataclass(frozen=True)
class InstallReport:
    """The latest state of one install, as the next heartbeat tells central and ``/healthz`` shows."""

    rollout_id: str
    name: str
    version: str
    sha256: str
    state: InstallState
    failure_code: FailureCode | None
    message: str
    at: float  # Unix seconds
    bytes_done: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rollout_id": self.rollout_id,
            "model": f"{self.name}/{self.version}",
            "sha256": self.sha256,
            "state": self.state.value,
            "failure_code": self.failure_code.value if self.failure_code else "",
            "message": self.message,
            "at": self.at,
            "bytes_done": self.bytes_done,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> InstallReport:
        name, _, version = str(d["model"]).partition("/")
        code = str(d["failure_code"])
        return cls(
            str(d["rollout_id"]),
            name,
            version,
            str(d["sha256"]),
            InstallState(d["state"]),
            FailureCode(code) if code else None,
            str(d["message"]),
            float(d["at"]),
            int(d["bytes_done"]),
        )


class Action(str, Enum):
    KEEP = "keep"  # already running it
    FROM_DISK = "from_disk"  # the kept previous version: verify the file on disk and swap, no download
    DOWNLOAD = "download"
    WAIT = "wait"  # failed for a passing reason (network, full disk): try again later
    REFUSED = "refused"  # failed for a reason a retry cannot fix (bad bytes, bad model): not before a new rollout
    IGNORE = "ignore"  # not a model this agent runs, or an announced size past the bound


# failures a later attempt can fix: the stream broke, the disk was full
RETRYABLE = frozenset({FailureCode.DOWNLOAD_FAILED, FailureCode.DISK_FULL})


@dataclass(frozen=True)
class LastFailure:
    """The latest failed install of one artifact (name, version, SHA-256) in one rollout."""

    rollout_id: str
    sha256: str
    code: FailureCode
    at: float  # Unix seconds


def plan(
    assignment: Assignment,
    active: Installed | None,
    previous: Installed | None,
    last_failure: LastFailure | None,
    now: float,
    retry_after_s: float,
    max_bytes: int,
) -> Action:
    """What to do with ``assignment`` given the models on disk and this artifact's last failure."""
    if assignment.kind is None or not 0 < assignment.size_bytes <= max_bytes:
        return Action.IGNORE
    if active is not None and active.same_artifact(assignment):
        return Action.KEEP
    if (
        last_failure is not None
        and last_failure.rollout_id == assignment.rollout_id
        and last_failure.sha256 == assignment.sha256
    ):
        if last_failure.code not in RETRYABLE:
            return Action.REFUSED
        if now - last_failure.at < retry_after_s:
            return Action.WAIT
    if previous is not None and previous.same_artifact(assignment):
        return Action.FROM_DISK
    return Action.DOWNLOAD


# --- after the swap ------------------------------------------------------------------------------------------


class Verdict(str, Enum):
    KEEP = "keep"  # on probation, nothing wrong so far
    CONFIRM = "confirm"  # probation passed: the previous model is let go from memory (it stays on disk)
    ROLLBACK = "rollback"
    WARN = "warn"  # a detector that sees nobody where the previous one saw people: said, not rolled back


@dataclass(frozen=True)
class Probation:
    """What a freshly swapped model did since its swap, and what the model before it did."""

    kind: str
    seconds: float  # since the swap
    runs: int  # batches (detector) or classified groups (behaviour)
    errors: int  # exceptions raised by the new model
    non_finite: int  # outputs holding NaN or infinity
    frames: int = 0  # detector: frames seen since the swap
    frames_with_people: int = 0
    previous_people_rate: float = 0.0  # detector: share of frames with a person before the swap
    warned: bool = False  # the silent-detector warning was given already


@dataclass(frozen=True)
class RuntimeLimits:
    probation_s: float
    silent_detector_s: float  # a detector that finds nobody for this long ...
    previous_people_rate: float  # ... where the previous found people in at least this share of frames


def judge(p: Probation, limits: RuntimeLimits) -> tuple[Verdict, str]:
    """The verdict on a model on probation, and the reason in words (empty for KEEP and CONFIRM)."""
    if p.errors:
        return Verdict.ROLLBACK, f"the new {p.kind} model raised {p.errors} error(s) in {p.runs + p.errors} run(s)"
    if p.non_finite:
        return Verdict.ROLLBACK, f"the new {p.kind} model gave non-finite outputs {p.non_finite} time(s)"
    if (
        p.kind == DETECTOR
        and not p.warned
        and p.frames
        and p.frames_with_people == 0
        and p.seconds >= limits.silent_detector_s
        and p.previous_people_rate >= limits.previous_people_rate
    ):
        return Verdict.WARN, (
            f"the new detector found nobody in {p.frames} frames over {p.seconds:.0f} s where the previous one "
            f"found people in {100 * p.previous_people_rate:.0f} % of frames (kept: an empty store looks the same)"
        )
    if p.seconds >= limits.probation_s:
        return Verdict.CONFIRM, ""
    return Verdict.KEEP, ""


class InstallError(Exception):
    """An install step failed; ``code`` says which check, the message what was found."""

    def __init__(self, code: FailureCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
