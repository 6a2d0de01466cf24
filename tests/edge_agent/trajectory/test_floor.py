"""Image points to floor metres, checked against the ETH/UCY calibrations and annotations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from edge_agent.config.models import HomographyCalibration, PersonHeightCalibration
from edge_agent.trajectory.floor import HomographyMapper, PersonHeightMapper, build_mapper


def load_h(scene: str) -> np.ndarray:
    return np.loadtxt(shared_path("data", "eth-ucy-scenes", scene, "H.txt"))


def test_hotel_homography_maps_annotated_pixels_back_to_their_world_positions() -> None:
    """ETH's H.txt maps (row, column, 1) to metres: swapping its first two columns gives our (x, y) form.

    Projected back with the inverse, every annotated world position lands on a whole pixel of the
    720x576 image, which is how the annotators clicked them: that pins down the convention.
    """
    h = load_h("hotel")
    obs = np.loadtxt(shared_path("data", "eth-ucy-scenes", "hotel", "obsmat.txt"))
    world = obs[:, [2, 4]]  # pos_x, pos_y in metres
    homog = np.hstack([world, np.ones((len(world), 1))]) @ np.linalg.inv(h).T
    row_col = homog[:, :2] / homog[:, 2:3]
    np.testing.assert_allclose(row_col, np.round(row_col), atol=1e-3)
    pixels = np.round(row_col[:, ::-1])  # (x, y), as clicked
    assert pixels[:, 0].min() >= 0
    assert pixels[:, 0].max() <= 720
    assert pixels[:, 1].min() >= 0
    assert pixels[:, 1].max() <= 576
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    mapped = HomographyMapper(h @ swap).to_floor(pixels, np.ones(len(pixels)))
    assert np.abs(mapped - world).max() < 1e-3


def test_hotel_walking_speeds_are_human() -> None:
    obs = np.loadtxt(shared_path("data", "eth-ucy-scenes", "hotel", "obsmat.txt"))
    speeds = np.hypot(obs[:, 5], obs[:, 7])
    moving = speeds[speeds > 0.3]
    assert 0.8 < float(np.median(moving)) < 1.8


def test_zara_spline_pixels_map_to_walking_speeds() -> None:
    """UCY annotations are pixels with the origin at the image centre (y up); 25 fps frame numbers."""
    h = load_h("zara01")
    lines = shared_path("data", "eth-ucy-scenes", "zara01", "annotation.vsp").read_text().splitlines()
    speeds = []
    i, n_splines = 1, int(lines[0].split()[0])
    for _ in range(n_splines):
        n = int(lines[i].split()[0])
        pts = np.array([[float(v) for v in ln.split()[:3]] for ln in lines[i + 1 : i + 1 + n]])
        i += 1 + n
        px = np.stack([pts[:, 0] + 360, 288 - pts[:, 1]], axis=1)
        floor = HomographyMapper(h).to_floor(px, np.ones(len(px)))
        dt = np.diff(pts[:, 2]) / 25.0
        ok = dt > 0
        speeds += list(np.linalg.norm(np.diff(floor, axis=0), axis=1)[ok] / dt[ok])
    median = float(np.median(speeds))
    assert 0.5 < median < 2.0, f"median walking speed {median:.2f} m/s is not human"


@pytest.mark.parametrize(
    ("feet", "heights", "expected"),
    [
        ([[170, 340]], [170], [[1.7, 3.4]]),  # 170 px tall person: 1 px = 1 cm
        ([[0, 0], [340, 0]], [340, 340], [[0, 0], [1.7, 0]]),
        # one cut-off box (half height) does not move the track: the median height is the ruler
        ([[0, 0], [170, 0], [340, 0]], [170, 85, 170], [[0, 0], [1.7, 0], [3.4, 0]]),
    ],
)
def test_person_height_scaling(feet: list[list[float]], heights: list[float], expected: list[list[float]]) -> None:
    got = PersonHeightMapper(1.7).to_floor(np.array(feet, dtype=float), np.array(heights, dtype=float))
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_build_mapper_follows_the_config() -> None:
    eye = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    assert isinstance(build_mapper(HomographyCalibration(type="homography", matrix=eye)), HomographyMapper)
    assert isinstance(build_mapper(PersonHeightCalibration()), PersonHeightMapper)
    with pytest.raises(ValueError, match="singular"):
        HomographyCalibration(type="homography", matrix=((1, 0, 0), (0, 0, 0), (0, 0, 1)))
