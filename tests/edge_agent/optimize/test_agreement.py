"""The agreement figures of INT8 against FP32 detections, and the refusal wording, as tables."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.optimize.agreement import Agreement, AgreementThresholds, compare, iou_matrix, match

A = [0.0, 0.0, 10.0, 10.0]
A_SHIFTED = [1.0, 0.0, 11.0, 10.0]  # IoU 90/110
FAR = [100.0, 100.0, 110.0, 110.0]


def boxes(*rows: list[float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (A, A, 1.0),
        (A, A_SHIFTED, 90 / 110),
        (A, FAR, 0.0),
        (A, [5.0, 5.0, 15.0, 15.0], 25 / 175),
        (A, [0.0, 0.0, 0.0, 0.0], 0.0),  # a degenerate box overlaps nothing, no division by zero
    ],
)
def test_iou(a: list[float], b: list[float], expected: float) -> None:
    assert iou_matrix(boxes(a), boxes(b))[0, 0] == pytest.approx(expected)


def test_match_pairs_each_box_once_best_first() -> None:
    # the candidate's first box overlaps both reference boxes; it goes to the better one, the other finds its own
    ref = boxes([0, 0, 10, 10], [2, 0, 12, 10])
    cand = boxes([2, 0, 12, 10], [0, 0, 10, 10])
    assert sorted((r, c) for r, c, _ in match(ref, cand, 0.5)) == [(0, 1), (1, 0)]


@pytest.mark.parametrize(
    ("reference", "candidate", "recall", "precision", "mean_iou", "differing"),
    [
        pytest.param([boxes(A)], [boxes(A)], 1.0, 1.0, 1.0, 0, id="identical"),
        pytest.param([boxes(A)], [boxes(A_SHIFTED)], 1.0, 1.0, 90 / 110, 0, id="moved-but-matched"),
        pytest.param([boxes(A, FAR)], [boxes(A)], 0.5, 1.0, 1.0, 1, id="one-missed"),
        pytest.param([boxes(A)], [boxes(A, FAR)], 1.0, 0.5, 1.0, 1, id="one-added"),
        pytest.param([boxes(A)], [boxes([6, 0, 16, 10])], 0.0, 0.0, 0.0, 1, id="below-match-iou"),
        pytest.param([boxes(A), boxes()], [boxes(A), boxes()], 1.0, 1.0, 1.0, 0, id="empty-frame-agrees"),
    ],
)
def test_compare(
    reference: list[np.ndarray],
    candidate: list[np.ndarray],
    recall: float,
    precision: float,
    mean_iou: float,
    differing: int,
) -> None:
    agreement = compare(reference, candidate, AgreementThresholds())
    assert agreement.recall == pytest.approx(recall)
    assert agreement.precision == pytest.approx(precision)
    assert agreement.mean_iou == pytest.approx(mean_iou)
    assert agreement.frames_differing == differing


@pytest.mark.parametrize(
    ("agreement", "expected"),
    [
        pytest.param(Agreement(10, 100, 100, 100, 95.0, 0), [], id="passes"),
        pytest.param(Agreement(10, 100, 91, 91, 86.45, 9), ["recall 0.910 < 0.950 (short by 0.040)"], id="recall"),
        pytest.param(
            Agreement(10, 100, 120, 100, 80.0, 20),
            ["precision 0.833 < 0.950 (short by 0.117)", "mean IoU 0.800 < 0.900 (short by 0.100)"],
            id="precision-and-iou",
        ),
        pytest.param(
            Agreement(10, 3, 3, 3, 3.0, 0),
            ["only 3 reference detection(s) on 10 held-out frame(s), at least 20 are needed to judge"],
            id="nothing-to-judge",
        ),
    ],
)
def test_shortfalls_say_by_how_much(agreement: Agreement, expected: list[str]) -> None:
    got = agreement.shortfalls(AgreementThresholds())
    assert len(got) == len(expected)
    for line, want in zip(got, expected, strict=True):
        assert line.startswith(want)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"recall": 1.5}, "recall threshold"), ({"match_iou": 0.0}, "match_iou"), ({"min_reference_boxes": 0}, "min_")],
)
def test_thresholds_out_of_range_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AgreementThresholds(**kwargs)  # type: ignore[arg-type]


def test_frame_counts_must_match() -> None:
    with pytest.raises(ValueError, match="1 reference frame"):
        compare([boxes(A)], [], AgreementThresholds())
