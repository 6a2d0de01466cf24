"""Evaluation that cannot flatter the model: held-out simulator seeds, calibration, a real case, the shift suite.

- Held-out simulator seeds (never trained on), with the nuisances of real
  tracker output: the model alone, the rule baseline, and the shipped labeller
  (the model with the rules' evidence where it is unsure, ``edge_agent.behavior.labeller``).
- Calibration: the reliability of the model's probabilities on those tracks,
  before (the logits recovered from the temperature in the file's metadata) and
  after temperature scaling, and of the shipped labeller's, with the expected
  calibration error (ECE).
- A real case: labelled tracks from a file (``retail-train real-case`` writes the
  six visitors of Intel's clip, tracked by a real detector), one line per track.
- The label distribution on unlabelled real pedestrians (ETH/UCY), model beside rules.
- The shift suite (:mod:`training.shifts`), which trains its own small models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.behavior import labeller, rules
from edge_agent.behavior.classifier import BehaviorClassifier
from retail_common.taxonomy import CONFIDENT_AT, LABELS
from training.calibrate import Reliability, reliability
from training.export import TEMPERATURE_KEY
from training.metrics import Report, report
from training.simulate import LabelledTrack, simulate


@dataclass(frozen=True)
class Evaluation:
    model_version: str
    temperature: float
    model: Report
    rules: Report
    before: Reliability  # the model's raw probabilities
    after: Reliability  # the model's, calibrated
    shipped: Report  # the labeller the edge runs: the model, with the rules where it is unsure
    shipped_reliability: Reliability


def temperature_of(classifier: BehaviorClassifier) -> float:
    """The temperature the model's logits are divided by (1.0 for a model exported without one)."""
    meta = classifier.session.get_modelmeta().custom_metadata_map
    return float(meta.get(TEMPERATURE_KEY, "1.0"))


def uncalibrated(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Undo temperature scaling: ``softmax(T * log p)`` is the softmax of the raw logits."""
    z = temperature * np.log(np.maximum(probs.astype(np.float64), 1e-30))
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _truth(tracks: list[LabelledTrack]) -> np.ndarray:
    return np.array([LABELS.index(tr.label) for tr in tracks], dtype=np.int64)


def evaluate(model_path: Path | None, per_class: int, seed: int) -> Evaluation:
    tracks = list(simulate(per_class, seed))
    truth = _truth(tracks)
    classifier = BehaviorClassifier(model_path)
    pairs = [(tr.points[:, 0], tr.points[:, 1:]) for tr in tracks]
    probs = classifier.predict(pairs)
    shipped = labeller.label(probs, pairs, classifier.labeller)
    baseline = np.array([LABELS.index(rules.classify(t, xy)) for t, xy in pairs])
    temperature = temperature_of(classifier)
    return Evaluation(
        classifier.model_version,
        temperature,
        report(truth, probs.argmax(axis=1)),
        report(truth, baseline),
        reliability(uncalibrated(probs, temperature), truth),
        reliability(probs, truth),
        report(truth, shipped.argmax(axis=1)),
        reliability(shipped, truth),
    )


def real_case_table(model_path: Path | None, tracks: list[LabelledTrack]) -> str:
    """One line per real track: its expected label, the model's and the shipped labeller's (each with its
    calibrated probability), the rules'; a shipped label below ``CONFIDENT_AT`` is marked uncertain."""
    classifier = BehaviorClassifier(model_path)
    pairs = [(tr.points[:, 0], tr.points[:, 1:]) for tr in tracks]
    probs = classifier.predict(pairs)
    shipped = labeller.label(probs, pairs, classifier.labeller)
    lines = [
        f"real case, model {classifier.model_version}: {len(tracks)} tracks",
        f"{'track':22s} {'seconds':>7s} {'expected':12s} {'model':12s} {'p':>5s} {'rules':12s} "
        f"{'shipped':12s} {'p':>5s}",
    ]
    right = {"model": 0, "rules": 0, "shipped": 0}
    for (t, xy), tr, p, q in zip(pairs, tracks, probs, shipped, strict=True):
        got = {"model": LABELS[int(p.argmax())], "rules": rules.classify(t, xy), "shipped": LABELS[int(q.argmax())]}
        for who, label in got.items():
            right[who] += label == tr.label
        mark = " (uncertain)" if q.max() < CONFIDENT_AT else ""
        lines.append(
            f"{tr.track_id[:22]:22s} {t[-1] - t[0]:7.1f} {tr.label:12s} {got['model']:12s} {p.max():5.2f} "
            f"{got['rules']:12s} {got['shipped']:12s} {q.max():5.2f}{mark}"
        )
    lines.append("right: " + ", ".join(f"{who} {n}/{len(tracks)}" for who, n in right.items()))
    return "\n".join(lines)


def distribution_table(model_path: Path | None, tracks: list[tuple[np.ndarray, np.ndarray]], title: str) -> str:
    """Share of each label on unlabelled real tracks, from the model and from the rules, and the uncertain share."""
    classifier = BehaviorClassifier(model_path)
    probs = classifier.predict(tracks)
    shipped = labeller.label(probs, tracks, classifier.labeller)
    n = max(len(tracks), 1)
    by_model = np.bincount(probs.argmax(axis=1), minlength=len(LABELS)) / n
    by_rules = np.bincount([LABELS.index(rules.classify(t, xy)) for t, xy in tracks], minlength=len(LABELS)) / n
    by_shipped = np.bincount(shipped.argmax(axis=1), minlength=len(LABELS)) / n
    lines = [
        f"{title}: {len(tracks)} tracks, model {classifier.model_version}",
        f"{'label':14s} {'model':>6s} {'rules':>6s} {'shipped':>7s}",
    ]
    for label, m, r, q in zip(LABELS, by_model, by_rules, by_shipped, strict=True):
        lines.append(f"{label:14s} {m:6.1%} {r:6.1%} {q:7.1%}")
    lines.append(
        f"uncertain (p < {CONFIDENT_AT}): model {float((probs.max(axis=1) < CONFIDENT_AT).mean()):.1%}, "
        f"shipped {float((shipped.max(axis=1) < CONFIDENT_AT).mean()):.1%}"
    )
    return "\n".join(lines)
