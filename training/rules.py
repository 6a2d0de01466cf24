"""Rule baseline: the kinematic signatures of BEHAVIORS.md as transparent rules.

Each class scores the share of its signature's criteria that a track meets;
the highest score wins, ties going to the earlier class in this order:
interested, frustrated, hesitant, confused, disinterested, decisive (the more
specific signatures first). Reported beside the model so its gain is visible.
"""

from __future__ import annotations

import numpy as np

from retail_common.taxonomy import LABELS
from training.signatures import Signature, signature

ORDER = ("interested", "frustrated", "hesitant", "confused", "disinterested", "decisive")


def criteria(s: Signature) -> dict[str, list[bool]]:
    sharp_every = s.duration_s / max(s.sharp_turns, 1)
    return {
        "decisive": [
            0.9 <= s.moving_speed_mps <= 1.4,
            s.stop_count == 1,
            2.0 <= s.longest_stop_s <= 15.0,
            s.reversals == 0,
        ],
        "disinterested": [s.moving_speed_mps >= 1.2, s.longest_stop_s <= 1.0, s.efficiency >= 0.9],
        "hesitant": [
            0.2 <= s.moving_speed_mps <= 0.6,
            s.stop_count >= 3,
            0.3 <= s.efficiency <= 0.7,
            s.extent_m <= 6.0,
        ],
        "interested": [s.near_fraction >= 0.6, s.near_seconds >= 15.0],
        "confused": [
            0.6 <= s.moving_speed_mps <= 1.2,
            s.extent_m >= 6.0,
            s.efficiency < 0.4,
            s.reversals >= 2,
            s.stop_count <= 2,
        ],
        "frustrated": [
            s.extent_m < 5.0,
            s.speed_p90 - s.speed_p10 > 0.6,
            sharp_every <= 4.0,
            s.max_abs_accel > 1.5,
        ],
    }


def scores(t: np.ndarray, xy: np.ndarray) -> dict[str, float]:
    """Per class, the share of its signature's criteria the track meets."""
    return {label: sum(c) / len(c) for label, c in criteria(signature(t, xy)).items()}


def classify(t: np.ndarray, xy: np.ndarray) -> str:
    got = scores(t, xy)
    return max(ORDER, key=lambda label: (got[label], -ORDER.index(label)))


def rule_probabilities(t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The rules' answer as a one-hot row in ``LABELS`` order (the rules give no probability)."""
    out = np.zeros(len(LABELS))
    out[LABELS.index(classify(t, xy))] = 1.0
    return out
