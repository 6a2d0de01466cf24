"""Image points to floor metres: a per-camera homography, or the person's box height as a ruler."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge_agent.config.models import CalibrationConfig, HomographyCalibration


class FloorMapper(Protocol):
    def to_floor(self, feet_px: np.ndarray, box_heights_px: np.ndarray) -> np.ndarray:
        """(N, 2) foot points in pixels and (N,) box heights to (N, 2) floor points in metres."""
        ...


class HomographyMapper:
    """Maps with a calibrated 3x3 image-to-floor homography (e.g. the ETH/UCY ``H.txt`` files)."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float64).reshape(3, 3)

    def to_floor(self, feet_px: np.ndarray, box_heights_px: np.ndarray) -> np.ndarray:
        pts = np.asarray(feet_px, dtype=np.float64).reshape(-1, 2)
        homog = np.hstack([pts, np.ones((len(pts), 1))]) @ self.matrix.T
        return homog[:, :2] / homog[:, 2:3]


class PersonHeightMapper:
    """Uncalibrated cameras: one person's box height is ``person_height_m``.

    The scale is the median box height over the whole track, not per frame, so a
    box that jitters or is cut off by the frame edge for a moment does not make
    the person jump. Distances are right near the person's depth and drift with
    perspective elsewhere: calibrate with a homography where that matters.
    """

    def __init__(self, person_height_m: float = 1.7) -> None:
        self.person_height_m = person_height_m

    def to_floor(self, feet_px: np.ndarray, box_heights_px: np.ndarray) -> np.ndarray:
        pts = np.asarray(feet_px, dtype=np.float64).reshape(-1, 2)
        heights = np.asarray(box_heights_px, dtype=np.float64)
        if len(pts) == 0:
            return pts
        scale = self.person_height_m / max(float(np.median(heights)), 1.0)
        return pts * scale


def build_mapper(config: CalibrationConfig) -> FloorMapper:
    if isinstance(config, HomographyCalibration):
        return HomographyMapper(np.asarray(config.matrix))
    return PersonHeightMapper(config.person_height_m)
