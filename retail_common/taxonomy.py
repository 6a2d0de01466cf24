"""The six behaviours of BEHAVIORS.md and the thresholds of its operational definitions."""

from __future__ import annotations

from typing import Final

#: Class order of every model's output; never reorder (models and stored probabilities depend on it).
LABELS: Final = ("decisive", "disinterested", "hesitant", "interested", "confused", "frustrated")

STOP_SPEED_MPS: Final = 0.15  # a stop: speed below this ...
STOP_MIN_S: Final = 1.0  # ... for at least this long
REVERSAL_DEG: Final = 135.0  # a reversal: heading change above this ...
REVERSAL_TRAVEL_M: Final = 2.0  # ... followed by at least this much travel
SHARP_TURN_DEG: Final = 90.0  # a sharp turn: heading change above this ...
SHARP_TURN_WITHIN_S: Final = 1.0  # ... within this long
MIN_POINTS: Final = 3
#: a label whose calibrated probability is below this is marked uncertain (measured by ``retail-train evaluate``)
CONFIDENT_AT: Final = 0.6
