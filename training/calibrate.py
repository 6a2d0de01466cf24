"""Honest confidence: temperature scaling of the model's logits on held-out tracks, and its measure (ECE).

A network trained to near-zero loss on separable simulated classes says 1.00 for
everything, right or wrong. Temperature scaling (Guo et al., 2017) divides the
logits by one number ``T`` fitted on held-out data to minimise the negative
log-likelihood: the ranking of classes, hence every label, is unchanged, only
how sure the probabilities are. The expected calibration error (ECE) is the
gap between confidence and accuracy, averaged over confidence bins weighted by
their number of tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

T_RANGE = (0.05, 50.0)  # temperatures searched (log scale)
BINS = 10


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises held-out NLL: a log-spaced grid, then a golden-section refinement."""
    if len(labels) == 0:
        raise ValueError("temperature scaling needs held-out tracks, got none")
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    grid = np.linspace(lo, hi, 60)
    best = int(np.argmin([nll(logits, labels, float(np.exp(g))) for g in grid]))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if nll(logits, labels, float(np.exp(c))) < nll(logits, labels, float(np.exp(d))):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: tracks, mean confidence, accuracy; and the ECE over all bins."""

    edges: np.ndarray  # (BINS + 1,)
    count: np.ndarray  # (BINS,)
    confidence: np.ndarray  # (BINS,) mean top probability, nan where empty
    accuracy: np.ndarray  # (BINS,) nan where empty

    @property
    def ece(self) -> float:
        used = self.count > 0
        gap = np.abs(self.confidence[used] - self.accuracy[used])
        return float((gap * self.count[used]).sum() / max(self.count.sum(), 1))

    def table(self, title: str) -> str:
        lines = [
            f"{title}: ECE {self.ece:.3f}",
            f"{'confidence':>12s} {'tracks':>7s} {'mean conf':>9s} {'accuracy':>8s}",
        ]
        for i, n in enumerate(self.count):
            if n:
                lo, hi = self.edges[i], self.edges[i + 1]
                lines.append(f"{lo:5.1f}-{hi:<6.1f} {n:7d} {self.confidence[i]:9.3f} {self.accuracy[i]:8.3f}")
        return "\n".join(lines)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, conf, bins) / count
        acc = np.bincount(which, right.astype(float), bins) / count
    return Reliability(edges, count, mean_conf, acc)
