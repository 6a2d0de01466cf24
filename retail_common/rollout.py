"""The words a model rollout is told in, shared by central (which plans it) and the agent (which installs).

Each failure of an install or a rollout carries one of these codes and a message
in words. The codes are a closed list: central refuses a heartbeat report with a
code it does not know, so a dashboard or an alert can switch on them.
"""

from __future__ import annotations

from enum import Enum

# The registered model names central rolls out, and the role each plays on the agent.
BEHAVIOR_MODEL = "behavior-classifier"
DETECTOR_MODEL = "person-detector"
ROLLOUT_MODELS = (BEHAVIOR_MODEL, DETECTOR_MODEL)


class FailureCode(str, Enum):
    # the agent's side of an install
    DOWNLOAD_FAILED = "download_failed"  # the stream broke more often than the agent retries
    DISK_FULL = "disk_full"  # no room to stage the file
    SIZE_MISMATCH = "size_mismatch"  # the staged file is not the announced size
    SHA256_MISMATCH = "sha256_mismatch"  # the staged file is not the announced bytes
    CONTRACT_MISMATCH = "contract_mismatch"  # inputs/outputs or feature configuration not what the agent runs
    LOAD_FAILED = "load_failed"  # ONNX Runtime could not open it
    SMOKE_TEST_FAILED = "smoke_test_failed"  # wrong shapes, non-finite values, bad probabilities or too slow
    RUNTIME_FAILURE = "runtime_failure"  # failed after the swap: the agent went back to the previous model
    # central's side of a rollout
    HEARTBEAT_LOST = "heartbeat_lost"  # a canary agent stopped heartbeating
    DISTRIBUTION_SHIFT = "distribution_shift"  # canary behaviour mix moved away from the rest of the fleet
    INCONCLUSIVE = "inconclusive"  # too little data to judge the canary: paused, never passed
    ARTIFACT_UNAVAILABLE = "artifact_unavailable"  # the registry version or its ONNX file could not be had
    SUPERSEDED = "superseded"  # a newer rollout of the same model took over
    ABORTED = "aborted"  # an operator stopped it


def failure_code_problem(code: str) -> str | None:
    """Why ``code`` is not a known failure code, or None ("" means no failure)."""
    if code == "" or code in {c.value for c in FailureCode}:
        return None
    return f"failure code {code[:40]!r} is not one of {', '.join(c.value for c in FailureCode)}"
