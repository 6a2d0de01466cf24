"""The shift suite: for each nuisance of real tracker output, train without it and test with it.

A model scored on tracks drawn like its training tracks measures how separable
the simulator makes its classes. Here each shift trains a small model on the
simulator with one nuisance switched off (or its range moved), calibrates it on
held-out tracks of the same kind, and tests it on tracks that all carry that
nuisance; the rule baseline and the shipped labeller (the model with the rules'
evidence where it is unsure, ``edge_agent.behavior.labeller``, its combination
fitted on the same held-out tracks as the temperature) are scored on the same
test tracks, side by side. Training and test tracks come from two pools of
clean motions drawn from different seeds, so no test motion was ever trained on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_agent.behavior import labeller, rules
from retail_common.taxonomy import CONFIDENT_AT, LABELS
from training.calibrate import reliability, softmax
from training.combination import rule_scores
from training.dataset import Encoded
from training.fit import FitConfig, calibrate, fit_labeller, predict_logits, split, train_model
from training.metrics import Report, report
from training.simulate import NUISANCES, CleanPool, LabelledTrack, Nuisances, simulate

logger = logging.getLogger(__name__)


_N = NUISANCES
#: name: (what the model is trained on, what it is tested on)
SHIFTS: dict[str, tuple[Nuisances, Nuisances]] = {
    "none (in distribution)": (_N, _N),
    "partial visits": (dataclasses.replace(_N, partial=0.0), dataclasses.replace(_N, partial=1.0)),
    "short tracks (8-12 s)": (dataclasses.replace(_N, short=0.0), dataclasses.replace(_N, partial=0.0, short=1.0)),
    "identity switch": (
        dataclasses.replace(_N, split=0.0),
        dataclasses.replace(_N, partial=0.0, short=0.0, split=1.0),
    ),
    "body sway": (dataclasses.replace(_N, sway=0.0), dataclasses.replace(_N, sway=1.0)),
    "slow and fast walkers": (dataclasses.replace(_N, speed=0.0), dataclasses.replace(_N, speed=1.0)),
    "metre scale +-30%": (dataclasses.replace(_N, scale=0.0), dataclasses.replace(_N, scale=1.0)),
    "dropouts 2-4 s": (dataclasses.replace(_N, dropout=0.0), dataclasses.replace(_N, dropout=1.0)),
    "sampling 2-4 Hz (trained 8-30)": (
        dataclasses.replace(_N, hz=(8.0, 30.0)),
        dataclasses.replace(_N, hz=(2.0, 4.0)),
    ),
}


@dataclass(frozen=True)
class SuiteConfig:
    seed: int = 11
    train_per_class: int = 120
    test_per_class: int = 50
    pool_per_class: int = 80  # clean motions per label in each pool (train, test)
    epochs: int = 10
    batch_size: int = 16  # small sets need many small steps
    hidden: int = 32  # small enough for nine trainings in minutes on two quiet cores
    dense: int = 32
    shifts: tuple[str, ...] = tuple(SHIFTS)


@dataclass(frozen=True)
class ShiftResult:
    name: str
    model: Report
    rules: Report
    combined: Report  # the shipped labeller: the model, with the rules' evidence where it is unsure
    ece_before: float  # the model's ECE on the shifted test tracks, before temperature scaling
    ece_after: float
    ece_shipped: float  # the shipped labeller's
    uncertain_share: float  # share of test tracks whose shipped label is below CONFIDENT_AT
    uncertain_accuracy: float  # accuracy of the shipped label on those tracks


def _labels(tracks: list[LabelledTrack]) -> np.ndarray:
    return np.array([LABELS.index(tr.label) for tr in tracks], dtype=np.int64)


def run_shift(name: str, cfg: SuiteConfig, train_pool: CleanPool, test_pool: CleanPool, k: int) -> ShiftResult:
    train_on, test_on = SHIFTS[name]
    fit_cfg = FitConfig(
        seed=cfg.seed + k,
        per_class=cfg.train_per_class,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        hidden=cfg.hidden,
        dense=cfg.dense,
    )
    train_tracks = list(simulate(cfg.train_per_class, cfg.seed + k, nuisances=train_on, source=train_pool))
    data = Encoded.from_tracks(train_tracks)
    train_idx, val_idx = split(len(data), fit_cfg.val_fraction, fit_cfg.seed)
    model = train_model(fit_cfg, data.subset(train_idx))
    calibrate(model, data.subset(val_idx))
    combination, _ = fit_labeller(fit_cfg, model, data.subset(val_idx), [train_tracks[i] for i in val_idx])
    tests = list(simulate(cfg.test_per_class, cfg.seed + 1000 + k, nuisances=test_on, source=test_pool))
    truth = _labels(tests)
    logits = predict_logits(model, Encoded.from_tracks(tests))
    probs = softmax(logits, float(model.temperature))
    scores = rule_scores(tests)
    by_rules = np.array([LABELS.index(rules.best(dict(zip(LABELS, row, strict=True)))) for row in scores])
    shipped = labeller.combine(probs, scores, combination)
    uncertain = shipped.max(axis=1) < CONFIDENT_AT
    right = shipped.argmax(axis=1) == truth
    return ShiftResult(
        name,
        report(truth, probs.argmax(axis=1)),
        report(truth, by_rules),
        report(truth, shipped.argmax(axis=1)),
        reliability(softmax(logits), truth).ece,
        reliability(probs, truth).ece,
        reliability(shipped, truth).ece,
        float(uncertain.mean()),
        float(right[uncertain].mean()) if uncertain.any() else float("nan"),
    )


def run_suite(cfg: SuiteConfig, on_shift: Callable[[ShiftResult], None] | None = None) -> list[ShiftResult]:
    unknown = set(cfg.shifts) - set(SHIFTS)
    if unknown:
        raise ValueError(f"unknown shift(s) {sorted(unknown)}; known: {', '.join(SHIFTS)}")
    train_pool = CleanPool.draw(cfg.pool_per_class, cfg.seed)
    test_pool = CleanPool.draw(cfg.pool_per_class, cfg.seed + 500_000)
    results = []
    for name in cfg.shifts:
        # seeded by the shift's place in SHIFTS, so a shift run alone gives what it gives in the whole suite
        result = run_shift(name, cfg, train_pool, test_pool, list(SHIFTS).index(name))
        logger.info("shift %s: model %.3f, rules %.3f", name, result.model.macro_f1, result.rules.macro_f1)
        results.append(result)
        if on_shift is not None:
            on_shift(result)
    return results


def suite_table(results: list[ShiftResult]) -> str:
    """Macro-F1 per shift for model, rules and the shipped labeller, calibration, then per-class F1 of each."""
    head = (
        f"{'shift':32s} {'model':>6s} {'rules':>6s} {'shipped':>7s}  {'ECE raw':>7s} {'ECE cal':>7s} "
        f"{'ECE shp':>7s} {'uncert':>6s} {'acc unc':>7s}"
    )
    lines = ["macro-F1 per shift (model trained without the nuisance, tested with it)", head]
    for r in results:
        lines.append(
            f"{r.name:32s} {r.model.macro_f1:6.3f} {r.rules.macro_f1:6.3f} {r.combined.macro_f1:7.3f}  "
            f"{r.ece_before:7.3f} {r.ece_after:7.3f} {r.ece_shipped:7.3f} {r.uncertain_share:6.1%} "
            f"{r.uncertain_accuracy:7.3f}"
        )
    mean = {k: float(np.mean([getattr(r, k).macro_f1 for r in results])) for k in ("model", "rules", "combined")}
    lines.append(f"{'mean over shifts':32s} {mean['model']:6.3f} {mean['rules']:6.3f} {mean['combined']:7.3f}")
    lines.append("")
    lines.append("per-class F1 per shift (model / rules / shipped)")
    lines.append(f"{'shift':32s} " + " ".join(f"{label[:14]:>16s}" for label in LABELS))
    for r in results:
        cells = [f"{r.model.f1[lb]:.2f}/{r.rules.f1[lb]:.2f}/{r.combined.f1[lb]:.2f}" for lb in LABELS]
        lines.append(f"{r.name:32s} " + " ".join(f"{c:>16s}" for c in cells))
    return "\n".join(lines)
