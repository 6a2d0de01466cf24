"""The label a finished track gets: the model's, with the rule baseline's evidence where the model is unsure.

Measured on the shift suite (``training/shifts.py``: each nuisance of real tracker
output left out of training and present in the test), the model alone is best on
tracks like the ones it was trained on and loses to the rules where real tracks
differ (visits seen in part, identity switches); the rules alone are blind where
a track meets several classes' criteria. Adding the rules' criteria as evidence
to the model's calibrated log-probabilities,

    score_c = log p_c + rule_weight * s_c,   s_c = the share of class c's criteria the track meets,

was better than both on the mean over the shifts, and at least as good as the
rules on every shift of the default suite (on one shift of one of four other
seeds it trailed them by 0.008; the model card has the tables). Tracks the model
labels with ``p >= rules_below`` keep the model's label and probabilities: the
rules cost about half a millisecond a track and rarely overturn such a label.
For the others, ``softmax(score / temperature)`` is the label's probability, the
temperature fitted on held-out tracks as the model's own is, so that "0.7" still
means right about seven times in ten.

The weights travel in the model file's metadata (``labeller``, written by
``retail-train fit``), so a new model brings the combination it was measured
with; a model without them (older files, other sources) labels alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.behavior import rules
from retail_common.taxonomy import LABELS

logger = logging.getLogger(__name__)

#: the model file's metadata entry holding :class:`LabellerConfig` as JSON
LABELLER_KEY = "labeller"


class LabellerConfigError(ValueError):
    """The model's ``labeller`` metadata is not a valid combination."""


@dataclass(frozen=True)
class LabellerConfig:
    rules_below: float  # tracks whose model probability is below this get the rules' evidence
    rule_weight: float  # nats of evidence per whole class signature met
    temperature: float  # of the combined scores, fitted on held-out tracks

    def to_json(self) -> str:
        return json.dumps(
            {"rules_below": self.rules_below, "rule_weight": self.rule_weight, "temperature": self.temperature}
        )

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> LabellerConfig | None:
        """The combination a model file carries, or None when it carries none (the model labels alone)."""
        if LABELLER_KEY not in meta:
            return None
        try:
            raw = json.loads(meta[LABELLER_KEY])
            cfg = cls(float(raw["rules_below"]), float(raw["rule_weight"]), float(raw["temperature"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise LabellerConfigError(f"labeller metadata {meta[LABELLER_KEY][:200]!r} is not valid: {e}") from e
        if not (0.0 <= cfg.rules_below <= 1.0 and 0.0 <= cfg.rule_weight <= 100.0 and 0.01 <= cfg.temperature <= 100):
            raise LabellerConfigError(
                f"labeller {cfg} out of range (rules_below in [0, 1], rule_weight in [0, 100], temperature in "
                "[0.01, 100])"
            )
        return cfg


def rule_scores(tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(N, 6) share of each class's criteria met, in ``LABELS`` order; a row of NaN for a track the rules
    cannot read (logged), which then keeps the model's answer: the rules' fault is never the model's."""
    out = np.full((len(tracks), len(LABELS)), np.nan, dtype=np.float64)
    for i, (t, xy) in enumerate(tracks):
        try:
            got = rules.scores(t, xy)
        except (ValueError, IndexError, FloatingPointError) as e:
            logger.warning("rule baseline failed on a track of %d points: %s; the model's label stands", len(t), e)
            continue
        out[i] = [got[label] for label in LABELS]
    return out


def needs_rules(probs: np.ndarray, config: LabellerConfig | None) -> np.ndarray:
    """Which rows the rules must score: those whose model label is below ``rules_below``."""
    if config is None or config.rule_weight == 0.0:
        return np.zeros(len(probs), dtype=bool)
    need: np.ndarray = probs.max(axis=1) < config.rules_below
    return need


def combined_scores(probs: np.ndarray, scores: np.ndarray, rule_weight: float) -> np.ndarray:
    """The evidence of model and rules per class: ``log p + rule_weight * s``."""
    out: np.ndarray = np.log(np.maximum(probs, 1e-6)) + rule_weight * scores
    return out


def combine(probs: np.ndarray, scores: np.ndarray, config: LabellerConfig | None) -> np.ndarray:
    """(N, 6) probabilities of the shipped labeller: the model's rows where it is sure (or no rules were run:
    ``scores`` rows of NaN), the combined ones elsewhere. The label is each row's argmax."""
    out = np.array(probs, dtype=np.float64, copy=True)
    if config is None:
        return out
    rows = needs_rules(probs, config) & ~np.isnan(scores).any(axis=1)
    if rows.any():
        z = combined_scores(out[rows], scores[rows], config.rule_weight) / config.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out[rows] = e / e.sum(axis=1, keepdims=True)
    return out


def label(
    probs: np.ndarray, tracks: Sequence[tuple[np.ndarray, np.ndarray]], config: LabellerConfig | None
) -> np.ndarray:
    """The shipped labeller on tracks whose model probabilities are known: the rules run only where needed."""
    need = needs_rules(probs, config)
    scores = np.full(probs.shape, np.nan)
    if need.any():
        scores[need] = rule_scores([tracks[i] for i in np.flatnonzero(need).tolist()])
    return combine(probs, scores, config)
