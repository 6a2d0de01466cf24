"""Held-out evaluation of a behaviour model against the rule baseline, on simulator seeds never trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.behavior.classifier import BehaviorClassifier
from retail_common.taxonomy import LABELS
from training import rules
from training.metrics import Report, report
from training.simulate import simulate


@dataclass(frozen=True)
class Evaluation:
    model_version: str
    model: Report
    rules: Report


def evaluate(model_path: Path | None, per_class: int, seed: int) -> Evaluation:
    tracks = list(simulate(per_class, seed))
    truth = np.array([LABELS.index(tr.label) for tr in tracks])
    classifier = BehaviorClassifier(model_path)
    probs = classifier.predict([(tr.points[:, 0], tr.points[:, 1:]) for tr in tracks])
    baseline = np.array([LABELS.index(rules.classify(tr.points[:, 0], tr.points[:, 1:])) for tr in tracks])
    return Evaluation(classifier.model_version, report(truth, probs.argmax(axis=1)), report(truth, baseline))
