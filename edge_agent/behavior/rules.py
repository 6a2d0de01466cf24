"""Rule baseline: the kinematic signatures of BEHAVIORS.md as transparent rules.

Each class scores the share of its signature's criteria that a track meets;
the highest score wins, ties going to the earlier class in this order:
interested, frustrated, hesitant, confused, disinterested, decisive (the more
specific signatures first). Reported beside the model so its gain is visible,
and the evidence the shipped labeller (:mod:`labeller`) adds where the model is
unsure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edge_agent.behavior.signatures import Signature, signature

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
    return best(scores(t, xy))


def best(got: Mapping[str, float]) -> str:
    """The class whose criteria are met best, ties to the more specific class (``ORDER``)."""
    return max(ORDER, key=lambda label: (got[label], -ORDER.index(label)))
