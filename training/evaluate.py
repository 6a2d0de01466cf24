"""Evaluation that cannot flatter the model: held-out simulator seeds, calibration, a real case, the shift suite.

- Held-out simulator seeds (never trained on), with the nuisances of real
  tracker output, beside the rule baseline.
- Calibration: the reliability of the model's probabilities on those tracks,
  before (the logits recovered from the temperature in the file's metadata) and
  after temperature scaling, with the expected calibration error (ECE).
- A real case: labelled tracks from a file (``retail-train real-case`` writes the
  six visitors of Intel's clip, tracked by a real detector), one line per track.
- The label distribution on unlabelled real pedestrians (ETH/UCY), model beside rules.
- The shift suite (:mod:`training.shifts`), which trains its own small models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.behavior.classifier import BehaviorClassifier
from retail_common.taxonomy import CONFIDENT_AT, LABELS
from training import rules
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
    after: Reliability  # as shipped, calibrated


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
    probs = classifier.predict([(tr.points[:, 0], tr.points[:, 1:]) for tr in tracks])
    baseline = np.array([LABELS.index(rules.classify(tr.points[:, 0], tr.points[:, 1:])) for tr in tracks])
    temperature = temperature_of(classifier)
    return Evaluation(
        classifier.model_version,
        temperature,
        report(truth, probs.argmax(axis=1)),
        report(truth, baseline),
        reliability(uncalibrated(probs, temperature), truth),
        reliability(probs, truth),
    )


def real_case_table(model_path: Path | None, tracks: list[LabelledTrack]) -> str:
    """One line per real track: its expected label, the model's (with its calibrated probability), the rules'."""
    classifier = BehaviorClassifier(model_path)
    probs = classifier.predict([(tr.points[:, 0], tr.points[:, 1:]) for tr in tracks])
    lines = [
        f"real case, model {classifier.model_version}: {len(tracks)} tracks",
        f"{'track':22s} {'seconds':>7s} {'expected':12s} {'model':12s} {'p':>5s} {'rules':12s}",
    ]
    right_model = right_rules = 0
    for tr, p in zip(tracks, probs, strict=True):
        t, xy = tr.points[:, 0], tr.points[:, 1:]
        label, by_rules = LABELS[int(p.argmax())], rules.classify(t, xy)
        right_model += label == tr.label
        right_rules += by_rules == tr.label
        mark = " (uncertain)" if p.max() < CONFIDENT_AT else ""
        lines.append(
            f"{tr.track_id[:22]:22s} {t[-1] - t[0]:7.1f} {tr.label:12s} {label:12s} {p.max():5.2f} {by_rules:12s}{mark}"
        )
    lines.append(f"right: model {right_model}/{len(tracks)}, rules {right_rules}/{len(tracks)}")
    return "\n".join(lines)


def distribution_table(model_path: Path | None, tracks: list[tuple[np.ndarray, np.ndarray]], title: str) -> str:
    """Share of each label on unlabelled real tracks, from the model and from the rules, and the uncertain share."""
    classifier = BehaviorClassifier(model_path)
    probs = classifier.predict(tracks)
    by_model = np.bincount(probs.argmax(axis=1), minlength=len(LABELS)) / max(len(tracks), 1)
    by_rules = np.bincount([LABELS.index(rules.classify(t, xy)) for t, xy in tracks], minlength=len(LABELS)) / max(
        len(tracks), 1
    )
    lines = [
        f"{title}: {len(tracks)} tracks, model {classifier.model_version}",
        f"{'label':14s} {'model':>6s} {'rules':>6s}",
    ]
    for label, m, r in zip(LABELS, by_model, by_rules, strict=True):
        lines.append(f"{label:14s} {m:6.1%} {r:6.1%}")
    lines.append(f"uncertain (p < {CONFIDENT_AT}): {float((probs.max(axis=1) < CONFIDENT_AT).mean()):.1%}")
    return "\n".join(lines)
