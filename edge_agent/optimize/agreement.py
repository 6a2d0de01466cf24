"""Whether a cheaper detector (INT8) finds what the reference (FP32) finds, frame by frame: pure numpy.

The reference's boxes are taken as truth. In each frame the candidate's boxes are matched one to one with the
reference's by IoU (greedily, best pair first, a pair counting from ``match_iou``); over all frames

* **recall**: matched / reference boxes (what INT8 keeps of what FP32 found),
* **precision**: matched / candidate boxes (what INT8 adds that FP32 did not find),
* **mean IoU** of the matched pairs (how far INT8's boxes moved).

Default thresholds, and why (see :class:`AgreementThresholds`): recall and precision 0.95, mean IoU 0.90,
matching from IoU 0.5 (COCO's AP50 rule). ByteTrack bridges a person's missed detections for
``tracker.lost_track_seconds`` (4 s), so one miss in twenty frames, spread out, loses no visitor and shifts no
dwell by more than a frame; an extra box in twenty frames is what the tracker's ``minimum_consecutive_frames``
and ``min_detections`` filter out. A mean IoU of 0.90 between two boxes of one size means each edge moved by
about 2.5 % of the box: for a person 300 px tall the feet (the point zones and lines use) move about 8 px, under
a counting line's default 10 px hysteresis. INT8 of the real YOLOv8s person model on the Intel clip measured
recall 0.97 to 1.00, precision 1.00 and mean IoU 0.97 (two runs, 30 and 40 held-out frames,
``bench/int8_agreement.py``), so the thresholds leave room for a store's own footage without letting a broken
quantization through (it scores 0 recall, or boxes that no longer overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AgreementThresholds:
    """The least agreement an optimized detector needs before it may replace the reference."""

    recall: float = 0.95
    precision: float = 0.95
    mean_iou: float = 0.90
    match_iou: float = 0.5
    #: with fewer reference boxes than this on the held-out frames there is nothing to judge by
    min_reference_boxes: int = 20

    def __post_init__(self) -> None:
        for name in ("recall", "precision", "mean_iou", "match_iou"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} threshold must lie in [0, 1], got {value}")
        if self.match_iou <= 0.0:
            raise ValueError(f"match_iou must be above 0, got {self.match_iou}")
        if not 1 <= self.min_reference_boxes <= 1_000_000:
            raise ValueError(f"min_reference_boxes must lie in [1, 1000000], got {self.min_reference_boxes}")


@dataclass(frozen=True)
class Agreement:
    """How the candidate's detections agree with the reference's over a set of frames."""

    frames: int
    reference_boxes: int
    candidate_boxes: int
    matched: int
    iou_sum: float
    #: frames where the two disagree at all (a box missing, added or unmatched)
    frames_differing: int

    @property
    def recall(self) -> float:
        return self.matched / self.reference_boxes if self.reference_boxes else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.candidate_boxes if self.candidate_boxes else 1.0

    @property
    def mean_iou(self) -> float:
        return self.iou_sum / self.matched if self.matched else 0.0

    def shortfalls(self, thresholds: AgreementThresholds) -> list[str]:
        """Each figure below its threshold, with by how much; empty when the candidate may be used."""
        out = []
        if self.reference_boxes < thresholds.min_reference_boxes:
            out.append(
                f"only {self.reference_boxes} reference detection(s) on {self.frames} held-out frame(s), "
                f"at least {thresholds.min_reference_boxes} are needed to judge (sample frames with people in view)"
            )
            return out
        for name, value, least in (
            ("recall", self.recall, thresholds.recall),
            ("precision", self.precision, thresholds.precision),
            ("mean IoU", self.mean_iou, thresholds.mean_iou),
        ):
            if value < least:
                out.append(f"{name} {value:.3f} < {least:.3f} (short by {least - value:.3f})")
        return out

    def to_json(self) -> dict[str, float | int]:
        return {
            "frames": self.frames,
            "reference_boxes": self.reference_boxes,
            "candidate_boxes": self.candidate_boxes,
            "matched": self.matched,
            "frames_differing": self.frames_differing,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "mean_iou": round(self.mean_iou, 4),
        }


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), both x1 y1 x2 y2: (N, M)."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: np.ndarray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def match(reference: np.ndarray, candidate: np.ndarray, min_iou: float) -> list[tuple[int, int, float]]:
    """One-to-one pairs ``(reference index, candidate index, IoU)``, best IoU first, each at least ``min_iou``."""
    m = iou_matrix(reference, candidate)
    if not m.size:
        return []
    pairs: list[tuple[int, int, float]] = []
    used_r: set[int] = set()
    used_c: set[int] = set()
    for flat in np.argsort(-m, axis=None, kind="stable"):
        r, c = divmod(int(flat), m.shape[1])
        if m[r, c] < min_iou:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c, float(m[r, c])))
    return pairs


def compare(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], thresholds: AgreementThresholds
) -> Agreement:
    """Agreement of per-frame boxes (each an (N, 4) x1 y1 x2 y2 array) of the candidate with the reference."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference frame(s) but {len(candidate)} candidate frame(s)")
    n_ref = n_cand = n_match = differing = 0
    iou_sum = 0.0
    for ref, cand in zip(reference, candidate, strict=True):
        pairs = match(ref, cand, thresholds.match_iou)
        n_ref += len(ref)
        n_cand += len(cand)
        n_match += len(pairs)
        iou_sum += sum(p[2] for p in pairs)
        differing += int(len(pairs) != len(ref) or len(pairs) != len(cand))
    return Agreement(len(reference), n_ref, n_cand, n_match, iou_sum, differing)
