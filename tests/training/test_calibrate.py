"""Temperature scaling finds how over- or under-confident logits are, and the ECE measures the difference."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import fit_temperature, reliability, softmax


def calibrated_logits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is the true class distribution: labels drawn from it (calibrated at T = 1)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 6))
    probs = softmax(logits)
    labels = np.array([rng.choice(6, p=p) for p in probs])
    return logits, labels


@pytest.mark.parametrize("sharpened", [0.4, 1.0, 3.0])
def test_the_fitted_temperature_undoes_a_known_sharpening(sharpened: float) -> None:
    logits, labels = calibrated_logits(6000, seed=1)
    assert fit_temperature(logits * sharpened, labels) == pytest.approx(sharpened, rel=0.12)


def test_calibration_error_drops_after_scaling() -> None:
    logits, labels = calibrated_logits(6000, seed=2)
    overconfident = logits * 4.0
    before = reliability(softmax(overconfident), labels)
    after = reliability(softmax(overconfident, fit_temperature(overconfident, labels)), labels)
    assert before.ece > 0.15
    assert after.ece < 0.04
    assert "ECE" in after.table("after")
    assert after.count.sum() == len(labels)


def test_no_held_out_tracks_is_refused() -> None:
    with pytest.raises(ValueError, match="held-out"):
        fit_temperature(np.zeros((0, 6)), np.zeros(0, dtype=np.int64))
