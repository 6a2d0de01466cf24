"""The shipped labeller's combination of model and rules (``edge_agent.behavior.labeller``), fitted on held-out tracks.

Its two weights were chosen on the shift suite of seed 11 among a handful of
candidates (the model alone; the rules where the model is below 0.5-0.9; the
rules for tracks under 10-14 s; ``log p + w * s`` for every track or only below
0.8-0.98, with ``w`` from 2 to 32), then confirmed on the suites of other seeds
(``retail-train evaluate --suite-seed``): below 0.9 the rules' evidence is added
at 16 nats per whole signature (a track meeting one more of four criteria of a
class gains a factor of e^4 for it). That makes the rules decide where the model
is unsure and the model break the rules' ties. The temperature of the combined
scores is fitted here, on held-out tracks below 0.9, like the model's own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from edge_agent.behavior import labeller
from edge_agent.behavior.labeller import LabellerConfig
from training.calibrate import fit_temperature
from training.simulate import LabelledTrack

logger = logging.getLogger(__name__)

RULES_BELOW = 0.9
RULE_WEIGHT = 16.0
MIN_ROWS = 30  # fewer held-out tracks below ``rules_below`` than this: the temperature is fitted on all of them


def rule_scores(tracks: Sequence[LabelledTrack]) -> np.ndarray:
    return labeller.rule_scores([(tr.points[:, 0], tr.points[:, 1:]) for tr in tracks])


def fit_combination(
    probs: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    rules_below: float = RULES_BELOW,
    rule_weight: float = RULE_WEIGHT,
) -> LabellerConfig:
    """The combination with its temperature fitted on held-out tracks (``probs``: the calibrated model's)."""
    rows = probs.max(axis=1) < rules_below
    if rows.sum() < MIN_ROWS:
        logger.warning(
            "only %d held-out tracks below p %s: the labeller's temperature is fitted on all %d",
            int(rows.sum()),
            rules_below,
            len(rows),
        )
        rows = np.ones(len(probs), dtype=bool)
    z = labeller.combined_scores(probs[rows], scores[rows], rule_weight)
    return LabellerConfig(rules_below, rule_weight, fit_temperature(z, labels[rows]))
