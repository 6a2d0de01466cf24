"""Classification report: per-class precision, recall, F1, macro-F1 and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retail_common.taxonomy import LABELS


@dataclass(frozen=True)
class Report:
    confusion: np.ndarray  # rows: true label, columns: predicted, in LABELS order
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]

    @property
    def macro_f1(self) -> float:
        return float(np.mean(list(self.f1.values())))

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.confusion.sum(), 1))

    def table(self, title: str) -> str:
        lines = [f"{title}: accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f}"]
        lines.append(f"{'class':14s} {'precision':>9s} {'recall':>7s} {'F1':>6s}")
        for label in LABELS:
            lines.append(f"{label:14s} {self.precision[label]:9.3f} {self.recall[label]:7.3f} {self.f1[label]:6.3f}")
        lines.append("confusion (rows true, columns predicted): " + " ".join(label[:5] for label in LABELS))
        for label, row in zip(LABELS, self.confusion, strict=True):
            lines.append(f"  {label:14s} " + " ".join(f"{int(v):5d}" for v in row))
        return "\n".join(lines)


def report(y_true: np.ndarray, y_pred: np.ndarray) -> Report:
    k = len(LABELS)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    tp = np.diag(confusion).astype(float)
    precision = tp / np.maximum(confusion.sum(axis=0), 1)
    recall = tp / np.maximum(confusion.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return Report(confusion, _by_label(precision), _by_label(recall), _by_label(f1))


def _by_label(values: np.ndarray) -> dict[str, float]:
    return {label: float(x) for label, x in zip(LABELS, values, strict=True)}


def plot_confusion(rep: Report, path: Path, title: str) -> None:
    import matplotlib  # noqa: PLC0415 - only when an image is wanted

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    norm = rep.confusion / np.maximum(rep.confusion.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=35, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            ax.text(
                j, i, str(rep.confusion[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black"
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} (macro-F1 {rep.macro_f1:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
